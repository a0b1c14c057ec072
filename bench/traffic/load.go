package traffic

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Load is an open-loop load generator: it sends GET requests to URL at a
// fixed Rate for Duration, whatever the answers take, spreading them over
// Conns keep-alive connections, each of which sends every Conns-th request
// of the schedule (as wrk2 does). wrk cannot send at a fixed rate.
//
// The latency of a request runs to the end of its response body, from the
// moment it was sent, or, when its connection was still waiting for the
// previous answer at the moment it was due, from that moment: a server that
// stalls is charged for the requests it held back (what Gil Tene calls
// coordinated omission), while the generator's own lateness is not (Go's
// timers wake to about the millisecond, and on a busy machine the generator
// may be scheduled late).
type Load struct {
	URL      string
	Rate     float64 // requests per second
	Duration time.Duration
	Conns    int
	// Timeout bounds each request (10 s when 0); a request that times out
	// counts as an error.
	Timeout time.Duration
}

// Result is what a Load run measured.
type Result struct {
	// Requests is how many requests were sent; Errors how many of them
	// failed or were answered with a status other than 200.
	Requests, Errors int
	// Held is how many requests were due while their connection was still
	// waiting for the previous answer.
	Held int
	// Elapsed runs from the first request's due time to the last answer.
	Elapsed time.Duration
	// Latencies holds every request's latency, sorted.
	Latencies []time.Duration
}

// Percentile returns the p-th percentile (0 to 100) of the latencies, by
// the nearest-rank method, or 0 without any.
func (r Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return r.Latencies[min(max(rank, 1), n)-1]
}

// Run sends the requests and returns when the last has been answered or
// ctx ends. Each connection is opened, with one request that is not
// counted, before the schedule starts.
func (l Load) Run(ctx context.Context) (Result, error) {
	switch {
	case l.Rate <= 0 || math.IsInf(l.Rate, 0) || math.IsNaN(l.Rate):
		return Result{}, fmt.Errorf("load: rate %g: want a positive number", l.Rate)
	case l.Duration <= 0:
		return Result{}, fmt.Errorf("load: duration %s: want a positive duration", l.Duration)
	case l.Conns < 1:
		return Result{}, fmt.Errorf("load: %d connections: want at least 1", l.Conns)
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	n := int(l.Rate * l.Duration.Seconds())
	interval := float64(time.Second) / l.Rate
	conns := make([]*conn, min(l.Conns, max(n, 1)))
	for i := range conns {
		c, err := newConn(ctx, l.URL, timeout)
		if err != nil {
			for _, c := range conns[:i] {
				c.close()
			}
			return Result{}, err
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for w, c := range conns {
		wg.Go(func() {
			var prevEnd time.Time
			for j := w; j < n && ctx.Err() == nil; j += len(conns) {
				due := start.Add(time.Duration(float64(j) * interval))
				if wait := time.Until(due); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				}
				from := time.Now()
				if prevEnd.After(due) {
					from = due
					c.held++
				}
				err := c.get(ctx)
				prevEnd = time.Now()
				c.lat = append(c.lat, prevEnd.Sub(from))
				if err != nil {
					c.errors++
					if c.firstErr == nil {
						c.firstErr = err
					}
				}
			}
		})
	}
	wg.Wait()
	r := Result{Elapsed: time.Since(start)}
	var firstErr error
	for _, c := range conns {
		r.Requests += len(c.lat)
		r.Errors += c.errors
		r.Held += c.held
		r.Latencies = append(r.Latencies, c.lat...)
		if firstErr == nil {
			firstErr = c.firstErr
		}
	}
	slices.Sort(r.Latencies)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("load: %d of %d requests failed, the first: %w", r.Errors, r.Requests, firstErr)
	}
	return r, nil
}

// conn is one keep-alive connection of a Load, used by one goroutine.
type conn struct {
	t        *http.Transport
	req      *http.Request
	timeout  time.Duration
	lat      []time.Duration
	errors   int
	held     int
	firstErr error
}

// newConn opens a connection to url with a request that is not counted.
func newConn(ctx context.Context, url string, timeout time.Duration) (*conn, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	c := &conn{
		t: &http.Transport{
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
		req:     req,
		timeout: timeout,
	}
	if err := c.get(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// get sends the request and reads the whole answer, which must be a 200.
func (c *conn) get(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.t.RoundTrip(c.req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("GET %s: %w", c.req.URL, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("GET %s: read the body: %w", c.req.URL, err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: status %d", c.req.URL, resp.StatusCode)
	}
	return nil
}

func (c *conn) close() { c.t.CloseIdleConnections() }
