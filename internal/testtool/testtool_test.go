package testtool

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestFindPrefersTheVariable(t *testing.T) {
	t.Setenv("PROMOTE_TESTTOOL_X", "/opt/x/bin/x")
	if got := Find(t, "PROMOTE_TESTTOOL_X", "sh", "install x"); got != "/opt/x/bin/x" {
		t.Errorf("Find = %q, want the variable's path", got)
	}
}

func TestFindOnPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "promote-testtool-probe")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv("PROMOTE_TESTTOOL_X", "")
	if got := Find(t, "PROMOTE_TESTTOOL_X", "promote-testtool-probe", "install it"); got != bin {
		t.Errorf("Find = %q, want %q", got, bin)
	}
}

// recorder records how Find ends a test that lacks the program; like
// testing's, its Fatalf and Skipf end the test's function (here by a
// panic that ends recovers).
type recorder struct {
	testing.TB
	fatal, skip bool
}

type ended struct{}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.fatal = true; panic(ended{}) }
func (r *recorder) Skipf(string, ...any)  { r.skip = true; panic(ended{}) }

// run calls f with r as the test, as testing would.
func (r *recorder) run(f func(testing.TB)) {
	defer func() {
		if v := recover(); v != nil && v != (ended{}) {
			panic(v)
		}
	}()
	f(r)
}

func TestFindMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("PROMOTE_TESTTOOL_X", "")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		r.run(func(tb testing.TB) { Find(tb, "PROMOTE_TESTTOOL_X", "promote-testtool-missing", "install it") })
		if r.fatal != (ci != "") || r.skip != (ci == "") {
			t.Errorf("CI=%q: fatal %v, skipped %v; want a failure in CI, a skip elsewhere", ci, r.fatal, r.skip)
		}
	}
}

// TestBuffer writes from several goroutines while reading (run with -race
// to check the lock, as .ci/run does).
func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Errorf("len(String()) = %d after 400 writes of 2 bytes, want 800", got)
	}
}
