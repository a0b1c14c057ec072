package webui

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// replica serves a second UI over a second store and service on the
// fixture's database, as another replica of the server does: the two
// share nothing but the database.
func (f *fixture) replica() *fixture {
	f.t.Helper()
	store, svc, err := f.env.Replica(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { store.Close() })
	g := *f
	if g.ui, err = New(Options{Service: svc, Deliveries: f.log}); err != nil {
		f.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", g.ui.Handler())
	g.srv = httptest.NewServer(mux)
	f.t.Cleanup(g.srv.Close)
	return &g
}

// on returns a browser with b's cookies that talks to g. Cookies do not
// depend on the port, so the session cookie set by one replica is sent to
// the other, as behind a load balancer.
func (b *browser) on(g *fixture) *browser {
	return &browser{f: g, client: b.client, origin: g.srv.URL}
}

func TestSessionsSharedByReplicas(t *testing.T) {
	f := newFixture(t)
	g := f.replica()
	a := f.signIn("bob")
	id := sessionID(t, a, f)
	b := a.on(g)

	// The replica serves the pages of a session it did not open.
	for _, path := range []string{"/ui/", "/ui/audit", "/ui/promotions/" + f.demo.Awaiting} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("GET %s on the other replica = %d to %q, want 200", path, p.status, p.header.Get("Location"))
		}
		if got := text(p.one(t, "signed-in-as")); got != "bob (approver)" {
			t.Errorf("GET %s on the other replica: signed in as %q, want bob (approver)", path, got)
		}
	}

	// A form shown by one replica is accepted by the other: the form
	// token is the session's, kept in the store.
	p := a.get(Prefix + "/promotions/" + f.demo.Awaiting)
	digest := attr(findAll(p.one(t, "approve-form"), func(n *html.Node) bool { return attr(n, "name") == "digest" })[0], "value")
	res := b.post(Prefix+"/promotions/"+f.demo.Awaiting+"/approve", url.Values{"csrf": {p.csrf(t)}, "digest": {digest}, "comment": {"from the other replica"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("approve on the other replica = %d:\n%s", res.status, res.body)
	}
	if got := f.promotionState(f.demo.Awaiting); got != promote.StateApproved {
		t.Errorf("state after the approval on the other replica = %s, want approved", got)
	}
	// A wrong form token is still refused there.
	if res := b.post(Prefix+"/logout", url.Values{"csrf": {strings.Repeat("ab", 32)}}); res.status != http.StatusForbidden {
		t.Errorf("sign out with a wrong form token on the other replica = %d, want 403", res.status)
	}

	// A restarted UI (a new instance over the same store) keeps it too.
	restarted, err := New(Options{Service: f.env.Service})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, Prefix+"/", nil)
	for _, c := range a.client.Jar.Cookies(mustURL(t, f.srv.URL+Prefix+"/")) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	restarted.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("GET /ui/ after a restart = %d, want 200", rec.Code)
	}

	// Signing out on one replica ends the session on both.
	home := b.get(Prefix + "/")
	if out := b.post(Prefix+"/logout", url.Values{"csrf": {home.csrf(t)}}); out.status != http.StatusSeeOther {
		t.Fatalf("sign out on the other replica = %d", out.status)
	}
	// The browsers share a jar, whose cookie the sign-out cleared: send
	// the old cookie again, as a copy of it kept elsewhere would be.
	req = httptest.NewRequest(http.MethodGet, Prefix+"/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
	rec = httptest.NewRecorder()
	f.ui.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), Prefix+"/login") {
		t.Errorf("GET /ui/ on the first replica after signing out on the other = %d to %q, want a redirect to sign in",
			rec.Code, rec.Header().Get("Location"))
	}
}

// TestSessionStoredByHash checks that the store holds the hash of the
// session ID, never the ID that the cookie carries.
func TestSessionStoredByHash(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	id := sessionID(t, b, f)
	sum := sha256.Sum256([]byte(id))
	var n int
	if err := f.rawDB().QueryRowContext(t.Context(), "SELECT count(*) FROM ui_sessions WHERE id_hash = ?", hex.EncodeToString(sum[:])).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("sessions stored under the ID's hash = %d, want 1", n)
	}
	if err := f.rawDB().QueryRowContext(t.Context(), "SELECT count(*) FROM ui_sessions WHERE id_hash = ? OR token_hash = ? OR csrf = ?", id, id, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("sessions that store the ID itself = %d, want 0", n)
	}
}

// sessionID returns the session cookie's value in b's jar, set by f.
func sessionID(t *testing.T, b *browser, f *fixture) string {
	t.Helper()
	for _, c := range b.client.Jar.Cookies(mustURL(t, f.srv.URL+Prefix+"/")) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSessionExpires(t *testing.T) {
	clock := webuitest.NewClock(webuitest.Start)
	f := newFixture(t, func(o *Options) { o.Now, o.SessionTTL = clock.Now, time.Hour })
	b := f.signIn("vera")
	clock.Advance(time.Hour - time.Second)
	if p := b.get(Prefix + "/"); p.status != http.StatusOK {
		t.Fatalf("GET /ui/ a second before the session expires = %d, want 200", p.status)
	}
	clock.Advance(time.Second)
	if p := b.get(Prefix + "/"); p.status != http.StatusSeeOther {
		t.Errorf("GET /ui/ when the session expires = %d, want a redirect to sign in", p.status)
	}
	// The next sign-in sweeps the expired session from the store.
	f.signIn("bob")
	var n int
	if err := f.rawDB().QueryRowContext(t.Context(), "SELECT count(*) FROM ui_sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("sessions stored after a sign-in swept the expired one = %d, want 1", n)
	}
}
