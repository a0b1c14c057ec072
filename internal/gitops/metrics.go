package gitops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/promote-ml/promote/internal/telemetry"
)

// Metric names. They are a contract: dashboards and alerts query them by
// these names (docs/operations.md, docs/gitops.md).
const (
	MetricPendingChanges   = "promote_gitops_pending_changes"
	MetricDeliveryFailures = "promote_gitops_delivery_failures_total"
	MetricLastCommit       = "promote_gitops_last_commit_timestamp_seconds"
)

// Metric label names.
const (
	LabelEnv    = "env"
	LabelReason = "reason"
)

// Reason is the value of the reason label of MetricDeliveryFailures: why
// an attempt to carry a live change to the branch failed, as far as the
// error tells.
type Reason string

// The reasons of a failed delivery.
const (
	// ReasonPushRejected is a remote that took the connection and refused
	// the push: a pre-receive hook, a protected branch.
	ReasonPushRejected Reason = "push_rejected"
	// ReasonAuth is a remote that refused the credentials, or said the
	// repository does not exist, as Git hosts say of a repository the
	// credentials may not see.
	ReasonAuth Reason = "auth"
	// ReasonUnreachable is a remote (or its pull-request API) that did not
	// answer: the network, DNS, a timeout, a server error.
	ReasonUnreachable Reason = "unreachable"
	// ReasonRender is an overlay that does not render or cannot take the
	// pin (ErrRender, ErrOverlay).
	ReasonRender Reason = "render"
	// ReasonConflict is a branch that other writers kept moving
	// (ErrConflict), or a pull request closed without merging.
	ReasonConflict Reason = "conflict"
	// ReasonOther is anything else: the registry, the working clone.
	ReasonOther Reason = "other"
)

// reasons lists every Reason.
var reasons = [...]Reason{ReasonPushRejected, ReasonAuth, ReasonUnreachable, ReasonRender, ReasonConflict, ReasonOther}

// errPRClosed marks a pull request closed without merging.
var errPRClosed = errors.New("closed without merging")

// errUnknownPin marks an overlay that pins an artifact the registry does
// not have (unknownPin): a conflict between the branch and the store.
var errUnknownPin = errors.New("the overlay pins an artifact the registry does not have")

// ReasonOf classifies a delivery's error. The checks go from what the
// error says most surely to least: a remote that did not answer is
// unreachable even when it happened during a push.
func ReasonOf(err error) Reason {
	var ue *plumbing.UnexpectedError
	var he *githttp.Err
	var ne net.Error
	switch {
	case errors.Is(err, ErrRender) || errors.Is(err, ErrOverlay):
		return ReasonRender
	case errors.Is(err, ErrConflict) || errors.Is(err, errPRClosed) || errors.Is(err, errUnknownPin):
		return ReasonConflict
	case errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) ||
		errors.Is(err, transport.ErrInvalidAuthMethod) || errors.Is(err, transport.ErrRepositoryNotFound):
		return ReasonAuth
	case errors.As(err, &ne) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return ReasonUnreachable
	case errors.As(err, &ue) && errors.As(ue.Err, &he) && he.StatusCode() >= http.StatusInternalServerError:
		return ReasonUnreachable
	}
	var api *apiError
	if errors.As(err, &api) {
		switch {
		case api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden:
			return ReasonAuth
		case api.Status >= http.StatusInternalServerError:
			return ReasonUnreachable
		}
	}
	var pe *pushError
	if errors.As(err, &pe) {
		return ReasonPushRejected
	}
	return ReasonOther
}

// pushError is the error of a push that the remote answered: the
// remote refused it. It reads as the error it wraps.
type pushError struct{ err error }

func (e *pushError) Error() string { return e.err.Error() }
func (e *pushError) Unwrap() error { return e.err }

// Metrics are the reconciler's metrics: what waits for its commit, what
// failed and when a commit last landed, per environment. Only a replica
// that runs the reconciler (the leader) has them; when Run returns, the
// series are removed.
type Metrics struct {
	pending  *telemetry.GaugeVec
	failures *telemetry.CounterVec
	last     *telemetry.GaugeVec

	mu sync.Mutex
	// waiting holds the changes waiting for their commit, by (model,
	// environment), as the last pass that looked at each saw it.
	waiting map[[2]string]bool
}

// NewMetrics creates the GitOps metrics on reg. When reg already holds
// them the families are shared; a family of the same name but of another
// shape is an error.
func NewMetrics(reg *telemetry.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("gitops metrics: no registry")
	}
	pending, err1 := reg.Gauge(MetricPendingChanges,
		"Changes of a live version (promotions, rollbacks) waiting for their GitOps commit, as the reconciler last saw them.",
		LabelEnv)
	failures, err2 := reg.Counter(MetricDeliveryFailures,
		"Failed attempts to commit a live change to the GitOps branch, by reason (push_rejected, auth, unreachable, render, conflict, other).",
		LabelEnv, LabelReason)
	last, err3 := reg.Gauge(MetricLastCommit,
		"Unix time at which the reconciler last recorded a live change's commit on the GitOps branch; absent until the first since the replica began to lead.",
		LabelEnv)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("gitops metrics: %w", err)
	}
	return &Metrics{pending: pending, failures: failures, last: last, waiting: map[[2]string]bool{}}, nil
}

// failed counts a failed attempt in env.
func (m *Metrics) failed(env string, err error) {
	if m == nil {
		return
	}
	m.failures.With(env, string(ReasonOf(err))).Inc()
}

// committed records that a commit landed in env at now.
func (m *Metrics) committed(env string, now time.Time) {
	if m == nil {
		return
	}
	m.last.With(env).Set(float64(now.UnixNano()) / 1e9)
}

// seen records what a pass found for the (model, environment) pairs it
// looked at: waiting says which wait for their commit. A full pass (every
// model, every environment) replaces what earlier passes saw, so that an
// alias cleared since is forgotten; a narrower one updates its own pairs
// and forgets those of its scope it no longer found.
func (m *Metrics) seen(model, env string, waiting map[[2]string]bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	envs := map[string]bool{}
	for k := range m.waiting {
		envs[k[1]] = true
		if (model == "" || k[0] == model) && (env == "" || k[1] == env) {
			delete(m.waiting, k)
		}
	}
	for k, w := range waiting {
		envs[k[1]] = true
		m.waiting[k] = w
	}
	counts := map[string]int{}
	for k, w := range m.waiting {
		if w {
			counts[k[1]]++
		}
	}
	for e := range envs {
		m.pending.With(e).Set(float64(counts[e]))
		// Every reason's series exists from 0, so that the first failure
		// is an increase Prometheus sees.
		for _, r := range reasons {
			m.failures.With(e, string(r))
		}
	}
}

// reset removes every series, as a replica that stops leading shows none.
func (m *Metrics) reset() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.waiting)
	m.pending.Reset()
	m.failures.Reset()
	m.last.Reset()
}
