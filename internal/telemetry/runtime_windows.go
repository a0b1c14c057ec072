package telemetry

// maxFDs is 0 on Windows, which has no limit of file descriptors to read;
// nor has it /proc, so that process_max_fds is not registered there.
func maxFDs() float64 { return 0 }
