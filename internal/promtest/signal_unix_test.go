//go:build linux

package promtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSleepingProcess is no test: TestSuspend runs this test binary as a
// process of several threads (the Go runtime's) that sleeps.
func TestSleepingProcess(t *testing.T) {
	if os.Getenv("PROMTEST_SLEEP") == "" {
		t.Skip("run by TestSuspend")
	}
	time.Sleep(time.Minute)
}

// TestSuspend stops a real process with many threads (a Go program's) and
// finds every thread stopped as suspend returns, and none once resumed.
func TestSuspend(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestSleepingProcess$")
	cmd.Env = append(os.Environ(), "PROMTEST_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	tasks := fmt.Sprintf("/proc/%d/task", cmd.Process.Pid)
	// Until the runtime has started its threads.
	for end := time.Now().Add(10 * time.Second); ; {
		threads, _ := filepath.Glob(filepath.Join(tasks, "*"))
		if len(threads) > 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%s: %d threads after 10s, want more than one", tasks, len(threads))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if stopped, err := allStopped(tasks); err != nil || stopped {
		t.Fatalf("allStopped of a running process = %v, %v; want false", stopped, err)
	}
	if err := suspend(cmd.Process); err != nil {
		t.Fatal(err)
	}
	if stopped, err := allStopped(tasks); err != nil || !stopped {
		t.Fatalf("allStopped after suspend = %v, %v; want true", stopped, err)
	}
	if err := resume(cmd.Process); err != nil {
		t.Fatal(err)
	}
	// SIGCONT wakes the threads at once: they are no longer stopped, if
	// asleep again (state S).
	for range 1000 {
		if stopped, err := allStopped(tasks); err != nil || !stopped {
			return
		}
	}
	t.Fatal("allStopped after resume is still true")
}
