package webui

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// fixture is the UI over a real service with the demo data, served by an
// httptest server the way promote serve mounts it.
type fixture struct {
	t    *testing.T
	dir  string
	env  *webuitest.Env
	demo webuitest.Demo
	ui   *UI
	srv  *httptest.Server
	log  *notify.StoreLog
}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	env, demo, err := webuitest.NewDemo(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Store.Close() })
	f := &fixture{t: t, dir: dir, env: env, demo: demo, log: notify.NewStoreLog(env.Store)}
	at := webuitest.Start.Add(72 * time.Hour)
	var ds []promote.WebhookDelivery
	for i, st := range []string{notify.StatusRetrying, notify.StatusDelivered, notify.StatusFailed} {
		d := promote.WebhookDelivery{ID: "dl_1", EventID: "ev_42", EventType: "promotion.awaiting_approval", Endpoint: "https://hooks.example.com/promote",
			Attempt: i + 1, Status: st, At: at.Add(time.Duration(i) * time.Minute), Duration: 120 * time.Millisecond}
		if st != notify.StatusDelivered {
			d.Code, d.Error = 503, "receiver answered 503 Service Unavailable"
		}
		ds = append(ds, d)
	}
	if err := env.RecordDeliveries(t.Context(), ds...); err != nil {
		t.Fatal(err)
	}
	opts := Options{Service: env.Service, Deliveries: f.log}
	for _, m := range mod {
		m(&opts)
	}
	if f.ui, err = New(opts); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", f.ui.Handler())
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	f      *fixture
	client *http.Client
	// origin, when set, is sent as the Origin header of POSTs.
	origin string
}

func (f *fixture) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return &browser{f: f, origin: f.srv.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response read whole.
type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (b *browser) do(method, path string, form url.Values) page {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.f.t.Context(), method, b.f.srv.URL+path, body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if b.origin != "" {
			req.Header.Set("Origin", b.origin)
		}
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(strings.NewReader(p.body)); err != nil {
			b.f.t.Fatalf("%s %s: the page does not parse: %v", method, path, err)
		}
	}
	return p
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do(http.MethodPost, path, form) }

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`)

// csrf returns the form token of a page.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", p.body)
	}
	return m[1]
}

// signIn signs in as one of the demo people and returns the browser.
func (f *fixture) signIn(name string) *browser {
	f.t.Helper()
	b := f.browser()
	login := b.get(Prefix + "/login")
	if login.status != http.StatusOK {
		f.t.Fatalf("GET /ui/login = %d", login.status)
	}
	res := b.post(Prefix+"/login", url.Values{"csrf": {login.csrf(f.t)}, "token": {f.env.Tokens[name]}, "next": {Prefix + "/"}})
	if res.status != http.StatusSeeOther {
		f.t.Fatalf("sign in as %s = %d, want 303:\n%s", name, res.status, res.body)
	}
	return b
}

// byTestID returns the elements with data-testid id, in document order.
func byTestID(n *html.Node, id string) []*html.Node {
	return findAll(n, func(n *html.Node) bool { return attr(n, "data-testid") == id })
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byTag(n *html.Node, tag string) []*html.Node {
	return findAll(n, func(n *html.Node) bool { return n.Data == tag })
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is an element's text with white space collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// one returns the single element with the test ID.
func (p page) one(t *testing.T, id string) *html.Node {
	t.Helper()
	if p.doc == nil {
		t.Fatalf("not an HTML page (status %d): %s", p.status, p.body)
	}
	list := byTestID(p.doc, id)
	if len(list) != 1 {
		t.Fatalf("%d elements with data-testid=%q, want 1; page:\n%s", len(list), id, p.body)
	}
	return list[0]
}

func (p page) all(id string) []*html.Node {
	if p.doc == nil {
		return nil
	}
	return byTestID(p.doc, id)
}

// promotionState reads a promotion's state from the store.
func (f *fixture) promotionState(id string) promote.State {
	f.t.Helper()
	p, err := f.env.Service.Promotion(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.State
}

// auditCount counts the stored audit events.
func (f *fixture) auditCount() int64 {
	f.t.Helper()
	var n int64
	if err := f.env.Store.ScanAudit(f.t.Context(), 0, func(promote.AuditRecord) error { n++; return nil }); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// rawDB opens the store's database file directly, as someone with access
// to the disk could.
func (f *fixture) rawDB() *sql.DB {
	f.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.dir, "data", sqlite.FileName))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

var _ = context.Background
