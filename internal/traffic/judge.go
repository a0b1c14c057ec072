package traffic

// Judge is told of every request a splitter's canary and stable tracks
// answer, as it is counted on /metrics (the same outcome and latency:
// failed means a 5xx, a timeout or a connection error), and may take the
// canary's traffic away.
type Judge interface {
	// Canary counts one canary request; it returns true once the canary
	// must get no more traffic.
	Canary(failed bool, seconds float64) (trip bool)
	// Stable counts one stable request.
	Stable(failed bool, seconds float64)
}
