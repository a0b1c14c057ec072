//go:build unix

package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A server killed while it started a subprocess leaves its lock to the
// child until the child's exec: the restarted server waits for it rather
// than refuse the directory in the name of a process that is gone. A lock
// whose holder runs is refused within lockBusyGrace.
func TestLockDataDirWaitsForALockItsDeadHolderLeft(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, lockFileName)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skipf("true: %v", err)
	}
	hold := func(pid int) *os.File {
		t.Helper()
		if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", pid)), 0o640); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		return f
	}

	// The killed server's ID in the file, the lock on a file description
	// of the child's, which its exec closes a moment later.
	f := hold(gone.Process.Pid)
	released := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { f.Close(); close(released) })
	unlock, err := lockDataDir(dir)
	<-released
	if err != nil {
		t.Fatalf("lockDataDir with the lock left by process %d, which is gone: %v; want it taken once released", gone.Process.Pid, err)
	}
	unlock()

	// A server that runs (this process) holds it: refused after
	// lockBusyGrace, not lockGrace.
	f = hold(os.Getpid())
	defer f.Close()
	start := time.Now()
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Errorf("lockDataDir while this process holds the lock = %v, want a refusal naming it", err)
	}
	if waited := time.Since(start); waited > lockGrace/2 {
		t.Errorf("the refusal of a lock whose holder runs took %s", waited)
	}
}

// A server killed a moment ago still runs, and holds its lock, while the
// kernel tears it down: a restart at once (kill -9, then promote serve, as
// a supervisor's script does) waits for it rather than refuse the
// directory in the name of the killed server. Here the holder is a child
// that shares the lock's file description, killed 200 ms after the
// restart began.
func TestLockDataDirWaitsForAKilledHolderToExit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "30")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Skipf("sleep: %v", err)
	}
	f.Close() // the child's copy holds the lock now
	exited := make(chan struct{})
	go func() { holder.Wait(); close(exited) }()
	t.Cleanup(func() { holder.Process.Kill(); <-exited })
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", holder.Process.Pid)), 0o640); err != nil {
		t.Fatal(err)
	}

	time.AfterFunc(200*time.Millisecond, func() { holder.Process.Kill() })
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lockDataDir while its holder, process %d, is being killed: %v; want it taken once the holder is gone", holder.Process.Pid, err)
	}
	unlock()
}
