package webui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// The webhooks page offers an admin the re-send of a delivery whose newest
// attempt failed for good, through a form with the page's CSRF token:
// sent, it records the re-send (a second answers the dispatcher's
// refusal); a viewer sees no form, and a form without the token or from
// another site changes nothing.
func TestResendButton(t *testing.T) {
	var disp *notify.Dispatcher
	f := newFixture(t, func(o *Options) { o.Resender = resenderOf(&disp) })
	var err error
	disp, err = notify.NewDispatcher(notify.DispatcherConfig{Config: notify.Config{Endpoints: []notify.Endpoint{{
		Name: "https://hooks.example.com/promote", URL: "http://127.0.0.1:1/hooks", Secret: []byte("0123456789abcdef")}}}, Store: f.env.Store})
	if err != nil {
		t.Fatal(err)
	}
	action := Prefix + "/webhooks/deliveries/dl_1/resend"

	viewer := f.signIn("vera")
	vp := viewer.get(Prefix + "/webhooks")
	if forms := vp.all("resend-form"); len(forms) != 0 {
		t.Errorf("a viewer sees %d re-send forms, want none", len(forms))
	}
	// A viewer who sends the form anyway is refused.
	if res := viewer.post(action, url.Values{"csrf": {vp.csrf(t)}}); res.status != http.StatusForbidden || !strings.Contains(res.body, "needs the admin role") {
		t.Errorf("re-send by a viewer = %d, want 403 naming the admin role:\n%s", res.status, res.body)
	}
	b := f.signIn("root")
	pg := b.get(Prefix + "/webhooks")
	form := pg.one(t, "resend-form") // the newest of dl_1's attempts failed; the older ones offer none
	if got := attr(form, "action"); got != action {
		t.Errorf("re-send form action = %q, want %q", got, action)
	}
	if res := b.post(action, url.Values{}); res.status != http.StatusForbidden || !strings.Contains(res.body, "Nothing was changed") {
		t.Errorf("re-send without the CSRF token = %d, want 403 changing nothing:\n%s", res.status, res.body)
	}
	b.origin = "https://evil.example"
	if res := b.post(action, url.Values{"csrf": {pg.csrf(t)}}); res.status != http.StatusForbidden {
		t.Errorf("re-send from another site = %d, want 403", res.status)
	}
	b.origin = f.srv.URL
	if n := resends(t, f); n != 0 {
		t.Fatalf("%d re-sends recorded by refused forms, want none", n)
	}
	res := b.post(action, url.Values{"csrf": {pg.csrf(t)}})
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), Prefix+"/webhooks?resent=dl_1&notice=") {
		t.Fatalf("re-send = %d to %q, want 303 to the page", res.status, res.header.Get("Location"))
	}
	if n := resends(t, f); n != 1 {
		t.Errorf("%d re-sends recorded, want 1", n)
	}
	after := b.get(res.header.Get("Location"))
	if got := text(after.one(t, "resent")); !strings.Contains(got, "dl_1 will be sent again") {
		t.Errorf("the page after a re-send says %q", got)
	}
	// The notice is the admin's: a link made by hand, or the admin's
	// link opened in another session, says nothing was re-sent.
	for who, b := range map[string]*browser{"root": b, "vera": viewer} {
		for _, link := range []string{res.header.Get("Location"), Prefix + "/webhooks?resent=dl_1", Prefix + "/webhooks?resent=dl_2&notice=1.0"} {
			if who == "root" && link == res.header.Get("Location") {
				continue
			}
			if p := b.get(link); p.status != http.StatusOK || len(p.all("resent")) != 0 {
				t.Errorf("%s opening %s = %d with %d re-send notices, want 200 and none", who, link, p.status, len(p.all("resent")))
			}
		}
	}
	// The re-send is pending: the page no longer offers it.
	if forms := after.all("resend-form"); len(forms) != 0 {
		t.Errorf("the page offers %d re-send forms after the re-send was asked for, want none", len(forms))
	}
	if got := text(after.one(t, "resend-pending")); got != "re-send pending" {
		t.Errorf("the pending re-send shows %q", got)
	}
	if res := b.post(action, url.Values{"csrf": {pg.csrf(t)}}); res.status != http.StatusConflict || !strings.Contains(res.body, "requested already") {
		t.Errorf("re-send again = %d, want 409 saying it is requested already:\n%s", res.status, res.body)
	}
}

// resenderOf resends through the dispatcher *d, made after the UI.
func resenderOf(d **notify.Dispatcher) Resender { return lateResender{d} }

type lateResender struct{ d **notify.Dispatcher }

func (l lateResender) Resend(ctx context.Context, who promote.Principal, id string) (notify.Delivery, error) {
	return (*l.d).Resend(ctx, who, id)
}

// resends counts the re-sends pending in the fixture's store.
func resends(t *testing.T, f *fixture) int {
	t.Helper()
	var rs []promote.WebhookResend
	if err := f.env.Store.View(t.Context(), func(tx promote.Tx) (err error) {
		rs, err = tx.WebhookResends("https://hooks.example.com/promote")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// On a server that sends no webhooks, a re-send is refused as such to an
// admin, and for the missing role to anyone else: the answer to a lower
// role does not depend on the server's set-up.
func TestResendWithoutWebhooks(t *testing.T) {
	f := newFixture(t)
	action := Prefix + "/webhooks/deliveries/dl_1/resend"
	for _, tt := range []struct {
		who    string
		status int
		says   string
	}{
		{"vera", http.StatusForbidden, "needs the admin role"},
		{"root", http.StatusConflict, "sends no webhooks"},
	} {
		b := f.signIn(tt.who)
		pg := b.get(Prefix + "/webhooks")
		if res := b.post(action, url.Values{"csrf": {pg.csrf(t)}}); res.status != tt.status || !strings.Contains(res.body, tt.says) {
			t.Errorf("re-send by %s without webhooks = %d, want %d saying %q:\n%.400s", tt.who, res.status, tt.status, tt.says, res.body)
		}
	}
}
