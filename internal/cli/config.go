package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/autopromote"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/webui"
	"github.com/promote-ml/promote/promote"
)

// serverConfig is everything a command that runs the service locally
// needs: defaults, then PROMOTE_* environment variables, then flags.
type serverConfig struct {
	Data          string   // SQLite data directory (the embedded default)
	Database      string   // PostgreSQL DSN; when set, Data is not used
	Pipeline      string   // promote.yaml
	Addr          string   // where serve listens
	ArtifactRoots []string // directories whose files the server may hash
	LogLevel      string
	GitOps        gitopsConfig
	Rollout       rolloutConfig
	Lease         leaseConfig // the election of the replica that runs the controllers
	Webhooks      string      // the webhooks file
	// ExternalURL is the address people reach the server at, behind any
	// proxy: the base of the links to the web UI that webhooks carry.
	ExternalURL string
	// UISecureCookies marks the web UI's cookies Secure even on plain
	// HTTP, for a server behind a proxy that terminates TLS.
	UISecureCookies bool
	// AuditVerifyEvery is how often the whole audit chain is verified
	// again after start (webui.Options.VerifyInterval); 0: only at start.
	AuditVerifyEvery time.Duration
	// AutoPromoteEvery is the time between two passes of automatic
	// promotion (the environments with autoPromote) on the leader.
	AutoPromoteEvery time.Duration
	// badDurations are the $PROMOTE_AUDIT_VERIFY_EVERY and
	// $PROMOTE_AUTO_PROMOTE_EVERY that are not durations.
	badDurations []error
	// badUISecureCookies is a $PROMOTE_UI_SECURE_COOKIES that is not a
	// boolean, which validate names.
	badUISecureCookies string
	// emptyDatabase is a $PROMOTE_DATABASE set but empty: a secret whose
	// value is missing, which must not fall back to SQLite in --data (each
	// replica would run a registry of its own).
	emptyDatabase bool
	// listener and agentListener, when set, are served on instead of
	// listening on Addr and the agent's address (the demo opens them).
	listener, agentListener net.Listener
}

func defaultServerConfig() serverConfig {
	return serverConfig{Data: "promote-data", Pipeline: "promote.yaml", Addr: "127.0.0.1:8080", LogLevel: "info",
		GitOps: defaultGitOpsConfig(), Lease: defaultLeaseConfig(), AuditVerifyEvery: webui.DefaultVerifyInterval,
		AutoPromoteEvery: autopromote.DefaultInterval}
}

// env applies PROMOTE_* variables over the defaults.
func (c *serverConfig) env(getenv func(string) string) {
	for name, dst := range map[string]*string{
		"PROMOTE_DATA": &c.Data, "PROMOTE_DATABASE": &c.Database, "PROMOTE_PIPELINE": &c.Pipeline,
		"PROMOTE_ADDR": &c.Addr, "PROMOTE_LOG_LEVEL": &c.LogLevel, "PROMOTE_EXTERNAL_URL": &c.ExternalURL,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v, set := os.LookupEnv("PROMOTE_DATABASE"); set && strings.TrimSpace(v) == "" && getenv("PROMOTE_DATABASE") == v {
		c.emptyDatabase = true
	}
	if v := getenv("PROMOTE_ARTIFACT_ROOTS"); v != "" {
		c.ArtifactRoots = filepath.SplitList(v)
	}
	c.GitOps.env(getenv)
	c.Rollout.env(getenv)
	c.Lease.env(getenv)
	if v := getenv("PROMOTE_WEBHOOKS"); v != "" {
		c.Webhooks = v
	}
	c.badDurations = envDurations(getenv, map[string]*time.Duration{"PROMOTE_AUDIT_VERIFY_EVERY": &c.AuditVerifyEvery,
		"PROMOTE_AUTO_PROMOTE_EVERY": &c.AutoPromoteEvery})
	if v := getenv("PROMOTE_UI_SECURE_COOKIES"); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			c.UISecureCookies = b
		} else {
			c.badUISecureCookies = v
		}
	}
}

// storeFlags adds the flags that choose the store and the pipeline.
func (c *serverConfig) storeFlags(fl *pflag.FlagSet) {
	fl.StringVar(&c.Data, "data", c.Data, "data `DIR` for the embedded SQLite store ($PROMOTE_DATA)")
	fl.StringVar(&c.Database, "database", c.Database, "PostgreSQL `DSN` (postgres://…) instead of SQLite ($PROMOTE_DATABASE)")
	fl.StringVar(&c.Pipeline, "pipeline", c.Pipeline, "pipeline `FILE`: environments, policies, trusted keys ($PROMOTE_PIPELINE)")
}

// validate reports every problem at once.
func (c *serverConfig) validate() error {
	var errs []error
	if c.Database == "" && c.Data == "" {
		errs = append(errs, errors.New("--data or --database: one is needed"))
	}
	if err := databaseProblem(c.Database); err != nil {
		errs = append(errs, err)
	}
	if c.Pipeline == "" {
		errs = append(errs, errors.New("--pipeline is empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	for _, r := range c.ArtifactRoots {
		if !filepath.IsAbs(r) {
			errs = append(errs, fmt.Errorf("--artifact-root %q: want an absolute path", r))
		}
	}
	if c.emptyDatabase && c.Database == "" {
		errs = append(errs, errors.New("$PROMOTE_DATABASE is set but empty: give a postgres:// URL (a Secret's value may be missing), or unset it to keep the SQLite store in --data"))
	}
	if c.badUISecureCookies != "" {
		errs = append(errs, fmt.Errorf("$PROMOTE_UI_SECURE_COOKIES %q: want true or false", c.badUISecureCookies))
	}
	errs = append(errs, c.badDurations...)
	if c.AuditVerifyEvery < 0 {
		errs = append(errs, fmt.Errorf("--audit-verify-every %s: want a duration such as 1h, or 0 to verify the whole audit chain only at start", c.AuditVerifyEvery))
	}
	errs = append(errs, tooShort("--audit-verify-every", c.AuditVerifyEvery)...)
	if c.AutoPromoteEvery <= 0 {
		errs = append(errs, fmt.Errorf("--auto-promote-every %s: want a positive duration such as 30s", c.AutoPromoteEvery))
	}
	errs = append(errs, tooShort("--auto-promote-every", c.AutoPromoteEvery)...)
	if c.ExternalURL != "" {
		if err := notify.CheckExternalURL(c.ExternalURL); err != nil {
			errs = append(errs, fmt.Errorf("--external-url: %w", err))
		}
	}
	errs = append(errs, c.GitOps.problems()...)
	errs = append(errs, c.Rollout.problems()...)
	errs = append(errs, c.Lease.problems()...)
	return errors.Join(errs...)
}

// databaseProblem says what is wrong with --database dsn, when something
// is; empty is not, it means SQLite.
func databaseProblem(dsn string) error {
	switch {
	case dsn == "" || strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		return nil
	case !strings.Contains(dsn, "://"):
		// key=value pairs: the value is not echoed, it may hold a password.
		return errors.New("--database: want a postgres:// URL, not key=value pairs")
	default:
		return fmt.Errorf("--database %q: want a postgres:// URL", redactDSN(dsn))
	}
}

// redactDSN hides the passwords of a DSN so that they never reach a log or
// an error message: the user information's, and any query parameter whose
// name holds "password" (pgx reads password and sslpassword there too). A
// DSN that is not a URL (key=value pairs) is not shown at all.
func redactDSN(dsn string) string {
	i := strings.Index(dsn, "://")
	if i < 0 {
		return "(not shown: not a URL)"
	}
	rest, query, hasQuery := strings.Cut(dsn[i+3:], "?")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if colon := strings.Index(rest[:at], ":"); colon >= 0 {
			rest = rest[:colon] + ":xxxxx" + rest[at:]
		}
	}
	out := dsn[:i+3] + rest
	if !hasQuery {
		return out
	}
	params := strings.Split(query, "&")
	for j, p := range params {
		key, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err != nil || strings.Contains(strings.ToLower(k), "password") {
			params[j] = key + "=xxxxx"
		}
	}
	return out + "?" + strings.Join(params, "&")
}

// openStore opens PostgreSQL when a DSN is configured, else SQLite.
func openStore(ctx context.Context, c serverConfig) (promote.Store, error) {
	return openStoreWith(ctx, c, sqlite.Options{})
}

// openLocalStore opens the store for a command that writes to it directly
// rather than through the server (token create), and may run while
// promote serve does. Such a command of a newer binary
// (during an upgrade) must not migrate a SQLite store under a running
// server, which the data-directory lock keeps to one version at a time:
// the server, built before those migrations, would go on with queries that
// miss their columns, and be refused at its next start. So the migrations
// wait until the server has stopped.
func openLocalStore(ctx context.Context, c serverConfig) (promote.Store, error) {
	return openStoreWith(ctx, c, sqlite.Options{MayMigrate: func(_, pending []string) error {
		if holder, ok := servedBy(c.Data); ok {
			return fmt.Errorf("the data directory %s is in use by promote serve (%s holds %s), and this binary would migrate its store (%s), which that server may not know: stop the server first, then run this command again or start this version's server (docs/operations.md, Upgrades)",
				c.Data, holder, filepath.Join(c.Data, lockFileName), strings.Join(pending, ", "))
		}
		return nil
	}})
}

// auditStore is a store opened for reading its audit chain only.
type auditStore interface {
	audit.Chain
	Close() error
}

// openAuditStore opens the store of c for audit verify --local, read
// only: an auditor may verify a copy on a read-only mount, a file owned
// by someone else, or a PostgreSQL database with a role that may only
// SELECT, and a verification must not change what it verifies. So
// nothing is created, locked or migrated. A data directory without a
// store, or a PostgreSQL database Promote has never used, is a usage
// error (a mistyped --data or --database), as is a store at other
// migrations than this binary's, named both.
func openAuditStore(ctx context.Context, c serverConfig) (auditStore, error) {
	if c.Database != "" {
		where := "the PostgreSQL database " + redactDSN(c.Database)
		db, err := postgres.OpenReadOnly(ctx, c.Database)
		var se *sqlstore.SchemaError
		switch {
		case errors.As(err, &se) && len(se.Applied) == 0:
			return nil, usageErrorf("no Promote store in %s (it has none of Promote's tables, or none this role may read), and none was created: check --database or $PROMOTE_DATABASE, and that the role may SELECT from the store's tables", where)
		case errors.As(err, &se):
			return nil, schemaMismatch(where, se)
		case err != nil:
			return nil, fmt.Errorf("open %s: %w", where, err)
		}
		return db, nil
	}
	file := filepath.Join(c.Data, sqlite.FileName)
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil, usageErrorf("no Promote store in %s (%s does not exist): check --data or $PROMOTE_DATA", c.Data, file)
	}
	db, err := sqlite.OpenReadOnly(ctx, c.Data)
	var se *sqlstore.SchemaError
	switch {
	case errors.As(err, &se) && len(se.Applied) == 0:
		return nil, usageErrorf("no Promote store in %s (%s has none of Promote's tables): check --data or $PROMOTE_DATA", c.Data, file)
	case errors.As(err, &se):
		return nil, schemaMismatch(c.Data, se)
	case errors.Is(err, fs.ErrPermission):
		return nil, usageErrorf("open the data directory %s: %w: the store must be readable by this user", c.Data, err)
	case err != nil:
		return nil, fmt.Errorf("open the data directory %s: %w", c.Data, err)
	}
	return db, nil
}

// schemaMismatch is the usage error of a store in where whose migrations
// are not this binary's, which a verification does not migrate.
func schemaMismatch(where string, se *sqlstore.SchemaError) error {
	what := "verify it with the promote that wrote it, or migrate it first with this version's 'promote store migrate' (docs/operations.md, Upgrades)"
	if len(se.Unknown()) > 0 {
		what = "verify it with the newer promote that migrated it"
	}
	return usageErrorf("verify the store in %s: %w: %s", where, se, what)
}

// openStoreWith opens PostgreSQL when a DSN is configured, else SQLite
// with o.
func openStoreWith(ctx context.Context, c serverConfig, o sqlite.Options) (promote.Store, error) {
	if c.Database != "" {
		db, err := postgres.Open(ctx, c.Database)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL %s: %w", redactDSN(c.Database), err)
		}
		return db, nil
	}
	db, err := sqlite.OpenWith(ctx, c.Data, o)
	var nw *sqlite.NotWritableError
	if errors.As(err, &nw) {
		// A directory or file this user cannot write is the wrong
		// --data (or the wrong user), not a failure of the store.
		return nil, usageErrorf("open the data directory %s: %w", c.Data, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open the data directory %s: %w", c.Data, err)
	}
	return db, nil
}

// loadedPipeline is a pipeline with what it names, loaded.
type loadedPipeline struct {
	pipeline *pipeline.Pipeline
	gates    map[string]*policy.Gate
	keys     []registry.TrustedKey
	// plans are the rollout sections of the environments that roll out
	// by canary or shadow, by environment.
	plans map[string]*policy.Rollout
	// unused says, for each environment that rolls out directly although
	// its policy has a canary or shadow rollout section, that the section
	// is not used.
	unused []string
}

// loadPipeline reads the pipeline file and everything it names (policies
// and trusted keys, relative to the pipeline file), and compiles each
// environment's gate. Problems are bad input.
func loadPipeline(path string) (*loadedPipeline, error) {
	data, err := readInput(path, "pipeline")
	if err != nil {
		return nil, err
	}
	pl, err := pipeline.Parse(path, data)
	if err != nil {
		return nil, err
	}
	plans := map[string]*policy.Rollout{}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	gates := map[string]*policy.Gate{}
	loaded := map[string]*policy.Policy{}
	var errs []error
	var unused []string
	var files []string                 // the policy files, in the pipeline's order
	gatesEnvs := map[string][]string{} // policy file → the environments it gates
	gatedBy := map[string]string{}     // environment → its policy, as the pipeline names it
	for _, e := range pl.Environments {
		file := rel(e.Policy)
		gatedBy[e.Name] = e.Policy
		pol, ok := loaded[file]
		if !ok {
			data, err := readInput(file, "policy")
			if err != nil {
				errs = append(errs, fmt.Errorf("environment %s: %w", e.Name, err))
				continue
			}
			if pol, err = policy.Load(file, data); err != nil {
				errs = append(errs, err)
				continue
			}
			loaded[file] = pol
			files = append(files, file)
		}
		gatesEnvs[file] = append(gatesEnvs[file], e.Name)
		g, err := pol.Gate(e.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("environment %s: %w", e.Name, err))
			continue
		}
		// The audit log names the policy as the pipeline does, relative
		// to it, rather than by this machine's path.
		named := *g
		named.Source = e.Policy
		gates[e.Name] = &named
		if e.Strategy == policy.StrategyCanary || e.Strategy == policy.StrategyShadow {
			plan := pol.Rollout(e.Name)
			if plan == nil || plan.Strategy != e.Strategy {
				errs = append(errs, fmt.Errorf("environment %s rolls out by %s, but its policy %s has no rollout section with strategy %s", e.Name, e.Strategy, e.Policy, e.Strategy))
				continue
			}
			plans[e.Name] = plan
		} else if plan := pol.Rollout(e.Name); plan != nil && (plan.Strategy == policy.StrategyCanary || plan.Strategy == policy.StrategyShadow) {
			unused = append(unused, fmt.Sprintf("environment %s rolls out direct in %s: the %s rollout of its policy %s is not used (set rollout: %s for %s there to use it)",
				e.Name, path, plan.Strategy, e.Policy, plan.Strategy, e.Name))
		}
	}
	// A section no environment is gated by is never applied, yet reads as
	// if it held: a misspelt name, an environment taken out of the
	// pipeline, or one that another file gates. It is said at start, not
	// refused: a file shared by pipelines of other servers, or an
	// environment just taken out, is no reason for serve not to start.
	for _, file := range files {
		pol := loaded[file]
		for _, env := range pol.Environments() {
			if slices.Contains(gatesEnvs[file], env) {
				continue
			}
			line, col := pol.EnvironmentPosition(env)
			where := fmt.Sprintf("%s:%d:%d: environments.%s", file, line, col, env)
			if other, ok := gatedBy[env]; ok {
				unused = append(unused, fmt.Sprintf("%s: environment %s of the pipeline is gated by %s, so this section is not used", where, env, other))
			} else {
				unused = append(unused, fmt.Sprintf("%s: the pipeline has no environment %s (it has %s), so this section is not used; remove it or correct its name",
					where, env, strings.Join(pl.Names(), ", ")))
			}
		}
	}
	keys, keyErrs := loadTrustedKeys(path, pl, rel)
	errs = append(errs, keyErrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &loadedPipeline{pipeline: pl, gates: gates, keys: keys, plans: plans, unused: unused}, nil
}

// loadTrustedKeys reads the public keys the pipeline file at path lists,
// each relative to it (rel). A key that cannot be used is reported at the
// line that lists it. So is a key listed twice, under one path or two:
// taking one entry out, to revoke the key, would leave it trusted.
func loadTrustedKeys(path string, pl *pipeline.Pipeline, rel func(string) string) ([]registry.TrustedKey, []error) {
	var keys []registry.TrustedKey
	var errs []error
	first := map[string]int{} // public key digest → index of the entry that lists it first
	for i, k := range pl.TrustedKeys {
		line, col := pl.TrustedKeyPosition(i)
		where := fmt.Sprintf("%s:%d:%d: trustedKeys[%d]", path, line, col, i)
		data, err := readInput(rel(k), where)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pub, err := signature.ParsePublicKey(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", where, k, err))
			continue
		}
		sum, err := signature.KeyDigest(pub)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", where, k, err))
			continue
		}
		if j, dup := first[sum]; dup {
			l, _ := pl.TrustedKeyPosition(j)
			errs = append(errs, fmt.Errorf("%s: %s holds the same public key (%s) as trustedKeys[%d] %s at line %d: list each key once, or taking one entry out would not stop the key being trusted",
				where, k, sum, j, pl.TrustedKeys[j], l))
			continue
		}
		first[sum] = i
		keys = append(keys, registry.TrustedKey{ID: k, Key: pub})
	}
	return keys, errs
}

// serviceHooks connect the registry service to serve's controllers.
type serviceHooks struct {
	// changed is the GitOps reconciler's cue: with it, the service leaves
	// live changes for the reconciler to commit.
	changed func(model, env string)
	// rolloutCue is the rollout controller's: with it, committed
	// promotions to canary and shadow environments wait for the
	// controller.
	rolloutCue func(promotionID string)
	// audited receives every committed audit event (notifications).
	audited func(promote.AuditEvent)
	// metrics counts the gates' decisions (/metrics).
	metrics *registry.Metrics
}

// openService opens the store and builds the registry service over it. The
// caller closes the store.
func openService(ctx context.Context, c serverConfig, log *slog.Logger, hooks serviceHooks) (*registry.Service, promote.Store, *loadedPipeline, error) {
	if err := c.validate(); err != nil {
		return nil, nil, nil, usageError(err)
	}
	lp, err := loadPipeline(c.Pipeline)
	if err != nil {
		return nil, nil, nil, usageError(err)
	}
	roots := c.ArtifactRoots
	if len(roots) == 0 {
		if wd, err := os.Getwd(); err == nil {
			roots = defaultArtifactRoots(wd, log)
		}
	}
	// The data directory (the database, the GitOps clones) is never hashed
	// for a submitter, even when a root holds it, as the default one does.
	var private []string
	if data, err := filepath.Abs(c.Data); err == nil && c.Data != "" {
		private = append(private, data)
	}
	store, err := openStore(ctx, c)
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := registry.New(store, registry.Config{Pipeline: lp.pipeline, Gates: lp.gates, TrustedKeys: lp.keys, ArtifactRoots: roots, Private: private, Logger: log,
		GitOps: hooks.changed != nil, Changed: hooks.changed, Rollouts: hooks.rolloutCue != nil, RolloutCue: hooks.rolloutCue, Plans: lp.plans,
		Audited: hooks.audited, Metrics: hooks.metrics})
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return svc, store, lp, nil
}

// defaultArtifactRoots are the directories whose files serve hashes when
// --artifact-root is not given: the working directory wd, where a person
// starting serve keeps their artifacts. A working directory that is a file
// system's root (a container's WORKDIR /, a service manager's default) is
// not used, since a submitter could then have any file of the machine
// hashed, /proc's among them; file:// artifacts then need their digest
// stated, as remote ones do, and serve says so at start.
func defaultArtifactRoots(wd string, log *slog.Logger) []string {
	if filepath.Dir(wd) == wd {
		log.Warn("the working directory is the file system's root, so the server hashes no local artifact: register file:// artifacts with their digest, or name their directory with --artifact-root", "dir", wd)
		return nil
	}
	return []string{wd}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// minInterval is the shortest interval serve's interval flags accept:
// shorter, a loop would do little but poll.
const minInterval = 10 * time.Millisecond

// tooShort says so when d, the value of flag, is positive but shorter than
// minInterval.
func tooShort(flag string, d time.Duration) []error {
	if d > 0 && d < minInterval {
		return []error{fmt.Errorf("%s %s: want at least %s; shorter, the server would do little but poll", flag, d, minInterval)}
	}
	return nil
}
