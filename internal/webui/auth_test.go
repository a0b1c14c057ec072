package webui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	t.Run("good token", func(t *testing.T) {
		b := f.browser()
		login := b.get(Prefix + "/login?next=" + url.QueryEscape("/ui/audit?model=credit-risk"))
		res := b.post(Prefix+"/login", url.Values{"csrf": {login.csrf(t)}, "token": {f.env.Tokens["vera"]}, "next": {"/ui/audit?model=credit-risk"}})
		if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/audit?model=credit-risk" {
			t.Fatalf("sign in = %d to %q, want 303 to the page asked for", res.status, res.header.Get("Location"))
		}
		var session *http.Cookie
		for _, c := range (&http.Response{Header: res.header}).Cookies() {
			if c.Name == sessionCookie && c.Value != "" {
				session = c
			}
		}
		if session == nil {
			t.Fatalf("no session cookie: %v", res.header["Set-Cookie"])
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui" || session.Secure || len(session.Value) != 64 {
			t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/ui, not Secure over plain HTTP, 256-bit ID", session)
		}
		if strings.Contains(strings.Join(res.header["Set-Cookie"], " "), f.env.Tokens["vera"]) {
			t.Error("the token is in a cookie")
		}
		if p := b.get(Prefix + "/"); p.status != http.StatusOK || text(p.one(t, "signed-in-as")) != "vera (viewer)" {
			t.Errorf("pipeline after sign in = %d", p.status)
		}
		// Signing out ends the session on the server.
		home := b.get(Prefix + "/")
		if out := b.post(Prefix+"/logout", url.Values{"csrf": {home.csrf(t)}}); out.status != http.StatusSeeOther {
			t.Errorf("sign out = %d", out.status)
		}
		if p := b.get(Prefix + "/"); p.status != http.StatusSeeOther {
			t.Errorf("pipeline after sign out = %d, want a redirect to sign in", p.status)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		b := f.browser()
		login := b.get(Prefix + "/login")
		res := b.post(Prefix+"/login", url.Values{"csrf": {login.csrf(t)}, "token": {"prm_not-a-token"}})
		if res.status != http.StatusUnauthorized || !strings.Contains(text(res.one(t, "error")), "not valid") {
			t.Errorf("bad token = %d, want 401 with a message:\n%s", res.status, res.body)
		}
		if strings.Contains(strings.Join(res.header["Set-Cookie"], " "), sessionCookie+"=") {
			t.Errorf("a session cookie was set: %v", res.header["Set-Cookie"])
		}
		if p := b.get(Prefix + "/"); p.status != http.StatusSeeOther {
			t.Errorf("pipeline after a bad token = %d, want a redirect", p.status)
		}
	})
	t.Run("no login form token", func(t *testing.T) {
		b := f.browser()
		b.get(Prefix + "/login")
		res := b.post(Prefix+"/login", url.Values{"token": {f.env.Tokens["vera"]}})
		if res.status != http.StatusForbidden {
			t.Errorf("sign in without the form token = %d, want 403", res.status)
		}
		// The field matches but there is no cookie: a cross-site form.
		other := f.browser()
		token := b.get(Prefix + "/login").csrf(t)
		if res := other.post(Prefix+"/login", url.Values{"csrf": {token}, "token": {f.env.Tokens["vera"]}}); res.status != http.StatusForbidden {
			t.Errorf("sign in without the login cookie = %d, want 403", res.status)
		}
	})
	t.Run("secure cookies", func(t *testing.T) {
		g := newFixture(t, func(o *Options) { o.SecureCookies = true })
		b := g.browser()
		login := b.get(Prefix + "/login")
		if !strings.Contains(strings.Join(login.header["Set-Cookie"], " "), "Secure") {
			t.Errorf("login cookie without Secure: %v", login.header["Set-Cookie"])
		}
	})
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/ui/audit?model=m", "/ui/audit?model=m"},
		{"/ui/promotions/pr_1", "/ui/promotions/pr_1"},
		{"", "/ui/"},
		{"//evil.example/ui/", "/ui/"},
		{"https://evil.example/ui/", "/ui/"},
		{"/\\evil.example", "/ui/"},
		{"/api/v1/models", "/ui/"},
		{"/ui/../api/v1/tokens", "/ui/"},
		{"/ui/login", "/ui/"},
		{"javascript:alert(1)", "/ui/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.next); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestSignedOutRedirects(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	for _, path := range []string{"/ui/", "/ui/audit?actor=bob", "/ui/promotions/" + f.demo.Awaiting, "/ui/webhooks"} {
		res := b.get(path)
		if want := "/ui/login?next=" + url.QueryEscape(path); res.status != http.StatusSeeOther || res.header.Get("Location") != want {
			t.Errorf("GET %s signed out = %d to %q, want 303 to %q", path, res.status, res.header.Get("Location"), want)
		}
	}
	// A form sent without a session changes nothing.
	before := f.auditCount()
	if res := b.post("/ui/promotions/"+f.demo.Awaiting+"/approve", url.Values{"csrf": {strings.Repeat("0", 64)}}); res.status != http.StatusUnauthorized {
		t.Errorf("approve signed out = %d, want 401", res.status)
	}
	if f.auditCount() != before || f.promotionState(f.demo.Awaiting) != promote.StateAwaitingApproval {
		t.Error("a signed-out form changed something")
	}
}

// TestSessionEndedWhileDeciding: an approver whose session ended while the
// promotion's page was open (it lasts 12 hours; a phone keeps the tab)
// sends the approve form. The answer says nothing was changed and links to
// the sign-in form, which comes back to the promotion.
func TestSessionEndedWhileDeciding(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	form := url.Values{"csrf": {p.csrf(t)}, "digest": {text(p.one(t, "digest"))}}
	if res := b.post(Prefix+"/logout", url.Values{"csrf": {p.csrf(t)}}); res.status != http.StatusSeeOther {
		t.Fatalf("sign out = %d", res.status)
	}
	res := b.post(Prefix+"/promotions/"+f.demo.Awaiting+"/approve", form)
	if res.status != http.StatusUnauthorized {
		t.Fatalf("approve after the session ended = %d, want 401:\n%s", res.status, res.body)
	}
	if got := text(res.one(t, "error-message")); !strings.Contains(got, "nothing was changed") {
		t.Errorf("message = %q, want it to say nothing was changed", got)
	}
	next := Prefix + "/promotions/" + f.demo.Awaiting
	link := attr(res.one(t, "sign-in-again"), "href")
	if want := Prefix + "/login?next=" + url.QueryEscape(next); link != want {
		t.Fatalf("sign-in link = %q, want %q", link, want)
	}
	login := b.get(link)
	in := b.post(Prefix+"/login", url.Values{"csrf": {login.csrf(t)}, "token": {f.env.Tokens["bob"]}, "next": {next}})
	if in.status != http.StatusSeeOther || in.header.Get("Location") != next {
		t.Errorf("sign in from the link = %d to %q, want 303 to %q", in.status, in.header.Get("Location"), next)
	}
	if !strings.Contains(login.body, `name="next" value="`+next+`"`) {
		t.Errorf("the sign-in form does not carry next=%s", next)
	}
	// Sign out on a page whose session has ended is done already.
	stale := f.browser()
	if res := stale.post(Prefix+"/logout", url.Values{"csrf": {p.csrf(t)}}); res.status != http.StatusSeeOther || res.header.Get("Location") != Prefix+"/login" {
		t.Errorf("sign out without a session = %d to %q, want 303 to the sign-in page", res.status, res.header.Get("Location"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	for _, path := range []string{"/ui/", "/ui/login", "/ui/audit", "/ui/promotions/" + f.demo.RolledBack, "/ui/nope", "/ui/static/style.css"} {
		res := b.get(path)
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if got := res.header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", path, k, got, want)
			}
		}
		if csp := res.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy = %q", path, csp)
		}
		if strings.Contains(res.body, "<script") || strings.Contains(res.body, " style=") || strings.Contains(res.body, "<style") {
			t.Errorf("GET %s: inline script or style, which the policy forbids", path)
		}
	}
}

// decide posts the approve or reject form of a promotion as b, with the
// page's form token unless csrf is given.
func decide(t *testing.T, b *browser, id, action string, form url.Values) page {
	t.Helper()
	p := b.get(Prefix + "/promotions/" + id)
	if form.Get("csrf") == "" && !form.Has("csrf") {
		form.Set("csrf", p.csrf(t))
	}
	return b.post(Prefix+"/promotions/"+id+"/"+action, form)
}

func TestApproveThroughTheForm(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	btn := p.one(t, "approve-button")
	if attr(btn, "type") != "submit" || text(btn) != "Approve" {
		t.Errorf("approve button = %v", btn.Attr)
	}
	digest := attr(findAll(p.one(t, "approve-form"), func(n *html.Node) bool { return attr(n, "name") == "digest" })[0], "value")
	before := f.auditCount()
	res := b.post(Prefix+"/promotions/"+f.demo.Awaiting+"/approve", url.Values{"csrf": {p.csrf(t)}, "digest": {digest}, "comment": {"checked the latency"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/ui/promotions/"+f.demo.Awaiting {
		t.Fatalf("approve = %d to %q:\n%s", res.status, res.header.Get("Location"), res.body)
	}
	if got := f.promotionState(f.demo.Awaiting); got != promote.StateApproved {
		t.Errorf("state after approval = %s, want approved", got)
	}
	if f.auditCount() <= before {
		t.Error("no audit event written")
	}
	events, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: f.demo.Awaiting, Action: promote.ActionPromotionApproval})
	if err != nil || len(events) != 1 || events[0].Actor != "bob" || events[0].Decision != "approved" || events[0].Digest != digest {
		t.Errorf("approval events = %+v, %v", events, err)
	}
	after := b.get(res.header.Get("Location"))
	if got := attr(after.one(t, "state"), "data-state"); got != "approved" {
		t.Errorf("page state after approval = %q", got)
	}
	rows := after.all("approval-row")
	if len(rows) != 1 || !strings.Contains(text(rows[0]), "bob") || !strings.Contains(text(rows[0]), "checked the latency") {
		t.Errorf("approvals table = %d rows", len(rows))
	}
	if len(after.all("approve-button")) != 0 {
		t.Error("the approve button is still offered")
	}
	// The history on the audit page shows it.
	audit := b.get(Prefix + "/audit?action=promotion.approval&actor=bob")
	if rows := audit.all("audit-row"); len(rows) == 0 || !strings.Contains(text(rows[0]), f.demo.Awaiting) {
		t.Errorf("audit page lacks bob's approval")
	}
}

func TestRejectThroughTheForm(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("carol")
	res := decide(t, b, f.demo.Awaiting, "reject", url.Values{"reason": {"latency regression in the shadow run"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("reject = %d:\n%s", res.status, res.body)
	}
	if got := f.promotionState(f.demo.Awaiting); got != promote.StateCancelled {
		t.Errorf("state after rejection = %s, want cancelled", got)
	}
	events, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: f.demo.Awaiting, Action: promote.ActionPromotionApproval})
	if err != nil || len(events) != 1 || events[0].Actor != "carol" || events[0].Decision != "rejected" {
		t.Errorf("rejection events = %+v, %v", events, err)
	}
	holds, _ := f.env.Service.Holds(t.Context(), promote.HoldFilter{Model: "credit-risk", Version: "2", Environment: "prod"})
	if len(holds) != 1 {
		t.Errorf("holds after rejection = %d, want 1", len(holds))
	}
	page := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	if got := text(page.one(t, "reason")); !strings.Contains(got, "latency regression in the shadow run") {
		t.Errorf("reason shown = %q", got)
	}
}

// TestDecisionSentTwice sends a decision's form twice, as a double click
// or a second tap on a slow network does: the browser shows the answer to
// the second, which must say the decision was made, not refuse it. The
// decision is recorded once; a different second decision is still refused.
func TestDecisionSentTwice(t *testing.T) {
	tests := []struct {
		name   string
		action string
		form   url.Values
	}{
		{"approve", "approve", url.Values{"comment": {"checked the latency"}}},
		{"approve without a comment", "approve", url.Values{}},
		{"reject", "reject", url.Values{"reason": {"latency regression in the shadow run"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			b := f.signIn("carol")
			p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
			form := url.Values{"csrf": {p.csrf(t)}}
			for k, v := range tt.form {
				form[k] = v
			}
			if tt.action == "approve" {
				form.Set("digest", text(p.one(t, "digest")))
			}
			path := Prefix + "/promotions/" + f.demo.Awaiting + "/" + tt.action
			for i := 1; i <= 2; i++ {
				res := b.post(path, form)
				if res.status != http.StatusSeeOther || res.header.Get("Location") != Prefix+"/promotions/"+f.demo.Awaiting {
					t.Fatalf("POST %s, time %d = %d to %q, want 303 to the promotion:\n%s", path, i, res.status, res.header.Get("Location"), res.body)
				}
			}
			events, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: f.demo.Awaiting, Action: promote.ActionPromotionApproval})
			if err != nil || len(events) != 1 {
				t.Errorf("decision events = %+v, %v; want one", events, err)
			}
			// Another decision by the same person is refused, as before.
			other := url.Values{"csrf": form["csrf"], "reason": {"changed my mind"}}
			otherPath := Prefix + "/promotions/" + f.demo.Awaiting + "/reject"
			if tt.action == "reject" {
				other = url.Values{"csrf": form["csrf"], "digest": {text(p.one(t, "digest"))}}
				otherPath = Prefix + "/promotions/" + f.demo.Awaiting + "/approve"
			}
			if res := b.post(otherPath, other); res.status != http.StatusConflict {
				t.Errorf("a different second decision = %d, want 409:\n%s", res.status, res.body)
			}
		})
	}
	t.Run("another comment", func(t *testing.T) {
		f := newFixture(t)
		b := f.signIn("carol")
		p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
		form := url.Values{"csrf": {p.csrf(t)}, "digest": {text(p.one(t, "digest"))}, "comment": {"first"}}
		path := Prefix + "/promotions/" + f.demo.Awaiting + "/approve"
		if res := b.post(path, form); res.status != http.StatusSeeOther {
			t.Fatalf("approve = %d:\n%s", res.status, res.body)
		}
		form.Set("comment", "second thoughts")
		if res := b.post(path, form); res.status != http.StatusConflict {
			t.Errorf("an approval with another comment after the first = %d, want 409 (the second comment is not recorded)", res.status)
		}
	})
}

func TestDecisionsRefused(t *testing.T) {
	f := newFixture(t)
	// bob requests a promotion himself: it supersedes alice's.
	own, err := f.env.Service.RequestPromotion(t.Context(), f.env.Principals["bob"], registry.PromoteRequest{Model: "credit-risk", Version: "2", Environment: "prod"})
	if err != nil || own.State != promote.StateAwaitingApproval {
		t.Fatalf("bob's request = %s, %v", own.State, err)
	}
	tests := []struct {
		name    string
		as      string
		id      string
		action  string
		form    url.Values
		origin  string
		status  int
		message string
	}{
		{"viewer approves", "vera", own.ID, "approve", url.Values{"digest": {own.Digest}}, "", http.StatusForbidden, "needs the approver role"},
		{"submitter rejects", "alice", own.ID, "reject", url.Values{"reason": {"no"}}, "", http.StatusForbidden, "needs the approver role"},
		{"self-approval", "bob", own.ID, "approve", url.Values{"digest": {own.Digest}}, "", http.StatusForbidden, "may not approve it; another person must"},
		{"wrong state", "carol", f.demo.Succeeded, "approve", url.Values{"digest": {own.Digest}}, "", http.StatusConflict, "only a promotion awaiting approval"},
		{"wrong digest", "carol", own.ID, "approve", url.Values{"digest": {"sha256:" + strings.Repeat("0", 64)}}, "", http.StatusConflict, "look again before approving"},
		{"rejection without reason", "carol", own.ID, "reject", url.Values{"reason": {"  "}}, "", http.StatusBadRequest, "needs a reason"},
		{"no form token", "carol", own.ID, "approve", url.Values{"digest": {own.Digest}, "csrf": {""}}, "", http.StatusForbidden, "security token is missing or wrong"},
		{"wrong form token", "carol", own.ID, "approve", url.Values{"digest": {own.Digest}, "csrf": {strings.Repeat("ab", 32)}}, "", http.StatusForbidden, "security token is missing or wrong"},
		{"another origin", "carol", own.ID, "approve", url.Values{"digest": {own.Digest}}, "https://evil.example", http.StatusForbidden, "sent from another site"},
		{"unknown promotion", "carol", "pr_nope", "approve", url.Values{"digest": {own.Digest}, "csrf": {""}}, "", http.StatusForbidden, "security token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := f.signIn(tt.as)
			if tt.origin != "" {
				b.origin = tt.origin
			}
			before, state := f.auditCount(), f.promotionState(own.ID)
			p := b.get(Prefix + "/promotions/" + own.ID)
			if tt.form.Get("csrf") == "" && !tt.form.Has("csrf") {
				tt.form.Set("csrf", p.csrf(t))
			}
			res := b.post(Prefix+"/promotions/"+tt.id+"/"+tt.action, tt.form)
			if res.status != tt.status {
				t.Fatalf("%s = %d, want %d:\n%s", tt.name, res.status, tt.status, res.body)
			}
			msg := res.all("error")
			if len(msg) == 0 {
				msg = res.all("error-message")
			}
			if len(msg) != 1 || !strings.Contains(text(msg[0]), tt.message) {
				t.Errorf("message = %v, want one containing %q:\n%s", len(msg), tt.message, res.body)
			}
			if f.auditCount() != before || f.promotionState(own.ID) != state {
				t.Errorf("%s changed something: audit %d → %d, state %s → %s", tt.name, before, f.auditCount(), state, f.promotionState(own.ID))
			}
		})
	}
	t.Run("viewer sees no forms", func(t *testing.T) {
		p := f.signIn("vera").get(Prefix + "/promotions/" + own.ID)
		if len(p.all("approve-button")) != 0 || len(p.all("reject-button")) != 0 || len(p.all("no-decide")) != 1 {
			t.Error("a viewer is offered the approve or reject form")
		}
	})
	t.Run("body too large", func(t *testing.T) {
		b := f.signIn("carol")
		p := b.get(Prefix + "/promotions/" + own.ID)
		res := b.post(Prefix+"/promotions/"+own.ID+"/reject", url.Values{"csrf": {p.csrf(t)}, "reason": {strings.Repeat("x", 100<<10)}})
		if res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("a 100 KiB form = %d, want 413, as the API answers", res.status)
		}
		msg := res.all("error-message")
		if len(msg) != 1 || !strings.Contains(text(msg[0]), "larger than the limit of 65536 bytes (64 KiB)") || !strings.Contains(text(msg[0]), "nothing was changed") {
			t.Errorf("a 100 KiB form's page says %v, want that the form was too large and nothing changed:\n%s", len(msg), res.body)
		}
		if f.promotionState(own.ID) != promote.StateAwaitingApproval {
			t.Error("a too-large form changed the promotion")
		}
	})
}

func TestRevokedTokenEndsSessions(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	if p := b.get(Prefix + "/"); p.status != http.StatusOK {
		t.Fatalf("pipeline before the revocation = %d, want 200", p.status)
	}
	ctx := t.Context()
	root := f.env.Principals["root"]
	tokens, err := f.env.Service.Tokens(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	revoked := false
	for _, tok := range tokens {
		if tok.Name == "vera" {
			if err := f.env.Service.RevokeToken(ctx, root, tok.ID); err != nil {
				t.Fatal(err)
			}
			revoked = true
		}
	}
	if !revoked {
		t.Fatal("no token named vera")
	}
	p := b.get(Prefix + "/")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), Prefix+"/login") {
		t.Fatalf("pipeline after the revocation = %d to %q, want a redirect to sign in", p.status, p.header.Get("Location"))
	}
	// Signing in again with the revoked token is refused too.
	login := b.get(Prefix + "/login")
	res := b.post(Prefix+"/login", url.Values{"csrf": {login.csrf(t)}, "token": {f.env.Tokens["vera"]}})
	if res.status != http.StatusUnauthorized {
		t.Errorf("sign in with the revoked token = %d, want 401", res.status)
	}
}
