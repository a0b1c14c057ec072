// Package demo is `promote demo`: the whole story of Promote in one run,
// for real. In a workspace it creates a GitOps repository with a local bare
// remote, trains three versions of a credit-risk model (logistic
// regression on a seeded synthetic data set), measures and signs them,
// serves each from its own local HTTP endpoint, and starts Promote's server
// with its GitOps writer, local agent and rollout controller. Then it walks
// the versions through dev, staging and prod with gates against the
// baseline, an approval, a commit per change and canaries under live
// traffic, until the third version, which is better offline and broken on
// a kind of application that only live traffic has, is rolled back by the
// canary analysis, in Git, and held. It narrates every step and ends by
// verifying the audit chain.
//
// The server itself is started by the caller (ServeFunc), which owns its
// configuration; this package owns the story and everything else it runs.
package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/promote"
)

// The story's constants.
const (
	// ModelName is the model the demo promotes.
	ModelName = "credit-risk"
	// Seed makes the data, the models and the live traffic the same on
	// every run.
	Seed         = 7
	datasetSize  = 6000
	probeSize    = 300   // test applications sent to each endpoint: serving test and latency
	loadRate     = 100.0 // live requests per second to prod
	thinFile     = 0.25  // the share of live applicants with no credit history on record
	liveSamples  = 2000  // distinct live applications, sent in a loop
	stepDeadline = 60 * time.Second
)

// Submitter and Approver are the names of the demo's tokens: the CI job
// that registers versions and requests promotions, and the ML lead who
// approves prod.
const (
	Submitter = "ci"
	Approver  = "lena"
)

// specs are the three versions the demo trains.
var specs = []Spec{
	{Version: "1", Features: []string{"log_income", "debt_ratio", "late_payments"}, Epochs: 200, Impute: true,
		Story: "income, debt ratio, late payments"},
	{Version: "2", Features: []string{"log_income", "debt_ratio", "late_payments", "credit_history_years", "loan_amount"}, Epochs: 400, Impute: true,
		Story: "+ credit history, loan amount"},
	{Version: "3", Features: []string{"log_income", "debt_ratio", "late_payments", "credit_history_years", "loan_amount", "debt_ratio_x_loan"}, Epochs: 600,
		Story: "+ debt ratio x loan; exported without imputer"},
}

// ServeFunc starts Promote's server (registry, GitOps writer, local agent,
// rollout controller) as spec says and returns once it is ready.
type ServeFunc func(ctx context.Context, spec ServerSpec) (*Server, error)

// ServerSpec is the server the demo needs.
type ServerSpec struct {
	Pipeline     string // the pipeline file, in the GitOps working copy
	Data         string // the SQLite data directory
	Remote       string // the GitOps remote the writer commits to and the agent deploys
	Endpoints    string // the agent's endpoints file
	ArtifactRoot string // the directory under which the artifacts are
	// Listener and AgentListener are open for the API (and web UI) and the
	// agent: the server serves on them and closes them when it stops, so
	// no other process can take their ports between choosing and serving.
	Listener, AgentListener net.Listener
	Log                     io.Writer
	Tokens                  []TokenSpec // made before the server starts
}

// TokenSpec is a token to make.
type TokenSpec struct {
	Name   string
	Role   promote.Role
	Groups []string
}

// Server is a running server.
type Server struct {
	// Tokens are the secrets of ServerSpec.Tokens, by name.
	Tokens map[string]string
	// Stop stops the server and waits for it to end.
	Stop func() error
}

// Options configures Run.
type Options struct {
	// Dir is the workspace: an empty (or new) directory.
	Dir string
	// Addr is where the server listens; empty means 127.0.0.1:8080 when
	// it is free, else a free port.
	Addr string
	// Out receives the narration; Terminal says it is a terminal, where
	// progress lines are redrawn in place.
	Out      io.Writer
	Terminal bool
	// Width, when set, is the terminal's width in columns, read at each
	// redraw: a progress line is cut to fit it.
	Width func() int
	// Wait keeps the server running at the end until ctx ends; NoWait
	// says why not, when not.
	Wait   bool
	NoWait string
	Serve  ServeFunc
}

// Result is what a run leaves.
type Result struct {
	ServerURL string
	UIURL     string
	Elapsed   time.Duration
}

// run is one run's state.
type run struct {
	opts     Options
	n        *narrator
	hc       *http.Client
	ci, lead *httpapi.Client
	server   string // the API's URL
	agent    string // the agent's URL
	remote   string
	versions map[string]*built
	load     *Load
	stopLoad func() // stops load and waits for it; safe to call again
	live     []Applicant
	stops    []func(context.Context) error
}

// built is a trained version with its files and endpoint.
type built struct {
	spec     Spec
	model    *Model
	eval     Evaluation
	probe    Probe
	artifact string
	sig      []byte
	metrics  []byte
	digest   string
	endpoint *Endpoint
}

// Run tells the whole story in opts.Dir, then waits (opts.Wait) and stops
// everything it started, whatever happened.
func Run(ctx context.Context, opts Options) (res Result, err error) {
	if opts.Serve == nil || opts.Out == nil || opts.Dir == "" {
		return res, errors.New("demo: Dir, Out and Serve are required")
	}
	n := newNarrator(opts.Out, opts.Terminal)
	n.width = opts.Width
	r := &run{opts: opts, n: n, versions: map[string]*built{},
		remote: filepath.Join(opts.Dir, "gitops.git"),
		hc:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	defer func() {
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		var errs []error
		for i := len(r.stops) - 1; i >= 0; i-- {
			errs = append(errs, r.stops[i](stop))
		}
		r.hc.CloseIdleConnections()
		if serr := errors.Join(errs...); serr != nil && err == nil {
			err = serr
		}
		if len(r.stops) > 0 {
			r.n.Plain("\nStopped the load, the server, the agent and the model endpoints.")
		}
	}()
	r.n.Plain("Promote demo: a credit-risk model from training to production, every step real.")
	r.n.Plain("Workspace: %s", opts.Dir)
	if err := r.story(ctx); err != nil {
		return res, err
	}
	res = Result{ServerURL: r.server, UIURL: r.server + "/ui/", Elapsed: r.n.elapsed()}
	r.n.Plain("\nThe story took %s.", res.Elapsed)
	r.n.Plain("Web UI:  %s (sign in with the token in %s)", res.UIURL, filepath.Join(opts.Dir, "tokens", Approver))
	r.n.Plain("API:     %s/api/v1 (tokens in %s)", r.server, filepath.Join(opts.Dir, "tokens"))
	if !opts.Wait {
		r.n.Plain("Not waiting (%s): stopping now.", opts.NoWait)
		return res, nil
	}
	r.n.Plain("Try:     PROMOTE_SERVER=%s PROMOTE_TOKEN=$(cat %s) promote status %s",
		r.server, filepath.Join(opts.Dir, "tokens", Submitter), ModelName)
	r.n.Plain("Promote keeps running; press Ctrl-C to stop.")
	<-ctx.Done()
	return res, nil
}

func (r *run) path(elem ...string) string {
	return filepath.Join(append([]string{r.opts.Dir}, elem...)...)
}

func (r *run) story(ctx context.Context) error {
	if err := r.setup(ctx); err != nil {
		return err
	}
	if err := r.startServer(ctx); err != nil {
		return err
	}
	if err := r.register(ctx); err != nil {
		return err
	}
	for _, v := range []string{"1", "2", "3"} {
		if err := r.walk(ctx, v); err != nil {
			return err
		}
	}
	if err := r.afterRollback(ctx); err != nil {
		return err
	}
	return r.summary(ctx)
}

// setup writes the signing key and the GitOps repository, trains, signs,
// measures and serves the three versions.
func (r *run) setup(ctx context.Context) error {
	r.n.Step("A GitOps repository, as promote init writes it, with a local bare remote")
	key, err := signature.GenerateKey()
	if err != nil {
		return err
	}
	priv, err := signature.EncodePrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := signature.EncodePublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	for _, d := range []string{"keys", "dataset", "models", "tokens"} {
		if err := os.MkdirAll(r.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(r.path("keys", "cosign.key"), priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(r.path("keys", "cosign.pub"), pub, 0o644); err != nil {
		return err
	}
	head, err := CreateRepository(r.path("repo"), r.remote, pub)
	if err != nil {
		return err
	}
	r.n.Say("repo/         pipeline dev -> staging -> prod (soak 2s each), policies, kustomize overlays")
	r.n.Say("              prod: F1 may drop by at most 0.01 against the live version, demographic parity")
	r.n.Say("              difference <= 0.05, latency p95 <= 150 ms, one approval by an ml-lead, canary")
	r.n.Say("              10%% -> 50%% -> 100%% judged by a sequential analysis, automatic rollback")
	r.n.Say("gitops.git/   the remote: main is at %s (promote init); Promote commits there, the agent deploys from there", short(head))
	r.n.Say("keys/         a new ECDSA P-256 signing key; the pipeline trusts keys/cosign.pub")

	r.n.Step("Training three versions of %s on %d synthetic loan applications (seed %d)", ModelName, datasetSize, Seed)
	data := NewDataset(Seed, datasetSize)
	f, err := os.Create(r.path("dataset", "credit-applications.csv"))
	if err != nil {
		return err
	}
	dsDigest, err := data.WriteCSV(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	r.n.Say("dataset/credit-applications.csv: %d to train, %d to test, %s", len(data.Train), len(data.Test), short(strings.TrimPrefix(dsDigest, "sha256:")))
	r.n.Say("logistic regression by gradient descent; test metrics, then %d test applications sent to the", probeSize)
	r.n.Say("version's own HTTP endpoint: its answers must match (tests_passed) and are timed (latency p95)")
	r.n.Say("%-3s %-46s %8s %6s %6s %8s %7s", "", "features", "accuracy", "F1", "AUC", "DP diff", "p95 ms")
	for _, spec := range specs {
		b, err := r.build(ctx, spec, data, dsDigest, key)
		if err != nil {
			return err
		}
		r.versions[spec.Version] = b
		r.n.Say("v%-2s %-46s %8.4f %6.4f %6.4f %8.4f %7.3f", spec.Version, spec.Story, b.eval.Accuracy, b.eval.F1, b.eval.AUC,
			b.eval.DemographicParityDifference(), b.probe.P95Ms())
	}
	r.n.Say("each artifact (models/credit-risk-N/model.json) is signed with keys/cosign.key and served on its own endpoint:")
	var lines []string
	for _, spec := range specs {
		b := r.versions[spec.Version]
		r.n.Say("  v%s %s  %s", spec.Version, short(strings.TrimPrefix(b.digest, "sha256:")), b.endpoint.URL)
		lines = append(lines, fmt.Sprintf("  - model: %s\n    digest: %s\n    url: %s", ModelName, b.digest, b.endpoint.URL))
	}
	endpoints := "# Which local endpoint serves which artifact: the agent routes each\n# environment to the endpoint of the artifact its overlay pins.\nendpoints:\n" +
		strings.Join(lines, "\n") + "\n"
	return os.WriteFile(r.path("endpoints.yaml"), []byte(endpoints), 0o644)
}

// build trains, writes, signs, serves and measures one version.
func (r *run) build(ctx context.Context, spec Spec, data *Dataset, dsDigest string, key *ecdsa.PrivateKey) (*built, error) {
	m, err := Train(ModelName, spec, data, dsDigest)
	if err != nil {
		return nil, err
	}
	b := &built{spec: spec, model: m}
	if b.eval, err = Evaluate(m, data.Test); err != nil {
		return nil, err
	}
	dir := r.path("models", ModelName+"-"+spec.Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	b.artifact = filepath.Join(dir, "model.json")
	if err := os.WriteFile(b.artifact, raw, 0o644); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	b.digest = fmt.Sprintf("sha256:%x", sum)
	if b.sig, err = signature.Sign(key, sum); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.artifact+".sig", b.sig, 0o644); err != nil {
		return nil, err
	}
	if b.endpoint, err = StartEndpoint(b.artifact); err != nil {
		return nil, err
	}
	r.stops = append(r.stops, b.endpoint.Close)
	if b.probe, err = ProbeEndpoint(ctx, r.hc, b.endpoint, data.Test[:probeSize]); err != nil {
		return nil, err
	}
	checks := map[string]bool{"tests_passed": b.probe.Failures == 0}
	if b.metrics, err = MetricsJSON(m, b.eval, b.probe.P95Ms(), checks); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.json"), b.metrics, 0o644); err != nil {
		return nil, err
	}
	return b, nil
}

// startServer starts Promote's server on SQLite in the workspace, with
// the GitOps writer on the bare remote and the local agent.
func (r *run) startServer(ctx context.Context) error {
	// The listeners are opened here and handed to the server, so that the
	// ports the demo prints are the ones it serves on. Without --addr the
	// API takes 8080 when it is free, else any port.
	var ln net.Listener
	var err error
	if addr := r.opts.Addr; addr != "" {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("--addr %s: %w", addr, err)
		}
	} else if ln, err = net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	agentLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return err
	}
	addr, agentAddr := ln.Addr().String(), agentLn.Addr().String()
	log, err := os.Create(r.path("promote.log"))
	if err != nil {
		ln.Close()
		agentLn.Close()
		return err
	}
	r.stops = append(r.stops, func(context.Context) error { return log.Close() })
	r.n.Step("Starting promote serve in this process")
	srv, err := r.opts.Serve(ctx, ServerSpec{
		Pipeline: r.path("repo", "promote.yaml"), Data: r.path("data"), Remote: r.remote, Endpoints: r.path("endpoints.yaml"),
		ArtifactRoot: r.path("models"), Listener: ln, AgentListener: agentLn, Log: log,
		Tokens: []TokenSpec{{Name: Submitter, Role: promote.RoleSubmitter}, {Name: Approver, Role: promote.RoleApprover, Groups: []string{"ml-lead"}}},
	})
	if err != nil {
		return fmt.Errorf("start the server (its log: %s): %w", r.path("promote.log"), err)
	}
	r.stops = append(r.stops, func(context.Context) error { return srv.Stop() })
	r.server, r.agent = "http://"+addr, "http://"+agentAddr
	for _, name := range []string{Submitter, Approver} {
		if err := os.WriteFile(r.path("tokens", name), []byte(srv.Tokens[name]+"\n"), 0o600); err != nil {
			return err
		}
	}
	r.ci = httpapi.NewClient(r.server, srv.Tokens[Submitter], r.hc)
	r.lead = httpapi.NewClient(r.server, srv.Tokens[Approver], r.hc)
	r.n.Say("API      %s/api/v1 on SQLite in data/; log in promote.log", r.server)
	r.n.Say("GitOps   every change of a live version is committed to gitops.git (branch %s)", Branch)
	r.n.Say("agent    %s/ENV/%s/ routes each environment to the endpoint of the artifact its overlay pins", r.agent, ModelName)
	r.n.Say("tokens   %s (submitter: registers, requests) and %s (approver, role ml-lead)", Submitter, Approver)
	return nil
}

// short abbreviates a commit hash or digest.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
