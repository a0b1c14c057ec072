package metrics

// Histogram and Counts are identical to the types of the same names in
// package internal/analysis, which consumes them; they are declared here
// until that package lands, and then become aliases
// (type Counts = analysis.Counts).

// Histogram is a cumulative latency histogram as Prometheus keeps one:
// Counts[i] requests took at most Bounds[i] seconds; Count is all requests,
// Sum their total seconds.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// Counts are one track's cumulative counts since a fixed start: requests,
// errors (5xx, timeouts, connection errors), and their latencies.
type Counts struct {
	Requests float64
	Errors   float64
	Latency  Histogram
}
