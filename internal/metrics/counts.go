package metrics

import "github.com/promote-ml/promote/internal/analysis"

// Counts are one track's cumulative counts since a fixed start: requests,
// errors (5xx, timeouts, connection errors), and their latencies. They are
// what the canary analysis reads.
type Counts = analysis.Counts

// Histogram is a cumulative latency histogram as Prometheus keeps one.
type Histogram = analysis.Histogram
