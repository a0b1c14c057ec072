package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

const pipelineYAML = `apiVersion: promote.dev/v1
kind: Pipeline
metadata:
  name: test
environments:
  - name: dev
    policy: policies/dev.yaml
  - name: staging
    from: dev
    policy: policies/staging.yaml
  - name: prod
    from: staging
    policy: policies/prod.yaml
    rollout: canary
`

var policies = map[string]string{
	"dev": `gate:
  require: [tests_passed]
  metrics:
    accuracy: ">= 0.80"
`,
	"staging": `gate:
  require: [tests_passed]
  metrics:
    accuracy: ">= 0.85"
`,
	"prod": `gate:
  require: [tests_passed]
  metrics:
    accuracy: ">= 0.85"
  approvals:
    min: 2
`,
}

// digest1 and digest2 are artifact digests of registered versions.
const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// fixture is a real server: SQLite in a temporary directory, the registry
// service over it with a dev → staging → prod pipeline, the HTTP handler in
// an httptest server, and a token per role.
type fixture struct {
	t      testing.TB
	store  promote.Store
	svc    *registry.Service
	server *Server
	srv    *httptest.Server
	reg    *telemetry.Registry
	logs   *testtool.Buffer

	// Token secrets. alice submits; bob, dave and carol approve; vera
	// views.
	admin, alice, bob, dave, carol, vera string
	// secrets lists every secret, for the log test.
	secrets []string
}

func newFixture(t testing.TB, mod ...func(*Options)) *fixture {
	t.Helper()
	ctx := t.Context()
	store := registrytest.SQLite(t, t.TempDir())
	svc := registrytest.LoadEach(t, pipelineYAML, policies).New(t, store, registry.Config{})
	f := &fixture{t: t, store: store, svc: svc, reg: telemetry.NewRegistry(), logs: &testtool.Buffer{}}
	opts := Options{
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: f.reg,
		Ready:   store.Ping,
	}
	for _, m := range mod {
		m(&opts)
	}
	f.server = NewServer(svc, opts)
	f.srv = httptest.NewServer(f.server.Handler())
	t.Cleanup(f.srv.Close)

	bootstrap := promote.Principal{Name: "bootstrap", Role: promote.RoleAdmin}
	token := func(name string, role promote.Role, groups ...string) string {
		secret, _, err := svc.CreateToken(ctx, bootstrap, registry.TokenRequest{Name: name, Role: role, Groups: groups})
		if err != nil {
			t.Fatal(err)
		}
		f.secrets = append(f.secrets, secret)
		return secret
	}
	f.admin = token("root", promote.RoleAdmin)
	f.alice = token("alice", promote.RoleSubmitter)
	f.bob = token("bob", promote.RoleApprover, "ml-lead")
	f.dave = token("dave", promote.RoleApprover)
	f.carol = token("carol", promote.RoleApprover)
	f.vera = token("vera", promote.RoleViewer)
	return f
}

// client returns the real client with a token.
func (f *fixture) client(token string) *Client { return NewClient(f.srv.URL, token, f.srv.Client()) }

// auditCount counts the stored audit events.
func (f *fixture) auditCount() int64 {
	f.t.Helper()
	var n int64
	if err := f.store.ScanAudit(f.t.Context(), 0, func(promote.AuditRecord) error { n++; return nil }); err != nil {
		f.t.Fatal(err)
	}
	return n
}

const metricsGood = `{
  "accuracy": 0.91,
  "latency_p95_ms": 140,
  "checks": {"tests_passed": true}
}`

// model registers a model with version 1 and returns the client used.
func (f *fixture) model(name string) *Client {
	f.t.Helper()
	c := f.client(f.alice)
	ctx := f.t.Context()
	if _, err := c.CreateModel(ctx, name, "test model"); err != nil {
		f.t.Fatal(err)
	}
	if _, err := c.RegisterVersion(ctx, registry.RegisterRequest{Model: name, Version: "1", ArtifactURI: "s3://models/" + name + "/1/model.bin",
		Digest: digest1, Size: 1024, Metrics: []byte(metricsGood)}); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// promote promotes version 1 of model into env through the chain, as
// alice, and returns the final promotion.
func (f *fixture) promoteTo(model, env string) registry.PromotionView {
	f.t.Helper()
	c := f.client(f.alice)
	var v registry.PromotionView
	for _, e := range []string{"dev", "staging", "prod"} {
		var err error
		v, err = c.RequestPromotion(f.t.Context(), registry.PromoteRequest{Model: model, Version: "1", Environment: e})
		if err != nil {
			f.t.Fatal(err)
		}
		if e == env {
			break
		}
	}
	return v
}

// rawResponse is a response read whole.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
	err    ErrorBody
}

// do sends a raw request to the server.
func (f *fixture) do(method, path, token, contentType string, body io.Reader) rawResponse {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	r := rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("%s %s: error with Content-Type %q, want application/json; body %s", method, path, ct, b)
		}
		if err := jsonStrict(b, &r.err); err != nil {
			f.t.Errorf("%s %s: error body %s is not {\"error\": {code, message}}: %v", method, path, b, err)
		}
	}
	return r
}

func jsonBody(s string) io.Reader { return strings.NewReader(s) }
