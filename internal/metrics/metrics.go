// Package metrics reads the counts a canary analysis needs (requests, errors
// and a latency histogram per track of a model in an environment, since the
// rollout started) from two kinds of source: Builtin, the traffic splitter's
// own counters in this process, and Prometheus, PromQL over its HTTP API with
// templates that users may point at their own metrics (Istio, nginx, …).
//
// A Poller wraps a source with the policy a rollout needs: no data is
// inconclusive (wait, up to a limit), and query errors are tolerated up to a
// budget of consecutive errors; its outcomes are typed (Reading, Status).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The splitter's metrics (package internal/traffic). Their names, labels and
// label values are the splitter's contract with this package: Builtin filters
// on them and the default Prometheus templates query them. Change them
// together.
const (
	// RequestsMetric counts the requests the splitter answered, by
	// LabelModel, LabelEnv, LabelTrack and LabelOutcome.
	RequestsMetric = "promote_traffic_requests_total"
	// DurationMetric is the histogram of the splitter's request durations in
	// seconds, by LabelModel, LabelEnv and LabelTrack.
	DurationMetric = "promote_traffic_request_duration_seconds"
)

// Labels of the splitter's metrics.
const (
	LabelModel   = "model"
	LabelEnv     = "env"
	LabelTrack   = "track"
	LabelOutcome = "outcome"
)

// Tracks the splitter sends requests to (values of LabelTrack).
const (
	TrackStable = "stable"
	TrackCanary = "canary"
	TrackShadow = "shadow"
)

// Outcomes of a request (values of LabelOutcome). OutcomeServerError,
// OutcomeTimeout, OutcomeConnectionError and OutcomeMismatch (a shadow's
// answer that differs from stable's, counted on the shadow track only) are
// the errors an analysis counts; a client's error is the client's fault,
// not the model's.
const (
	OutcomeOK              = "ok"
	OutcomeClientError     = "client_error"
	OutcomeServerError     = "server_error"
	OutcomeTimeout         = "timeout"
	OutcomeConnectionError = "connection_error"
	OutcomeMismatch        = "mismatch"
)

// isErrorOutcome reports whether a request with this outcome counts as an
// error for the analysis.
func isErrorOutcome(outcome string) bool {
	switch outcome {
	case OutcomeServerError, OutcomeTimeout, OutcomeConnectionError, OutcomeMismatch:
		return true
	}
	return false
}

// ErrNoData is wrapped by a source's error when there is nothing to count
// yet: the series do not exist (no traffic has reached the track, or
// Prometheus has not scraped it yet) or a query's result is NaN. It is
// inconclusive, never zero: a Poller waits for data, up to a limit.
var ErrNoData = errors.New("no data")

// Query asks for one track's counts accumulated since a fixed start.
type Query struct {
	// Model and Env name the model and environment, as the splitter labels
	// them.
	Model, Env string
	// Track is TrackStable, TrackCanary or TrackShadow (templates of custom
	// metrics may map other values).
	Track string
	// Since is the start of the counting, normally the rollout's start.
	Since time.Time
	// At, when set, is the moment the counts are read at: one look's
	// reads of both tracks give the same At, so that a source that reads
	// snapshots (Prometheus' scrapes) reads both in the same one. Zero is
	// the source's now.
	At time.Time
}

// String describes q for messages.
func (q Query) String() string {
	return fmt.Sprintf("model %q env %q track %q since %s", q.Model, q.Env, q.Track, q.Since.UTC().Format(time.RFC3339))
}

// validate reports every problem of q at once.
func (q Query) validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{{"model", q.Model}, {"env", q.Env}, {"track", q.Track}} {
		switch {
		case f.value == "":
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		case !utf8.ValidString(f.value):
			errs = append(errs, fmt.Errorf("%s %q is not valid UTF-8", f.name, f.value))
		}
	}
	if q.Since.IsZero() {
		errs = append(errs, errors.New("since is not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid query: %w", err)
	}
	return nil
}

// queryKey identifies a Query in a map: time.Time's == compares locations
// and monotonic readings too, so the instant is kept as nanoseconds.
type queryKey struct {
	model, env, track string
	since             int64
}

func (q Query) key() queryKey {
	return queryKey{model: q.Model, env: q.Env, track: q.Track, since: q.Since.UnixNano()}
}

// Source returns one track's counts accumulated since q.Since. An error
// wrapping ErrNoData means there is nothing to count yet.
type Source interface {
	Counts(ctx context.Context, q Query) (Counts, error)
}

var (
	_ Source = (*Builtin)(nil)
	_ Source = (*Prometheus)(nil)
)
