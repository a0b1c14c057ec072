// Package leader elects one replica among several sharing a store to run
// the controllers: the Elector takes a lease in the store (promote.Lease),
// renews it while it runs, and hands the controllers a context that is
// cancelled the moment its leadership could be lost, carrying the term's
// fence (promote.Fence) so that the writes they make are checked against
// the lease in their own transaction.
//
// Two clocks are involved. The lease's expiry is kept by the store, on the
// database's clock where replicas share one (PostgreSQL). The Elector's own
// deadline — when it stops acting without a renewal — is measured by this
// process's monotonic clock from the start of the last renewal that
// succeeded: that renewal set the expiry at a database time no earlier than
// its start, so the deadline comes before the expiry however far the
// machines' wall clocks are apart, and a step of the wall clock (NTP) moves
// neither.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/promote-ml/promote/promote"
)

// Defaults of Config.
const (
	// DefaultName is the name of the lease that elects the controllers'
	// replica.
	DefaultName = "controllers"
	// DefaultTTL is how long a lease lasts without renewal: the longest a
	// dead leader's replica keeps the others waiting.
	DefaultTTL = 15 * time.Second
)

// ErrDeposed is the cause (context.Cause) of a term's context when the
// term ends because leadership is lost, wrapped with the reason.
var ErrDeposed = errors.New("deposed")

// Config configures an Elector.
type Config struct {
	Store promote.Store
	// Name names the lease (DefaultName).
	Name string
	// Holder identifies this replica in the lease; it must differ between
	// replicas (DefaultHolder).
	Holder string
	// TTL is the lease's time to live from each renewal (DefaultTTL).
	TTL time.Duration
	// RenewEvery is how often the lease is renewed, and how often a
	// follower tries to take it (TTL/3).
	RenewEvery time.Duration
	// Margin is how long before the lease could expire a leader that has
	// not renewed it stops: time for its controllers to notice, and for
	// clocks running at slightly different rates (TTL/5).
	Margin time.Duration
	// Now is the wall clock given to the store (time.Now), which times
	// leases by it where the database has no clock of its own (SQLite).
	Now    func() time.Time
	Logger *slog.Logger
	// OnElected runs the controllers for one term, in a goroutine of the
	// Elector's: ctx is cancelled the moment leadership could be lost
	// (its cause wraps ErrDeposed) or Run's context ends, and carries the
	// term's fence (promote.FenceFrom). It must return promptly once ctx
	// is cancelled: the Elector waits for it before another term begins
	// and before it releases the lease. When it returns while still
	// leader, the replica resigns: it releases the lease and waits a TTL
	// before it competes again. Required.
	OnElected func(ctx context.Context, fence promote.Fence)
	// OnDeposed, when set, is called after each term has ended and
	// OnElected has returned, whatever ended it.
	OnDeposed func()
	// Metrics, when set, receives MetricLeader: 0 from New on, 1 while
	// Status says the replica leads.
	Metrics *Metrics
}

// Status is where an Elector stands, for readiness reports.
type Status struct {
	Lease string `json:"lease"`
	// Self is this replica's holder name.
	Self   string `json:"self"`
	Leader bool   `json:"leader"`
	// Holder, Epoch and ExpiresAt describe the lease as last seen: this
	// replica's term while it leads, another's while it follows (empty
	// before the first look, or when no one held it).
	Holder    string    `json:"holder,omitempty"`
	Epoch     int64     `json:"epoch,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Error is the store's last failure, cleared by the next success.
	Error string `json:"error,omitempty"`
}

// Elector takes part in the election of one lease's holder.
type Elector struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	status Status
}

// DefaultHolder returns a holder name unique to this process: the host's
// name, the process ID and a random suffix (a restarted process with a
// reused PID, or a container whose host name repeats, is still another
// holder).
func DefaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "promote"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// New returns an Elector; it does nothing until Run.
func New(cfg Config) (*Elector, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Holder == "" {
		cfg.Holder = DefaultHolder()
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.RenewEvery == 0 {
		cfg.RenewEvery = cfg.TTL / 3
	}
	if cfg.Margin == 0 {
		cfg.Margin = cfg.TTL / 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if cfg.OnElected == nil {
		errs = append(errs, errors.New("no OnElected"))
	}
	switch {
	case cfg.TTL < 0:
		errs = append(errs, fmt.Errorf("lease time to live %s is negative", cfg.TTL))
	case cfg.Margin < 0 || cfg.Margin >= cfg.TTL:
		errs = append(errs, fmt.Errorf("margin %s is not between 0 and the time to live %s", cfg.Margin, cfg.TTL))
	case cfg.RenewEvery <= 0 || cfg.RenewEvery >= cfg.TTL-cfg.Margin:
		errs = append(errs, fmt.Errorf("renewal interval %s is not between 0 and the time to live %s less the margin %s",
			cfg.RenewEvery, cfg.TTL, cfg.Margin))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("leader election: %w", errors.Join(errs...))
	}
	e := &Elector{cfg: cfg, log: cfg.Logger.With(slog.String(attrLease, cfg.Name), slog.String(attrSelf, cfg.Holder))}
	e.status = Status{Lease: cfg.Name, Self: cfg.Holder}
	cfg.Metrics.set(cfg.Name, false)
	return e, nil
}

// Log attribute keys.
const (
	attrLease  = "lease"
	attrSelf   = "self"
	attrHolder = "holder"
	attrEpoch  = "epoch"
)

// Status returns where the Elector stands.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Holder returns this replica's holder name.
func (e *Elector) Holder() string { return e.cfg.Holder }

// observe records the lease as seen (zero when not seen) and the store's
// error, if any.
func (e *Elector) observe(leader bool, l promote.Lease, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status.Leader = leader
	e.cfg.Metrics.set(e.cfg.Name, leader)
	if l.Holder != "" {
		e.status.Holder, e.status.Epoch, e.status.ExpiresAt = l.Holder, l.Epoch, l.ExpiresAt
	}
	e.status.Error = ""
	switch {
	case err == nil || promote.ErrorCode(err) == promote.Conflict:
	case errors.Is(err, promote.ErrUnavailable):
		// The status is served to any token (GET /api/v1/leader): the
		// driver's words, which name the database's user and address,
		// stay in the log.
		e.status.Error = promote.ErrUnavailable.Error()
	default:
		e.status.Error = err.Error()
	}
}

// acquire takes or renews the lease in a transaction of its own, with the
// wall clock read inside it (after any wait for the transaction). On a
// Conflict the lease returned is the one that stands.
func (e *Elector) acquire(ctx context.Context) (promote.Lease, error) {
	var l promote.Lease
	err := e.cfg.Store.Update(ctx, func(tx promote.Tx) (err error) {
		l, err = tx.AcquireLease(e.cfg.Name, e.cfg.Holder, e.cfg.TTL, e.cfg.Now())
		return err
	})
	return l, err
}

// Run competes for the lease until ctx ends: a follower tries to take it
// every RenewEvery; a leader renews it as often and runs OnElected for its
// term. When ctx ends, a leader stops its term, waits for OnElected to
// return and releases the lease, so that another replica takes over at
// once. Failures of the store are logged and retried; Run returns nil when
// ctx ends.
func (e *Elector) Run(ctx context.Context) error {
	var wait time.Duration
	// failing is set while attempts fail for the store: the first failure
	// is a warning, the others repeat it only at debug level until an
	// attempt reaches the store again, so that an outage of the database
	// is one line, and its end another, however long it lasts.
	failing := false
	answered := func() {
		if failing {
			e.log.Info("leader: the database answers again")
			failing = false
		}
	}
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		// The deadline counts from before the attempt: the expiry the
		// store sets is no earlier than that.
		start := time.Now()
		deadline := start.Add(e.cfg.TTL - e.cfg.Margin)
		actx, cancel := context.WithDeadline(ctx, deadline)
		l, err := e.acquire(actx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case promote.ErrorCode(err) == promote.Conflict:
			answered()
			e.observe(false, l, nil)
			wait = e.cfg.RenewEvery
			continue
		case err != nil:
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			e.log.Log(ctx, level, "leader: taking the lease failed; retrying", slog.Duration("every", e.cfg.RenewEvery), slog.Any("error", err))
			failing = true
			e.observe(false, promote.Lease{}, err)
			wait = e.cfg.RenewEvery
			continue
		}
		answered()
		switch {
		case !time.Now().Before(deadline):
			// Took so long that the term would be over: try again,
			// which renews what was taken.
			wait = 0
			continue
		}
		wait = e.lead(ctx, l, start)
	}
}

// lead runs one term: OnElected in a goroutine, and renewals until the
// term ends. It returns how long to wait before competing again.
func (e *Elector) lead(ctx context.Context, l promote.Lease, start time.Time) time.Duration {
	fence := promote.Fence{Name: l.Name, Holder: l.Holder, Epoch: l.Epoch}
	log := e.log.With(slog.Int64(attrEpoch, l.Epoch))
	term, end := context.WithCancelCause(promote.WithFence(ctx, fence))
	defer end(nil)

	// expire ends the term at its deadline, whatever a renewal in flight
	// is doing; each renewal that succeeds moves it.
	deadline := start.Add(e.cfg.TTL - e.cfg.Margin)
	expire := time.AfterFunc(time.Until(deadline), func() {
		end(fmt.Errorf("%w: lease %q at epoch %d was not renewed in time", ErrDeposed, l.Name, l.Epoch))
	})
	defer expire.Stop()

	e.observe(true, l, nil)
	log.Info("leader: elected", slog.Time("expires", l.ExpiresAt))
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.cfg.OnElected(term, fence)
	}()

	resigned, lost := false, false
	next := start.Add(e.cfg.RenewEvery)
renew:
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-term.Done():
			t.Stop()
			break renew
		case <-done:
			t.Stop()
			resigned = true
			break renew
		case <-t.C:
		}
		start := time.Now()
		nl, err := e.acquire(term)
		switch {
		case err == nil && nl.Epoch == fence.Epoch:
			if !expire.Stop() {
				break renew // the deadline passed while renewing
			}
			deadline = start.Add(e.cfg.TTL - e.cfg.Margin)
			expire.Reset(time.Until(deadline))
			e.observe(true, nl, nil)
			next = start.Add(e.cfg.RenewEvery)
		case err == nil:
			// The lease lapsed and was taken again, in a new term.
			lost = true
			end(fmt.Errorf("%w: lease %q at epoch %d lapsed", ErrDeposed, l.Name, l.Epoch))
			break renew
		case promote.ErrorCode(err) == promote.Conflict:
			lost = true
			e.observe(false, nl, nil)
			end(fmt.Errorf("%w: %w", ErrDeposed, err))
			break renew
		case term.Err() != nil:
			break renew
		default:
			log.Warn("leader: renewing the lease failed", slog.Any("error", err),
				slog.Duration("left", time.Until(deadline)))
			e.observe(true, promote.Lease{}, err)
			next = time.Now().Add(max(e.cfg.RenewEvery/4, time.Millisecond))
		}
	}
	end(fmt.Errorf("%w: leader resigned", ErrDeposed))
	<-done
	expire.Stop()

	cause := context.Cause(term)
	switch {
	case ctx.Err() != nil:
		log.Info("leader: stopping")
	case resigned:
		log.Warn("leader: the controllers stopped; resigning")
	default:
		log.Warn("leader: leadership lost", slog.Any("cause", cause))
	}
	if !lost && (ctx.Err() != nil || resigned) {
		e.release(ctx, fence)
	}
	e.observe(false, promote.Lease{}, nil)
	if e.cfg.OnDeposed != nil {
		e.cfg.OnDeposed()
	}
	if resigned {
		return e.cfg.TTL
	}
	return 0
}

// release ends the term in the store, so that another replica need not
// wait for the lease to expire. It runs after ctx may have ended, so with
// a context of its own, bounded by the TTL: past it, release is moot.
func (e *Elector) release(ctx context.Context, f promote.Fence) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.TTL)
	defer cancel()
	err := e.cfg.Store.Update(rctx, func(tx promote.Tx) error {
		return tx.ReleaseLease(f.Name, f.Holder, f.Epoch, e.cfg.Now())
	})
	if err != nil {
		e.log.Warn("leader: releasing the lease failed; another replica takes it when it expires",
			slog.Int64(attrEpoch, f.Epoch), slog.Any("error", err))
		return
	}
	e.log.Info("leader: released the lease", slog.Int64(attrEpoch, f.Epoch))
}
