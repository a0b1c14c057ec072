package cli

import (
	"os"
	"runtime/debug"
)

// DefaultGOGC is the garbage collector's target percentage that promote
// runs with when the environment sets no GOGC. Go's default, 100, starts a
// collection each time the heap doubles; promote's live heap is small (a
// few MB) while rendering overlays and compiling policies allocate tens of
// MB of short-lived garbage, so at 100 the collector runs constantly: it
// took about 40% of an in-process kustomize render (BENCHMARKS.md, GitOps).
// At 400 the heap may grow to five times the live data before a
// collection, which for promote is tens of MB. Set GOGC (and GOMEMLIMIT,
// to cap memory) to choose otherwise.
const DefaultGOGC = 400

// TuneGC applies DefaultGOGC unless GOGC is set; cmd/promote calls it
// first thing.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGOGC)
	}
}
