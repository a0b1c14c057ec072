//go:build unix

package telemetry

import "syscall"

// maxFDs is process_max_fds: the soft limit on open file descriptors, or
// 0 when it cannot be read.
func maxFDs() float64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return float64(lim.Cur)
}
