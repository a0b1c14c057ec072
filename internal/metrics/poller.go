package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Defaults of PollerOptions.
const (
	DefaultNoDataLimit = 5 * time.Minute
	DefaultErrorBudget = 3
)

// ErrBudgetExhausted is wrapped by a StatusFailed reading's error: more
// consecutive queries failed than the error budget allows.
var ErrBudgetExhausted = errors.New("query error budget exhausted")

// Status is the outcome of a Reading.
type Status string

// The outcomes of a reading. StatusWaiting and StatusRetrying are
// inconclusive for now: read again at the next interval. StatusNoData and
// StatusFailed are for the controller to act on.
const (
	// StatusOK means Counts hold requests.
	StatusOK Status = "ok"
	// StatusWaiting means no data yet (no series, NaN, or no requests),
	// for no longer than the no-data limit.
	StatusWaiting Status = "waiting"
	// StatusRetrying means the query failed, within the error budget.
	StatusRetrying Status = "retrying"
	// StatusNoData means no data for longer than the no-data limit. It is
	// inconclusive, not a failure of the canary: nothing was measured.
	StatusNoData Status = "no_data"
	// StatusFailed means more consecutive queries failed than the error
	// budget allows; Err wraps ErrBudgetExhausted and the last error.
	StatusFailed Status = "failed"
)

// Reading is the outcome of one read of a source.
type Reading struct {
	// Status says what the reading is.
	Status Status
	// Counts are the source's counts when Status is StatusOK (or
	// StatusWaiting with zero requests).
	Counts Counts
	// Err says why Status is not StatusOK: it wraps ErrNoData for
	// StatusWaiting and StatusNoData, ErrBudgetExhausted for StatusFailed,
	// and the query's error for StatusRetrying.
	Err error
}

// PollerOptions configures a Poller.
type PollerOptions struct {
	// NoDataLimit is how long a query may go without data, counted from
	// its Since (or from the last reading whose requests grew, if one did),
	// before a reading is StatusNoData rather than StatusWaiting or
	// StatusOK; DefaultNoDataLimit when 0. Counts that stop growing are no
	// data: the traffic, or the scrapes, stopped.
	NoDataLimit time.Duration
	// ErrorBudget is how many consecutive failed queries are tolerated
	// (StatusRetrying); one more is StatusFailed. DefaultErrorBudget when 0.
	ErrorBudget int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Poller reads a source with a rollout's policy: no data is inconclusive,
// waited for up to a limit, and query errors are tolerated up to a budget of
// consecutive errors. It keeps, per query, when data was last seen and how
// many errors ran in a row: call Forget when a query's rollout ends.
//
// A Poller is safe for concurrent use.
type Poller struct {
	source Source
	limit  time.Duration
	budget int
	now    func() time.Time

	mu    sync.Mutex
	state map[queryKey]*pollState
}

// pollState is what a Poller remembers about one query.
type pollState struct {
	lastData time.Time
	errors   int
	// lastRaw is the requests of the last reading as the source gave
	// them: a reading above it is new data, even below high (after an
	// extrapolation that overshot).
	lastRaw float64
	// high is the highest count of each kind read so far: counts since a
	// fixed start never go down, but Prometheus' increase() extrapolates
	// to the window's edges, so that a later answer can be a little
	// lower than an earlier one. Readings are kept monotone.
	high Counts
}

// monotone returns c with no count below the highest read so far for the
// same query, and records the new highs. A histogram whose bucket bounds
// changed starts afresh.
func (st *pollState) monotone(c Counts) Counts {
	h := &st.high
	c.Requests = max(c.Requests, h.Requests)
	c.Errors = max(c.Errors, h.Errors)
	if slices.Equal(c.Latency.Bounds, h.Latency.Bounds) && len(c.Latency.Counts) == len(h.Latency.Counts) {
		counts := slices.Clone(c.Latency.Counts)
		for i := range counts {
			counts[i] = max(counts[i], h.Latency.Counts[i])
		}
		c.Latency.Counts = counts
		c.Latency.Count = max(c.Latency.Count, h.Latency.Count)
		c.Latency.Sum = max(c.Latency.Sum, h.Latency.Sum)
	}
	// A bucket never holds more than the histogram's count, nor the
	// errors more than the requests; and since the last reading, neither
	// grew by more than what holds them (separate queries extrapolate
	// separately).
	for i := range c.Latency.Counts {
		c.Latency.Count = max(c.Latency.Count, c.Latency.Counts[i])
		if i < len(h.Latency.Counts) && len(h.Latency.Counts) == len(c.Latency.Counts) {
			c.Latency.Count = max(c.Latency.Count, h.Latency.Count+c.Latency.Counts[i]-h.Latency.Counts[i])
		}
	}
	c.Requests = max(c.Requests, c.Errors, h.Requests+c.Errors-h.Errors)
	st.high = Counts{Requests: c.Requests, Errors: c.Errors, Latency: Histogram{Bounds: slices.Clone(c.Latency.Bounds),
		Counts: slices.Clone(c.Latency.Counts), Count: c.Latency.Count, Sum: c.Latency.Sum}}
	return c
}

// NewPoller returns a poller of source.
func NewPoller(source Source, opts PollerOptions) (*Poller, error) {
	var errs []error
	if source == nil {
		errs = append(errs, errors.New("source is nil"))
	}
	if opts.NoDataLimit < 0 {
		errs = append(errs, fmt.Errorf("no-data limit %s is negative", opts.NoDataLimit))
	}
	if opts.ErrorBudget < 0 {
		errs = append(errs, fmt.Errorf("error budget %d is negative", opts.ErrorBudget))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("poller: %w", err)
	}
	p := &Poller{source: source, limit: opts.NoDataLimit, budget: opts.ErrorBudget, now: opts.Now, state: map[queryKey]*pollState{}}
	if p.limit == 0 {
		p.limit = DefaultNoDataLimit
	}
	if p.budget == 0 {
		p.budget = DefaultErrorBudget
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Read reads q's counts once and classifies the outcome. Zero requests are
// no data: there is nothing to analyse. A query cut short because ctx ended
// is StatusRetrying and not counted against the budget.
func (p *Poller) Read(ctx context.Context, q Query) Reading {
	counts, err := p.source.Counts(ctx, q)
	now := p.now()

	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state[q.key()]
	if st == nil {
		st = &pollState{}
		p.state[q.key()] = st
	}

	switch {
	case err == nil && counts.Requests > 0:
		// The counts run from q.Since: data is requests counted since the
		// last reading. Counts that stopped growing (the traffic, or a
		// scrape, stopped) are the same as no data once past the limit.
		st.errors = 0
		if counts.Requests > st.lastRaw || st.lastData.IsZero() {
			st.lastData = now
		}
		st.lastRaw = counts.Requests
		counts = st.monotone(counts)
		if waited := now.Sub(st.lastData); waited > p.limit {
			return Reading{Status: StatusNoData, Counts: counts,
				Err: fmt.Errorf("no new requests for %s in %s (limit %s): %w", q, waited.Round(time.Second), p.limit, ErrNoData)}
		}
		return Reading{Status: StatusOK, Counts: counts}
	case err == nil || errors.Is(err, ErrNoData):
		st.errors = 0
		if err == nil {
			err = fmt.Errorf("no requests for %s: %w", q, ErrNoData)
		}
		from := q.Since
		if st.lastData.After(from) {
			from = st.lastData
		}
		if waited := now.Sub(from); waited > p.limit {
			return Reading{Status: StatusNoData, Counts: counts,
				Err: fmt.Errorf("no data for %s (limit %s): %w", waited.Round(time.Second), p.limit, err)}
		}
		return Reading{Status: StatusWaiting, Counts: counts, Err: err}
	case ctx.Err() != nil:
		return Reading{Status: StatusRetrying, Err: err}
	}
	st.errors++
	if st.errors > p.budget {
		return Reading{Status: StatusFailed,
			Err: fmt.Errorf("%w: %d consecutive failed queries (budget %d), the last: %w", ErrBudgetExhausted, st.errors, p.budget, err)}
	}
	return Reading{Status: StatusRetrying,
		Err: fmt.Errorf("failed query %d of %d tolerated in a row: %w", st.errors, p.budget, err)}
}

// Forget drops what p remembers about q, and what its source does (a
// Builtin's baseline).
func (p *Poller) Forget(q Query) {
	p.mu.Lock()
	delete(p.state, q.key())
	p.mu.Unlock()
	if f, ok := p.source.(interface{ Forget(Query) }); ok {
		f.Forget(q)
	}
}

// LooksBack reports whether p's source counts everything since a Query's
// Since, whichever process served the requests (Prometheus), rather than
// only what this process counted (Builtin).
func (p *Poller) LooksBack() bool {
	lb, ok := p.source.(interface{ LooksBack() bool })
	return ok && lb.LooksBack()
}

// Mark has a source that counts from a baseline (a Builtin) take q's now,
// so that what is served from now on counts; other sources need none.
func (p *Poller) Mark(ctx context.Context, q Query) error {
	if m, ok := p.source.(interface {
		Mark(context.Context, Query) error
	}); ok {
		return m.Mark(ctx, q)
	}
	return nil
}
