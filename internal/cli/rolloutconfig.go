package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/traffic"
)

// rolloutConfig is serve's rollout controller, which runs with GitOps and
// the local agent.
type rolloutConfig struct {
	// PrometheusURL, when set, is where the controller reads the canary's
	// and stable's counts (the splitters' metrics, as scraped from
	// /metrics); without it, from the splitters in process.
	PrometheusURL string
	// PrometheusQueries, when set, is a queries file (metrics.ParseQueries)
	// whose templates replace the default ones.
	PrometheusQueries string
	// PrometheusTimeout bounds each read of a track's counts from
	// Prometheus (metrics.PrometheusOptions.Timeout); 0 is
	// metrics.DefaultQueryTimeout.
	PrometheusTimeout time.Duration
	// Interval overrides how often rollouts are judged (default: the
	// shortest analysis interval of the policies, else 1s).
	Interval time.Duration
	// LookEvery, with the splitters in process as the source, is the
	// shortest time between judgements that a candidate's requests bring
	// (rollout.Config.LookEvery); 0 judges only every Interval.
	LookEvery   time.Duration
	NoDataLimit time.Duration
	ErrorBudget int
	// badInterval is a $PROMOTE_ROLLOUT_INTERVAL that is not a positive
	// duration, which problems names; badTimeout the same of
	// $PROMOTE_PROMETHEUS_TIMEOUT.
	badInterval, badTimeout string
}

func (c *rolloutConfig) env(getenv func(string) string) {
	if v := getenv("PROMOTE_PROMETHEUS_URL"); v != "" {
		c.PrometheusURL = v
	}
	if v := getenv("PROMOTE_PROMETHEUS_QUERIES"); v != "" {
		c.PrometheusQueries = v
	}
	if v := getenv("PROMOTE_PROMETHEUS_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			c.PrometheusTimeout = d
		} else {
			c.badTimeout = v
		}
	}
	if v := getenv("PROMOTE_ROLLOUT_INTERVAL"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			c.Interval = d
		} else {
			c.badInterval = v
		}
	}
}

func (c *rolloutConfig) flags(fl *pflag.FlagSet) {
	fl.StringVar(&c.PrometheusURL, "prometheus-url", c.PrometheusURL, "read rollouts' counts from this Prometheus `URL` (which scrapes /metrics) instead of the splitters in process ($PROMOTE_PROMETHEUS_URL)")
	fl.StringVar(&c.PrometheusQueries, "prometheus-queries", c.PrometheusQueries, "PromQL templates `FILE` for --prometheus-url, for metrics other than the splitters' (a mesh's); see docs/rollouts.md ($PROMOTE_PROMETHEUS_QUERIES)")
	fl.DurationVar(&c.PrometheusTimeout, "prometheus-timeout", c.PrometheusTimeout, "how long one read of a track's counts from --prometheus-url may take, its queries together (default 5s; raise it for long rollout.analysis.history windows; $PROMOTE_PROMETHEUS_TIMEOUT)")
	fl.DurationVar(&c.Interval, "rollout-interval", c.Interval, "how often rollouts are judged (default: the policies' shortest analysis interval, else 1s; $PROMOTE_ROLLOUT_INTERVAL)")
	if c.LookEvery == 0 {
		c.LookEvery = rollout.DefaultLookEvery
	}
	fl.DurationVar(&c.LookEvery, "rollout-look-every", c.LookEvery, "with the splitters in process as the source, also judge a rollout as its candidate's requests arrive, at most this often (0: only every --rollout-interval)")
	fl.DurationVar(&c.NoDataLimit, "rollout-no-data", c.NoDataLimit, "how long a rollout waits for metric data before it cannot judge (default 5m)")
	fl.IntVar(&c.ErrorBudget, "rollout-error-budget", c.ErrorBudget, "consecutive metric query errors a rollout tolerates (default 3)")
}

func (c *rolloutConfig) problems() []error {
	var errs []error
	if c.badInterval != "" {
		errs = append(errs, fmt.Errorf("$PROMOTE_ROLLOUT_INTERVAL %q: want a positive duration such as 10s", c.badInterval))
	}
	if c.badTimeout != "" {
		errs = append(errs, fmt.Errorf("$PROMOTE_PROMETHEUS_TIMEOUT %q: want a positive duration such as 30s", c.badTimeout))
	}
	if c.PrometheusTimeout < 0 {
		errs = append(errs, fmt.Errorf("--prometheus-timeout %s: want a positive duration such as 30s", c.PrometheusTimeout))
	}
	if c.PrometheusTimeout > 0 && c.PrometheusURL == "" {
		errs = append(errs, errors.New("--prometheus-timeout needs --prometheus-url: it bounds the reads from Prometheus"))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("--rollout-interval %s: want a positive duration such as 10s", c.Interval))
	}
	if c.PrometheusQueries != "" && c.PrometheusURL == "" {
		errs = append(errs, errors.New("--prometheus-queries needs --prometheus-url: the templates are for Prometheus"))
	}
	errs = append(errs, tooShort("--rollout-interval", c.Interval)...)
	errs = append(errs, tooShort("--rollout-look-every", c.LookEvery)...)
	if c.PrometheusURL != "" {
		// The queries file and the URL are checked before anything is
		// opened or created.
		if _, err := c.prometheus(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.NoDataLimit < 0 || c.ErrorBudget < 0 || c.LookEvery < 0 {
		errs = append(errs, errors.New("--rollout-no-data, --rollout-error-budget and --rollout-look-every may not be negative"))
	}
	return errs
}

// looks reports whether the controller judges rollouts as their
// candidates' requests arrive: with the splitters in process as the
// source, whose counts grow with every request (Prometheus's grow only
// with its scrapes).
func (c *rolloutConfig) looks() bool { return c.PrometheusURL == "" && c.LookEvery > 0 }

// interval is how often the controller ticks.
func (c *rolloutConfig) interval(plans map[string]*policy.Rollout) time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	var ds []time.Duration
	for _, p := range plans {
		if p.Analysis.Interval > 0 {
			ds = append(ds, p.Analysis.Interval)
		}
	}
	if len(ds) == 0 {
		return rollout.DefaultInterval
	}
	return slices.Min(ds)
}

// envPollers read each environment's counts with the no-data limit and
// error budget of its policy's analysis section.
type envPollers map[string]*metrics.Poller

var _ rollout.HistoryReader = envPollers(nil)

// Read dispatches q to its environment's poller.
func (p envPollers) Read(ctx context.Context, q metrics.Query) metrics.Reading {
	if pl := p[q.Env]; pl != nil {
		return pl.Read(ctx, q)
	}
	return metrics.Reading{Status: metrics.StatusFailed, Err: fmt.Errorf("environment %s rolls out without a plan", q.Env)}
}

// Mark has q's environment's poller take q's baseline.
func (p envPollers) Mark(ctx context.Context, q metrics.Query) error {
	if pl := p[q.Env]; pl != nil {
		return pl.Mark(ctx, q)
	}
	return nil
}

// History reads stable's history through q's environment's poller, for
// the history tests of its policy (rollout.analysis.history).
func (p envPollers) History(ctx context.Context, q metrics.Query, window time.Duration) (analysis.History, error) {
	if pl := p[q.Env]; pl != nil {
		return pl.History(ctx, q, window)
	}
	return analysis.History{}, fmt.Errorf("environment %s rolls out without a plan", q.Env)
}

// LooksBack reports whether the pollers' source (one for all of them)
// counts every process's requests since a query's start (Prometheus).
func (p envPollers) LooksBack() bool {
	for _, pl := range p {
		return pl.LooksBack()
	}
	return false
}

// Forget drops what q's environment's poller remembers about q.
func (p envPollers) Forget(q metrics.Query) {
	if pl := p[q.Env]; pl != nil {
		pl.Forget(q)
	}
}

// pollers builds envPollers over src: the policy's maxNoData and
// maxQueryErrors, else the flags, else the poller's defaults.
func (c *rolloutConfig) pollers(src metrics.Source, plans map[string]*policy.Rollout) (envPollers, error) {
	out := envPollers{}
	for env, plan := range plans {
		opts := metrics.PollerOptions{NoDataLimit: c.NoDataLimit, ErrorBudget: c.ErrorBudget}
		if plan.Analysis.MaxNoData > 0 {
			opts.NoDataLimit = plan.Analysis.MaxNoData
		}
		if plan.Analysis.MaxQueryErrors > 0 {
			opts.ErrorBudget = plan.Analysis.MaxQueryErrors
		}
		p, err := metrics.NewPoller(src, opts)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", env, err)
		}
		out[env] = p
	}
	return out, nil
}

// prometheus returns the Prometheus source of --prometheus-url, with the
// templates of --prometheus-queries when set.
func (c *rolloutConfig) prometheus() (*metrics.Prometheus, error) {
	opts := metrics.PrometheusOptions{}
	if c.PrometheusQueries != "" {
		data, err := os.ReadFile(c.PrometheusQueries)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-queries: %w", err)
		}
		if opts, err = metrics.ParseQueries(c.PrometheusQueries, data); err != nil {
			return nil, fmt.Errorf("--prometheus-queries: %w", err)
		}
	}
	opts.URL, opts.Timeout = c.PrometheusURL, c.PrometheusTimeout
	src, err := metrics.NewPrometheus(opts)
	if err != nil {
		return nil, fmt.Errorf("--prometheus-url: %w", err)
	}
	return src, nil
}

// checkPrometheus has Prometheus parse the queries of src when the server
// starts: a PromQL mistake in --prometheus-queries is refused then, naming
// the file, the template and Prometheus' message, rather than failing
// every read of the first rollout until its error budget is spent. A
// Prometheus that cannot be asked now (down, slow) is only logged: the
// rollouts' reads ask it again.
func (c *rolloutConfig) checkPrometheus(ctx context.Context, src *metrics.Prometheus, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := src.Check(ctx)
	if err == nil {
		return nil
	}
	if te := (*metrics.TemplateError)(nil); errors.As(err, &te) {
		if c.PrometheusQueries != "" {
			return fmt.Errorf("--prometheus-queries: %s: %w", c.PrometheusQueries, err)
		}
		return fmt.Errorf("--prometheus-url: %w", err)
	}
	log.Warn("serve: cannot check the Prometheus queries now; the rollouts' reads will ask again", slog.String("error", err.Error()))
	return nil
}

// splitterSettings applies the settings of an environment's rollout plan
// (nil: none) to its splitters: stickiness, health probes, the header
// that sends a request to the candidate, and whether a shadow's bodies are
// compared.
func splitterSettings(plan *policy.Rollout, c *traffic.Config) {
	if plan == nil {
		return
	}
	c.Sticky = traffic.Sticky{Header: plan.Traffic.StickyHeader, Cookie: plan.Traffic.StickyCookie}
	c.HealthPath = plan.Traffic.HealthPath
	c.CandidateHeader = plan.Traffic.CandidateHeader
	if plan.Shadow != nil {
		c.Shadow.CompareBodies = plan.Shadow.CompareBodies
	}
}
