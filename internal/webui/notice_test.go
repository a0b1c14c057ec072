package webui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The page a steering form redirects to says what the operation did, and
// only to the person who did it, just then: a link made by hand, the
// link opened in another session, the link of another operation or
// another promotion, or the link opened once its time is past, shows no
// notice, and the page is otherwise the same.
func TestSteeredNoticeCannotBeForged(t *testing.T) {
	f, st := newSteerFixture(t)
	f.ui.now = f.env.Clock.Now
	b := f.signIn("bob")
	other := f.signIn("bob") // bob again, in another browser
	path := Prefix + "/promotions/" + st.ID
	form := steerForm(t, b.get(path), "steer-form")
	res := b.post(path+"/rollout/pause", form)
	link := res.header.Get("Location")
	if res.status != http.StatusSeeOther || !strings.HasPrefix(link, path+"?steered=pause&notice=") {
		t.Fatalf("POST pause = %d to %q, want 303 to the promotion with a signed notice:\n%s", res.status, link, res.body)
	}
	const paused = "The rollout is paused: the candidate keeps its weight until someone resumes it."
	if got := text(b.get(link).one(t, "steered")); got != paused {
		t.Errorf("the page after a pause says %q, want %q", got, paused)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	sig := u.Query().Get("notice")
	for _, tt := range []struct {
		name string
		b    *browser
		link string
	}{
		{"made by hand", b, path + "?steered=abort"},
		{"made by hand with a signature", b, path + "?steered=abort&notice=" + sig},
		{"another operation", b, strings.Replace(link, "steered=pause", "steered=promote", 1)},
		{"another promotion", b, strings.Replace(link, st.ID, f.demo.RolledBack, 1)},
		{"another time", b, strings.Replace(link, "notice=", "notice=1", 1)},
		{"no time", b, path + "?steered=pause&notice=" + sig[strings.Index(sig, "."):]},
		{"another session", other, link},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.b.get(tt.link)
			if p.status != http.StatusOK || len(p.all("steered")) != 0 {
				t.Errorf("GET %s = %d with %d notices, want 200 and none", tt.link, p.status, len(p.all("steered")))
			}
		})
	}
	f.env.Clock.Advance(noticeTTL - time.Second)
	if got := b.get(link).all("steered"); len(got) != 1 {
		t.Errorf("the link %v after the pause shows %d notices, want 1", noticeTTL-time.Second, len(got))
	}
	f.env.Clock.Advance(2 * time.Second)
	if got := b.get(link).all("steered"); len(got) != 0 {
		t.Errorf("the link %v after the pause shows %d notices, want none: it is past", noticeTTL+time.Second, len(got))
	}
}
