package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
)

// History returns the record of q's track over the window before q.Since
// (the rollout's start), as the history tests of the analysis take it
// (analysis.History): the track's requests, errors and latency histogram
// counted from q.Since − window to q.Since, by the same templates as
// Counts (a queries file's counters too), evaluated at q.Since less
// Settle. q.At is not used. An error wraps ErrNoData when the window
// holds no request of the track.
func (p *Prometheus) History(ctx context.Context, q Query, window time.Duration) (analysis.History, error) {
	if err := q.validate(); err != nil {
		return analysis.History{}, err
	}
	if window <= 0 {
		return analysis.History{}, fmt.Errorf("history of %s: window %s is not positive", q, window)
	}
	past := q
	past.Since, past.At = q.Since.Add(-window), q.Since
	c, err := p.Counts(ctx, past)
	if err != nil {
		return analysis.History{}, fmt.Errorf("history over %s: %w", window, err)
	}
	h, err := historyOf(q, window, c)
	if err != nil || window <= RecentWindow {
		return h, err
	}
	// The last minutes too, which start the drift hold: without them
	// (an error, or no request) the hold starts from nothing.
	recent := q
	recent.Since, recent.At = q.Since.Add(-RecentWindow), q.Since
	if r, err := p.Counts(ctx, recent); err == nil && r.Requests > 0 {
		h.Recent = &r
	}
	return h, nil
}

// RecentWindow is how far back before a rollout's start the history's
// recent counts (analysis.History.Recent) reach, with which the history
// tests' drift hold starts: a rise in stable's event rate under way then
// holds them from the first canary request.
const RecentWindow = 15 * time.Minute

// History returns the totals of q's track as the splitter's counters hold
// them now, as analysis.History: everything the track served since this
// process started, whatever window says, since the counters keep no
// history, and without recent counts (History.Recent), which the
// counters cannot tell apart. Read it when the rollout starts, before its
// Mark moves any traffic. An error wraps ErrNoData while the track has no
// requests.
func (b *Builtin) History(ctx context.Context, q Query, window time.Duration) (analysis.History, error) {
	if err := q.validate(); err != nil {
		return analysis.History{}, err
	}
	if err := ctx.Err(); err != nil {
		return analysis.History{}, fmt.Errorf("history of %s: %w", q, err)
	}
	c, found, err := b.totals(q)
	if err != nil {
		return analysis.History{}, fmt.Errorf("history of %s: %w", q, err)
	}
	if !found {
		return analysis.History{}, fmt.Errorf("history of %s: no %s series: %w", q, RequestsMetric, ErrNoData)
	}
	return historyOf(q, window, c)
}

// History reads the history of q's track over window from p's source
// (Prometheus.History, Builtin.History); an error when the source keeps
// none. It is read once, when a rollout's analysis starts: neither the
// no-data limit nor the error budget applies.
func (p *Poller) History(ctx context.Context, q Query, window time.Duration) (analysis.History, error) {
	h, ok := p.source.(interface {
		History(context.Context, Query, time.Duration) (analysis.History, error)
	})
	if !ok {
		return analysis.History{}, fmt.Errorf("history of %s: %w", q, ErrNoHistory)
	}
	return h.History(ctx, q, window)
}

// ErrNoHistory is wrapped by Poller.History's error when its source reads
// no history.
var ErrNoHistory = errors.New("the metric source reads no history")

// historyOf is c as a history of q over window: an error wrapping
// ErrNoData when it counts no request.
func historyOf(q Query, window time.Duration, c Counts) (analysis.History, error) {
	if !(c.Requests > 0) {
		return analysis.History{}, fmt.Errorf("history of %s over %s: no requests: %w", q, window, ErrNoData)
	}
	return analysis.History{Requests: c.Requests, Errors: c.Errors, Latency: c.Latency}, nil
}
