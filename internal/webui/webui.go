// Package webui is Promote's web UI: server-rendered pages (html/template,
// assets embedded, no JavaScript needed: a followed page's one script only
// keeps its reloads from losing what a person types) for the pipeline,
// promotions with their gate results and rollout charts, versions, the
// audit trail and the webhook delivery log, and forms to approve or reject
// a promotion. People sign in with an API token; the UI keeps a session in
// the store and applies the same role checks as the REST API, through the
// registry service.
package webui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/invisible"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// Prefix is the path under which the UI is served.
const Prefix = "/ui"

// Defaults of Options.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultMaxBodyBytes = 64 << 10
	// DefaultVerifyInterval is serve's --audit-verify-every. The alert
	// PromoteAuditChainNotVerified allows three of them without a
	// verification that found the chain whole.
	DefaultVerifyInterval = time.Hour
	// DefaultFollowEvery is how often a followed rollout's page loads
	// again.
	DefaultFollowEvery = 10 * time.Second
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deliveries reads webhook delivery attempts, newest first
// (notify.StoreLog).
type Deliveries interface {
	Read(ctx context.Context, limit int) ([]notify.Delivery, error)
}

// Resender asks for a webhook delivery that failed for good to be sent
// again (notify.Dispatcher).
type Resender interface {
	Resend(ctx context.Context, who promote.Principal, id string) (notify.Delivery, error)
}

// Options configure the UI.
type Options struct {
	Service *registry.Service
	// Deliveries is the webhooks' delivery log; nil: the server sends no
	// webhooks.
	Deliveries Deliveries
	// Resender sends a failed delivery again (notify.Dispatcher); nil:
	// the page offers no re-send.
	Resender Resender
	// Rollouts carries out people's operations on rollouts (the rollout
	// controller, as the REST API's); nil: the server runs none, and the
	// pages offer no buttons to steer a rollout.
	Rollouts Rollouts
	Logger   *slog.Logger
	// SecureCookies marks cookies Secure even on plain HTTP requests (for
	// a server behind a proxy that terminates TLS). Requests that arrive
	// over TLS always get Secure cookies.
	SecureCookies bool
	// SessionTTL is how long a session lasts; DefaultSessionTTL when 0.
	SessionTTL time.Duration
	// MaxBodyBytes limits a form's body; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// VerifyInterval is how often Run verifies the whole audit chain again
	// (between page views only the events appended since are verified);
	// 0: only once, when Run starts. serve passes DefaultVerifyInterval
	// unless told otherwise.
	VerifyInterval time.Duration
	// FollowEvery is how often the page of a rollout a person follows
	// loads again, a whole number of seconds; DefaultFollowEvery when 0.
	FollowEvery time.Duration
	// Metrics, when set, receives the verification's metrics
	// (audit.MetricChainVerified, audit.MetricChainFailures).
	Metrics *telemetry.Registry
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Rollouts carries out people's operations on rollouts, and says what a
// person's go does to a rollout that waits for them, by the plan it
// carries the rollout on with (rollout.Controller): the page's button
// says what the operation will do.
type Rollouts interface {
	rollout.Operator
	WithNext(r promote.Rollout) promote.Rollout
}

// UI is the web UI's handler and its state, the audit chain's
// verification. Sessions are kept in the store, which every replica
// shares, so that any replica serves any signed-in request.
type UI struct {
	svc     *registry.Service
	store   promote.Store
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	pages   map[string]*template.Template
	chain   *chainVerifier
	handler http.Handler
}

// pageFiles are the page templates, each executed with base.html.
var pageFiles = []string{"pipeline", "promotion", "promotions", "rollouts", "holds", "version", "model", "audit", "webhooks", "login", "error"}

// New returns the UI over opts.Service.
func New(opts Options) (*UI, error) {
	if opts.Service == nil {
		return nil, errors.New("webui: no registry service")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.VerifyInterval < 0 {
		return nil, fmt.Errorf("webui: audit chain verification interval %s is negative: want 0 (only at start) or more", opts.VerifyInterval)
	}
	if opts.FollowEvery == 0 {
		opts.FollowEvery = DefaultFollowEvery
	}
	if opts.FollowEvery < time.Second || opts.FollowEvery%time.Second != 0 {
		return nil, fmt.Errorf("webui: follow interval %s: want a whole number of seconds, at least 1s", opts.FollowEvery)
	}
	u := &UI{svc: opts.Service, store: opts.Service.Store(), opts: opts, log: opts.Logger, now: opts.Now, pages: map[string]*template.Template{}}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.now == nil {
		u.now = time.Now
	}
	for _, name := range pageFiles {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: parse template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	u.chain = newChainVerifier(u.store, u.now)
	if opts.Metrics != nil {
		m, err := audit.NewChainMetrics(opts.Metrics)
		if err != nil {
			return nil, err
		}
		u.chain.metrics = m
	}
	u.handler = u.routes()
	return u, nil
}

// Handler returns the UI's handler, for requests under Prefix + "/".
func (u *UI) Handler() http.Handler { return u.handler }

// Run verifies the whole audit chain at once and then every
// VerifyInterval (when not 0), until ctx ends: page views verify only the
// events appended since, so an edit to an event verified earlier is
// caught here.
func (u *UI) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if u.opts.VerifyInterval > 0 {
		t := time.NewTicker(u.opts.VerifyInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		if err := u.chain.Full(ctx); err != nil && ctx.Err() == nil {
			u.log.Warn("webui: audit chain verification", slog.Any("error", err))
		} else if b := u.chain.status().Broken; err == nil && b != nil {
			// Said at every full verification while it lasts, so that a
			// server without Prometheus's alerts says it too.
			u.log.Error("webui: the audit chain is broken; promote audit verify reports where", slog.Int64("seq", b.Seq),
				slog.String("kind", b.Kind), slog.String("break", b.Message))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
	}
}

func (u *UI) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET "+Prefix+"/login", u.loginPage)
	mux.HandleFunc("POST "+Prefix+"/login", u.login)
	mux.Handle("POST "+Prefix+"/logout", u.action(u.logout))
	mux.Handle("GET "+Prefix+"/{$}", u.page(u.pipelinePage))
	mux.Handle("GET "+Prefix+"/promotions", u.page(u.promotionsPage))
	mux.Handle("GET "+Prefix+"/promotions/{id}", u.page(u.promotionPage))
	mux.Handle("GET "+Prefix+"/rollouts", u.page(u.rolloutsPage))
	mux.Handle("GET "+Prefix+"/holds", u.page(u.holdsPage))
	mux.Handle("POST "+Prefix+"/promotions/{id}/approve", u.action(u.approve))
	mux.Handle("POST "+Prefix+"/promotions/{id}/reject", u.action(u.reject))
	for _, verb := range rollout.Verbs {
		mux.Handle("POST "+Prefix+"/promotions/{id}/rollout/"+verb, u.action(u.steer(verb)))
	}
	mux.Handle("GET "+Prefix+"/models/{model}", u.page(u.modelPage))
	mux.Handle("GET "+Prefix+"/models/{model}/versions/{version}", u.page(u.versionPage))
	mux.Handle("GET "+Prefix+"/audit", u.page(u.auditPage))
	mux.Handle("GET "+Prefix+"/audit.csv", u.page(u.auditCSV))
	mux.Handle("GET "+Prefix+"/webhooks", u.page(u.webhooksPage))
	mux.Handle("POST "+Prefix+"/webhooks/deliveries/{delivery}/resend", u.action(u.resend))
	mux.Handle(Prefix+"/", u.page(func(w http.ResponseWriter, r *http.Request, s *session) error {
		return promote.Errorf(promote.NotFound, "there is no page at %s", r.URL.Path)
	}))
	return u.secure(mux)
}

// secure sets the security headers of every answer and limits bodies.
func (u *UI) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, u.opts.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// view is what every page template gets: the layout's data and the page's.
type view struct {
	Title string
	// Nav names the navigation entry of the page.
	Nav  string
	User *promote.Principal
	CSRF string
	// Error is a message shown at the top of the page.
	Error string
	// Refresh, when above 0, has the browser load the page again after
	// that many seconds (a person asked to follow it: never by default):
	// with JavaScript, static/follow.js does, only while no form on the
	// page is being filled in; without it, a meta refresh.
	Refresh int
	Page    any
}

// refresher is a page that may ask to be loaded again every few seconds.
type refresher interface{ refreshEvery() int }

// pageFunc renders a page for a signed-in viewer.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// page wraps a page: the request must carry a session whose principal may
// view (otherwise the browser goes to the sign-in page), and an error is
// rendered as an error page with its status.
func (u *UI) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := u.session(r)
		if s == nil {
			http.Redirect(w, r, Prefix+"/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !s.who.Role.Allows(promote.RoleViewer) {
			u.fail(w, r, s, promote.Errorf(promote.Forbidden, "%s has the %s role; viewing needs %s", s.who.Name, s.who.Role, promote.RoleViewer))
			return
		}
		if err := fn(w, r, s); err != nil {
			u.fail(w, r, s, err)
		}
	})
}

// status maps an error's code to an HTTP status, as the REST API does.
func status(err error) int { return promote.HTTPStatus(promote.ErrorCode(err)) }

// errorPage is the data of the error page.
type errorPage struct {
	Status  int
	Heading string
	Message string
	// SignIn is the sign-in link of a page shown without a session.
	SignIn string
}

// fail renders err as an error page. Domain errors say what is wrong;
// anything else is logged and shown as an internal error.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := status(err)
	msg := err.Error()
	switch {
	case errors.Is(err, promote.ErrUnavailable):
		// The database is down or cut off: worth trying again, which a
		// 503 says; the driver's words (hosts, users) stay in the log.
		u.log.Warn("webui: the database is unavailable", slog.String("path", r.URL.Path), slog.Any("error", err))
		code, msg = http.StatusServiceUnavailable, "The database is unavailable; try again shortly."
		w.Header().Set("Retry-After", "5")
	case code == http.StatusInternalServerError:
		u.log.Error("webui: page failed", slog.String("path", r.URL.Path), slog.Any("error", err))
		msg = "Something went wrong on the server; the error is in its log."
	}
	heading := http.StatusText(code)
	if code == http.StatusNotFound {
		heading = "Not found"
	}
	u.render(w, r, s, code, "error", heading, "", errorPage{Status: code, Heading: heading, Message: msg})
}

// render executes a page template into a buffer and writes it with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, s *session, code int, name, title, nav string, data any) {
	v := view{Title: title, Nav: nav, Page: data}
	if p, ok := data.(refresher); ok {
		v.Refresh = p.refreshEvery()
	}
	if s != nil {
		who := s.who
		v.User, v.CSRF = &who, s.csrf
	}
	u.renderView(w, r, code, name, v)
}

func (u *UI) renderView(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "base", v); err != nil {
		u.log.Error("webui: render", slog.String("page", name), slog.String("path", r.URL.Path), slog.Any("error", err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(invisible.Reveal(buf.Bytes())) // every field, text and attribute alike: see Reveal
}
