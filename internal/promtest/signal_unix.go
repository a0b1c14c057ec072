//go:build unix

package promtest

import (
	"os"
	"syscall"
)

// suspend stops p (SIGSTOP) until resume.
func suspend(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }

// resume continues p (SIGCONT).
func resume(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
