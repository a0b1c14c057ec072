//go:build unix

package promtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// suspend stops p (SIGSTOP) until resume, and returns once p is stopped.
// kill(2) returns when the signal is queued: until one of p's threads
// takes it and stops the others, they go on running, and on a busy
// machine a query sent just after the signal was seen answered a
// millisecond later. Where /proc shows p's threads (Linux), suspend waits
// until each of them is stopped.
func suspend(p *os.Process) error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	tasks := fmt.Sprintf("/proc/%d/task", p.Pid)
	if _, err := os.Stat(tasks); err != nil {
		return nil // no /proc: nothing to wait by
	}
	end := time.Now().Add(10 * time.Second)
	for {
		done, err := allStopped(tasks)
		if err != nil || done {
			return err
		}
		if time.Now().After(end) {
			return fmt.Errorf("process %d not stopped 10s after SIGSTOP", p.Pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every thread listed in tasks, a
// /proc/PID/task directory, is stopped: state T (or t, stopped by a
// tracer) in its stat file, whose third field the state is. The command
// name before it, in parentheses, may hold spaces and parentheses itself:
// the state follows the last ')'.
func allStopped(tasks string) (bool, error) {
	stats, err := filepath.Glob(filepath.Join(tasks, "*", "stat"))
	if err != nil {
		return false, err
	}
	if len(stats) == 0 {
		return false, fmt.Errorf("no threads in %s", tasks)
	}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // a thread that ended meanwhile
		}
		if err != nil {
			return false, err
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("%s: no state in %q", f, b)
		}
		if s := b[i+2]; s != 'T' && s != 't' {
			return false, nil
		}
	}
	return true, nil
}

// resume continues p (SIGCONT).
func resume(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
