// Package testtool serves tests: it finds the programs they run beside
// Promote (a Prometheus server, the kustomize CLI, a Python interpreter),
// and holds a buffer several goroutines may share and a clock a test moves.
package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Find returns the path of the program a test needs: $env when set, else
// name on PATH. Without either the test is skipped, except with CI set,
// where it fails: CI runs every test, and .ci/run provides the programs.
// install says how to get the program, for the message.
func Find(tb testing.TB, env, name, install string) string {
	tb.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s is not set and %s is not on PATH: in CI this test must run (.ci/run provides it)", env, name)
	}
	tb.Skipf("%s is not set and %s is not on PATH: %s to run this test", env, name, install)
	return ""
}

// Buffer is a bytes.Buffer that a logger, a server's goroutines and a test
// may write and read at once.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
