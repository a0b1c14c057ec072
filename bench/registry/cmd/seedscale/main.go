// Command seedscale builds a large installation's store for the scale
// benchmark (bench/registry/scale.sh) through the registry service — the
// code `promote serve` runs, not SQL — with bench/registry.SeedScale:
// models, versions, promotions in every state, rollouts with samples and
// holds; then it tops the audit log up to -audit events with the events of
// a busy registry (bench/registry.AuditEvents), appended through the
// store's AppendAudit as seedaudit does. It prints what it made and how
// fast.
//
//	seedscale -data DIR -models 300 -versions 67 -audit 100000
//	seedscale -database postgres://… -models 300
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/promote-ml/promote/bench/internal/storeflag"
	bench "github.com/promote-ml/promote/bench/registry"
)

func main() { bench.Main("seedscale", run) }

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("seedscale", flag.ContinueOnError)
	target := storeflag.Add(fl)
	var sc bench.Scale
	fl.IntVar(&sc.Models, "models", 300, "models to create")
	fl.IntVar(&sc.Versions, "versions", 67, "versions per model (at least 12)")
	fl.IntVar(&sc.Rolling, "rolling", 30, "models left with a canary in progress")
	fl.IntVar(&sc.Samples, "samples", 20, "samples per rollout")
	fl.IntVar(&sc.Workers, "workers", 4, "models seeded at once")
	auditTotal := fl.Int("audit", 100_000, "top the audit log up to this many events")
	if err := fl.Parse(args); err != nil {
		return err
	}
	store, err := target.Open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	svc, err := bench.ScaleService(store)
	if err != nil {
		return err
	}
	start := time.Now()
	last := start
	err = bench.SeedScale(ctx, svc, sc, func(done int) {
		if now := time.Now(); now.Sub(last) >= 5*time.Second || done == sc.Models {
			last = now
			fmt.Fprintf(os.Stderr, "  %d of %d models seeded (%.1fs)\n", done, sc.Models, now.Sub(start).Seconds())
		}
	})
	if err != nil {
		return err
	}
	seq, _, err := store.AuditHead(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d models, %d versions each, through the service in %.1fs: %d audit events\n",
		sc.Models, sc.Versions+1, time.Since(start).Seconds(), seq)
	if more := *auditTotal - int(seq); more > 0 {
		gen, err := bench.NewAuditEvents(sc.Models, time.Now())
		if err != nil {
			return err
		}
		t := time.Now()
		if err := bench.SeedAudit(ctx, store, gen, more, 5000, nil); err != nil {
			return err
		}
		fmt.Printf("appended %d more audit events in %.1fs\n", more, time.Since(t).Seconds())
	}
	return nil
}
