package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/promote-ml/promote/internal/agent"
	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/promote"
)

// gitopsConfig is serve's GitOps writer: where live changes are committed.
// GitOps is on when Remote is set.
type gitopsConfig struct {
	Remote     string        // the GitOps repository: URL or local path
	Branch     string        // the branch Argo CD, Flux or the local agent deploy
	Dir        string        // the writer's working clone
	Mode       string        // push or pull-request
	Provider   string        // github or gitlab, in pull-request mode
	APIURL     string        // the provider's API root, when not the public one
	Repository string        // owner/name (GitHub) or project (GitLab)
	TokenFile  string        // a file holding the token ($PROMOTE_GITOPS_TOKEN otherwise)
	Username   string        // HTTPS user name
	Author     string        // "Name <email>" of the commits
	Interval   time.Duration // the reconciler's full sweep

	AgentAddr      string // where the local agent serves model traffic; the agent is off without it
	AgentRemote    string // the repository the agent watches (default Remote)
	AgentEndpoints string // the agent's endpoints file
	AgentDir       string // the agent's clone
	AgentInterval  time.Duration
	AgentTimeout   time.Duration // bounds a proxied request
	// AgentEnvironments are the environments the agent deploys; serve
	// fills in the pipeline's when none are given.
	AgentEnvironments []string

	// badEnv names the PROMOTE_* durations that do not parse.
	badEnv []error
}

func defaultGitOpsConfig() gitopsConfig {
	return gitopsConfig{Branch: gitops.DefaultBranch, Mode: string(gitops.ModePush),
		Author: gitops.DefaultAuthorName + " <" + gitops.DefaultAuthorEmail + ">", Interval: gitops.DefaultInterval,
		AgentTimeout: agent.DefaultTimeout}
}

// env applies PROMOTE_GITOPS_* variables.
func (c *gitopsConfig) env(getenv func(string) string) {
	for name, dst := range map[string]*string{
		"PROMOTE_GITOPS_REMOTE": &c.Remote, "PROMOTE_GITOPS_BRANCH": &c.Branch, "PROMOTE_GITOPS_DIR": &c.Dir,
		"PROMOTE_GITOPS_MODE": &c.Mode, "PROMOTE_GITOPS_PROVIDER": &c.Provider, "PROMOTE_GITOPS_API_URL": &c.APIURL,
		"PROMOTE_GITOPS_REPOSITORY": &c.Repository, "PROMOTE_GITOPS_TOKEN_FILE": &c.TokenFile,
		"PROMOTE_GITOPS_USERNAME": &c.Username, "PROMOTE_GITOPS_AUTHOR": &c.Author,
		"PROMOTE_AGENT_ADDR": &c.AgentAddr, "PROMOTE_AGENT_REMOTE": &c.AgentRemote,
		"PROMOTE_AGENT_ENDPOINTS": &c.AgentEndpoints, "PROMOTE_AGENT_DIR": &c.AgentDir,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v := getenv("PROMOTE_AGENT_ENVIRONMENTS"); v != "" {
		c.AgentEnvironments = nil
		for env := range strings.SplitSeq(v, ",") {
			c.AgentEnvironments = append(c.AgentEnvironments, strings.TrimSpace(env))
		}
	}
	c.badEnv = envDurations(getenv, map[string]*time.Duration{"PROMOTE_GITOPS_INTERVAL": &c.Interval, "PROMOTE_AGENT_INTERVAL": &c.AgentInterval,
		"PROMOTE_AGENT_TIMEOUT": &c.AgentTimeout})
}

// envDurations sets each duration from its variable, and returns a problem
// naming each variable whose value does not parse (that duration keeps its
// value), in the order of the names.
func envDurations(getenv func(string) string, vars map[string]*time.Duration) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		v := getenv(name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("$%s %q: want a duration such as 30s, 5m or 1h30m", name, v))
			continue
		}
		*vars[name] = d
	}
	return errs
}

func (c *gitopsConfig) flags(fl *pflag.FlagSet) {
	fl.StringVar(&c.Remote, "gitops-remote", c.Remote, "GitOps `REPOSITORY` (URL or path) that live changes are committed to; GitOps is off without it ($PROMOTE_GITOPS_REMOTE)")
	fl.StringVar(&c.Branch, "gitops-branch", c.Branch, "`BRANCH` that Argo CD, Flux or the local agent deploy ($PROMOTE_GITOPS_BRANCH)")
	fl.StringVar(&c.Dir, "gitops-dir", c.Dir, "the writer's working `DIR` (default: gitops under --data; $PROMOTE_GITOPS_DIR)")
	fl.StringVar(&c.Mode, "gitops-mode", c.Mode, "push (commit to the branch) or pull-request (open one and wait for its merge) ($PROMOTE_GITOPS_MODE)")
	fl.StringVar(&c.Provider, "gitops-provider", c.Provider, "github or gitlab, for pull requests ($PROMOTE_GITOPS_PROVIDER)")
	fl.StringVar(&c.APIURL, "gitops-api-url", c.APIURL, "the provider's API `URL` (default: the public GitHub or GitLab API; $PROMOTE_GITOPS_API_URL)")
	fl.StringVar(&c.Repository, "gitops-repository", c.Repository, "`owner/name` on GitHub, or the GitLab project, for pull requests ($PROMOTE_GITOPS_REPOSITORY)")
	fl.StringVar(&c.TokenFile, "gitops-token-file", c.TokenFile, "`FILE` holding the Git host's token (or $PROMOTE_GITOPS_TOKEN; $PROMOTE_GITOPS_TOKEN_FILE)")
	fl.StringVar(&c.Username, "gitops-username", c.Username, "HTTPS user `NAME` sent with the token or $PROMOTE_GITOPS_PASSWORD ($PROMOTE_GITOPS_USERNAME)")
	fl.StringVar(&c.Author, "gitops-author", c.Author, "\"`Name <email>`\" of the commits ($PROMOTE_GITOPS_AUTHOR)")
	fl.DurationVar(&c.Interval, "gitops-interval", c.Interval, "period of the reconciler's full sweep ($PROMOTE_GITOPS_INTERVAL)")
	fl.StringVar(&c.AgentAddr, "agent-addr", c.AgentAddr, "run the local agent: serve model traffic on `ADDRESS` as /ENV/MODEL/..., routed to what the GitOps repository pins ($PROMOTE_AGENT_ADDR)")
	fl.StringVar(&c.AgentRemote, "agent-remote", c.AgentRemote, "the `REPOSITORY` the agent watches (default: --gitops-remote; $PROMOTE_AGENT_REMOTE)")
	fl.StringVar(&c.AgentEndpoints, "agent-endpoints", c.AgentEndpoints, "`FILE` mapping model and artifact digest to a local endpoint URL ($PROMOTE_AGENT_ENDPOINTS)")
	fl.StringVar(&c.AgentDir, "agent-dir", c.AgentDir, "the agent's working `DIR` (default: agent under --data; $PROMOTE_AGENT_DIR)")
	fl.DurationVar(&c.AgentInterval, "agent-interval", c.AgentInterval, fmt.Sprintf("how often the agent fetches the repository (default: %s; $PROMOTE_AGENT_INTERVAL)", agent.DefaultInterval))
	fl.DurationVar(&c.AgentTimeout, "agent-timeout", c.AgentTimeout, "how long the agent waits for a model endpoint's whole answer before it sends a 504 ($PROMOTE_AGENT_TIMEOUT)")
	fl.StringSliceVar(&c.AgentEnvironments, "agent-environments", c.AgentEnvironments, "the `ENVS` the agent deploys, comma-separated; other overlay directories are ignored (default: the pipeline's environments; $PROMOTE_AGENT_ENVIRONMENTS)")
}

// agentEnabled reports whether serve runs the local agent.
func (c *gitopsConfig) agentEnabled() bool { return c.AgentAddr != "" }

// agentConfig builds the local agent's configuration. The agent deploys
// --agent-environments, or else the pipeline's environments (envs): an
// overlay directory the pipeline does not name, such as the dev overlay
// promote init scaffolds, is not deployed.
func (c *gitopsConfig) agentConfig(dataDir string, envs []string, getenv func(string) string, log *slog.Logger) agent.Config {
	remote := c.AgentRemote
	if remote == "" {
		remote = c.Remote
	}
	dir := c.AgentDir
	if dir == "" {
		dir = filepath.Join(dataDir, "agent")
	}
	if len(c.AgentEnvironments) > 0 {
		envs = c.AgentEnvironments
	}
	return agent.Config{Remote: remote, Branch: c.Branch, Dir: dir, Endpoints: c.AgentEndpoints, Interval: c.AgentInterval,
		Timeout:      c.AgentTimeout,
		Environments: slices.Clone(envs),
		Credentials:  gitops.Credentials{Username: c.Username, Password: getenv("PROMOTE_GITOPS_PASSWORD"), Token: getenv("PROMOTE_GITOPS_TOKEN")},
		Logger:       log}
}

// enabled reports whether serve runs the GitOps writer.
func (c *gitopsConfig) enabled() bool { return c.Remote != "" }

// problems lists what is wrong; the writer's own validation adds more.
func (c *gitopsConfig) problems() []error {
	errs := slices.Clone(c.badEnv)
	if c.agentEnabled() {
		if c.Remote == "" && c.AgentRemote == "" {
			errs = append(errs, errors.New("--agent-addr: the agent needs a repository to watch (--agent-remote or --gitops-remote)"))
		}
		if c.AgentEndpoints == "" {
			errs = append(errs, errors.New("--agent-addr: the agent needs --agent-endpoints, the file that says which local endpoint serves which artifact"))
		}
		if c.AgentInterval < 0 {
			errs = append(errs, errors.New("--agent-interval: want a positive duration such as 5s"))
		}
		errs = append(errs, tooShort("--agent-interval", c.AgentInterval)...)
		if c.AgentTimeout < 0 {
			errs = append(errs, errors.New("--agent-timeout: want a positive duration such as 60s"))
		}
		errs = append(errs, tooShort("--agent-timeout", c.AgentTimeout)...)
		seen := map[string]bool{}
		for _, env := range c.AgentEnvironments {
			if err := promote.ValidateName("environment", env); err != nil {
				errs = append(errs, fmt.Errorf("--agent-environments: %w", err))
			} else if seen[env] {
				errs = append(errs, fmt.Errorf("--agent-environments: %s is listed twice", env))
			}
			seen[env] = true
		}
		if c.AgentEndpoints != "" {
			// Read now, before anything is created: a bad file is refused
			// with the others (the agent reads it again as it runs).
			if err := agent.CheckEndpoints(c.AgentEndpoints); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !c.enabled() {
		return errs
	}
	if c.Interval <= 0 {
		errs = append(errs, errors.New("--gitops-interval: want a positive duration such as 30s"))
	}
	errs = append(errs, tooShort("--gitops-interval", c.Interval)...)
	if _, _, err := parseAuthor(c.Author); err != nil {
		errs = append(errs, err)
	}
	switch gitops.Mode(c.Mode) {
	case gitops.ModePush, gitops.ModePullRequest:
	default:
		errs = append(errs, fmt.Errorf("--gitops-mode %q: want push or pull-request", c.Mode))
	}
	return errs
}

// parseAuthor splits "Name <email>".
func parseAuthor(s string) (name, email string, err error) {
	open, end := strings.LastIndex(s, "<"), strings.LastIndex(s, ">")
	if open < 1 || end != len(s)-1 || end < open+3 || !strings.Contains(s[open:end], "@") {
		return "", "", fmt.Errorf("--gitops-author %q: want \"Name <email>\"", s)
	}
	return strings.TrimSpace(s[:open]), s[open+1 : end], nil
}

// writerConfig builds the writer's configuration, reading the token from
// its file or the environment; it never logs a secret.
func (c *gitopsConfig) writerConfig(dataDir string, getenv func(string) string, log *slog.Logger) (gitops.Config, error) {
	name, email, err := parseAuthor(c.Author)
	if err != nil {
		return gitops.Config{}, err
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(dataDir, "gitops")
	}
	cred := gitops.Credentials{Username: c.Username, Password: getenv("PROMOTE_GITOPS_PASSWORD"), Token: getenv("PROMOTE_GITOPS_TOKEN")}
	if c.TokenFile != "" {
		raw, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return gitops.Config{}, fmt.Errorf("--gitops-token-file: %w", err)
		}
		cred.Token = strings.TrimSpace(string(raw))
		if cred.Token == "" {
			return gitops.Config{}, fmt.Errorf("--gitops-token-file %s is empty", c.TokenFile)
		}
	}
	cfg := gitops.Config{
		Remote: c.Remote, Branch: c.Branch, Dir: dir, Mode: gitops.Mode(c.Mode), Credentials: cred,
		AuthorName: name, AuthorEmail: email, Logger: log,
	}
	if cfg.Mode == gitops.ModePullRequest {
		cfg.PullRequest = gitops.PullRequestConfig{Provider: c.Provider, BaseURL: c.APIURL, Repository: c.Repository}
	}
	return cfg, nil
}
