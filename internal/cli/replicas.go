package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/promote-ml/promote/internal/autopromote"
	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/leader"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

// leaseConfig is how the replicas of promote serve elect the one that runs
// the controllers (docs/leader-election.md).
type leaseConfig struct {
	Name  string        // the lease's name
	TTL   time.Duration // how long the lease lasts without renewal
	Renew time.Duration // how often the leader renews it (0: TTL/3)
	// badEnv names the PROMOTE_LEASE_* durations that do not parse.
	badEnv []error
}

func defaultLeaseConfig() leaseConfig {
	return leaseConfig{Name: leader.DefaultName, TTL: leader.DefaultTTL}
}

// env applies PROMOTE_LEASE_* variables.
func (c *leaseConfig) env(getenv func(string) string) {
	if v := getenv("PROMOTE_LEASE_NAME"); v != "" {
		c.Name = v
	}
	c.badEnv = envDurations(getenv, map[string]*time.Duration{"PROMOTE_LEASE_TTL": &c.TTL, "PROMOTE_LEASE_RENEW": &c.Renew})
}

func (c *leaseConfig) flags(fl *pflag.FlagSet) {
	fl.StringVar(&c.Name, "lease-name", c.Name, "`NAME` of the lease that elects the replica running the controllers; replicas sharing a database and a GitOps repository must agree on it ($PROMOTE_LEASE_NAME)")
	fl.DurationVar(&c.TTL, "lease-ttl", c.TTL, "how long the leader's lease lasts without renewal: the longest the other replicas wait for a dead leader ($PROMOTE_LEASE_TTL)")
	fl.DurationVar(&c.Renew, "lease-renew", c.Renew, "how often the leader renews its lease, and a follower tries to take it (default: a third of --lease-ttl; $PROMOTE_LEASE_RENEW)")
}

// problems lists what is wrong, in the terms of the flags.
func (c *leaseConfig) problems() []error {
	errs := slices.Clone(c.badEnv)
	if c.Name == "" {
		errs = append(errs, errors.New("--lease-name is empty"))
	}
	switch {
	case c.TTL <= 0:
		errs = append(errs, errors.New("--lease-ttl: want a positive duration such as 15s"))
	case c.TTL < minLeaseTTL:
		errs = append(errs, fmt.Errorf("--lease-ttl %s: want at least %s; a lease renews every third of it, over the database", c.TTL, minLeaseTTL))
	case c.Renew < 0 || c.Renew >= c.TTL-c.TTL/5:
		errs = append(errs, fmt.Errorf("--lease-renew %s: want a positive duration under four fifths of --lease-ttl %s", c.Renew, c.TTL))
	default:
		errs = append(errs, tooShort("--lease-renew", c.Renew)...)
	}
	return errs
}

// minLeaseTTL is the shortest lease --lease-ttl accepts.
const minLeaseTTL = time.Second

// auditCuePoll is how often the leader looks in the audit log for the
// changes made through other replicas that its controllers act on.
const auditCuePoll = time.Second

// controllers are what the elected replica runs: the GitOps reconciler,
// the rollout controller and the webhook dispatcher, any of which may be
// nil. The other replicas
// follow: their traffic layer applies the rollouts' stored weights.
type controllers struct {
	svc  *registry.Service
	rec  *gitops.Reconciler
	ctl  *rollout.Controller
	auto *autopromote.Controller
	disp *notify.Dispatcher
	log  *slog.Logger
	// shared is set when other replicas may write to the store
	// (PostgreSQL): the leader then watches the audit log for their
	// changes. A SQLite store has one server, whose hooks cue its
	// controllers of everything.
	shared bool

	// follow runs ctl.Follow while the replica does not lead.
	mu       sync.Mutex
	parent   context.Context
	stop     context.CancelFunc
	followed chan struct{}
}

// elector returns the elector through which the replica competes to run
// c, which sets m (promote_leader); run runs it.
func (c *controllers) elector(store promote.Store, cfg leaseConfig, m *leader.Metrics) (*leader.Elector, error) {
	return leader.New(leader.Config{Store: store, Name: cfg.Name, TTL: cfg.TTL, RenewEvery: cfg.Renew, Logger: c.log,
		OnElected: c.lead, OnDeposed: c.deposed, Metrics: m})
}

// run follows the leader, and competes through el to lead, until ctx
// ends; it returns once the controllers and the following have stopped.
func (c *controllers) run(ctx context.Context, el *leader.Elector) error {
	c.mu.Lock()
	c.parent = ctx
	c.mu.Unlock()
	c.log.Info("replica: follower: competing for the lease", slog.String("self", el.Holder()))
	c.follow()
	defer c.halt()
	return el.Run(ctx)
}

// lead runs the controllers for one term: until ctx ends (the term ended)
// or they stop. Every registry call they make uses ctx, which carries the
// term's fence.
func (c *controllers) lead(ctx context.Context, fence promote.Fence) {
	c.halt()
	c.log.Info("replica: leader: running the controllers", slog.String("lease", fence.Name), slog.Int64("epoch", fence.Epoch))
	g, gctx := errgroup.WithContext(ctx)
	if c.rec != nil {
		g.Go(func() error { return c.rec.Run(gctx) })
	}
	if c.shared && (c.rec != nil || c.auto != nil) {
		g.Go(func() error { return watchAudit(gctx, c.svc, c.log, auditCuePoll, c.cue) })
	}
	if c.ctl != nil {
		g.Go(func() error { return c.ctl.Run(gctx) })
	}
	if c.auto != nil {
		g.Go(func() error { return c.auto.Run(gctx) })
	}
	if c.disp != nil {
		g.Go(func() error { return c.disp.Run(gctx) })
	}
	g.Go(func() error { <-gctx.Done(); return nil })
	if err := g.Wait(); err != nil {
		c.log.Error("replica: the controllers stopped", slog.Any("error", err))
	}
}

// cue hands an event of the audit log, appended through any replica, to
// the controllers it concerns, and the zero event, which stands for any
// change, to all of them: the reconciler a change of a live version, and
// automatic promotion what autopromote.Cues says.
func (c *controllers) cue(e promote.AuditEvent) {
	all := e.Action == ""
	if c.rec != nil && (all || e.Action == promote.ActionLiveChanged || e.Action == promote.ActionRolledBack) {
		c.rec.Trigger(e.Model, e.Environment)
	}
	if c.auto != nil && (all || autopromote.Cues(e)) {
		c.auto.Trigger()
	}
}

// deposed is called after each term: the replica follows again.
func (c *controllers) deposed() {
	c.log.Info("replica: follower: another replica runs the controllers")
	c.follow()
}

// follow starts following the leader's rollouts, unless serve is stopping.
func (c *controllers) follow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctl == nil || c.stop != nil || c.parent.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(c.parent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ctl.Follow(ctx)
	}()
	c.stop, c.followed = cancel, done
}

// halt stops following and waits until it has stopped.
func (c *controllers) halt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop == nil {
		return
	}
	c.stop()
	<-c.followed
	c.stop, c.followed = nil, nil
}

// endStaleLease ends the term of whoever holds the lease name, so that
// this server takes it at once. Only for SQLite, whose data-directory lock
// proves that no other server runs on the store: the holder is a server
// that died (killed, say) without releasing it, and waiting for the lease
// to expire would only delay the controllers.
func endStaleLease(ctx context.Context, store promote.Store, name string) error {
	return store.Update(ctx, func(tx promote.Tx) error {
		l, err := tx.Lease(name)
		switch {
		case promote.ErrorCode(err) == promote.NotFound:
			return nil
		case err != nil:
			return err
		}
		now := time.Now()
		if !l.HeldAt(now) {
			return nil
		}
		return tx.ReleaseLease(l.Name, l.Holder, l.Epoch, now)
	})
}

// leaderStatus is the elector's status as the API reports it.
func leaderStatus(el *leader.Elector) func() httpapi.Leader {
	return func() httpapi.Leader {
		s := el.Status()
		return httpapi.Leader{Lease: s.Lease, Self: s.Self, Leader: s.Leader, Holder: s.Holder, Epoch: s.Epoch,
			ExpiresAt: s.ExpiresAt, Error: s.Error}
	}
}

// watchAudit hands cue each event that the audit log records, looking
// every period until ctx ends. The registry cues the controllers of the
// replica whose API made a change; this is how the leader hears of the
// changes made through the others, which share its store. Each look reads
// only the events appended since the last one, forward from a cursor (the
// webhook dispatcher's pattern). The first look hands cue the zero event
// instead, which stands for any change: one may have come between the
// controllers' own first passes and it. A look that fails is logged once,
// and the next look reads from the same cursor, so nothing is skipped.
func watchAudit(ctx context.Context, svc *registry.Service, log *slog.Logger, period time.Duration, cue func(promote.AuditEvent)) error {
	t := time.NewTicker(period)
	defer t.Stop()
	last := int64(-1)
	failing := false
	for {
		err := func() error {
			if last < 0 {
				head, err := svc.AuditEvents(ctx, promote.AuditFilter{Limit: 1})
				if err != nil {
					return err
				}
				last = 0
				if len(head) > 0 {
					last = head[0].Seq
				}
				cue(promote.AuditEvent{})
				return nil
			}
			return svc.Store().ScanAudit(ctx, last, func(rec promote.AuditRecord) error {
				e, err := rec.Event()
				if err != nil {
					return err
				}
				cue(e)
				last = rec.Seq
				return nil
			})
		}()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("replica: reading the audit log for other replicas' changes failed; retrying", slog.Any("error", err))
			failing = true
		case err == nil && failing:
			log.Info("replica: reading the audit log for other replicas' changes works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
