// Package testtool finds the programs that tests run beside Promote (a
// Prometheus server, the kustomize CLI, a Python interpreter).
package testtool

import (
	"os"
	"os/exec"
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
