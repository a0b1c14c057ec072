package webui

import (
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// newSteerFixture is the fixture with the demo's credit-risk 2 rolling out
// to prod and waiting for a person at 10%, and the UI steering rollouts
// through a real rollout controller over the same service.
func newSteerFixture(t *testing.T) (*fixture, *webuitest.Steering) {
	t.Helper()
	f := newFixture(t)
	st, err := f.env.Steer(t.Context(), f.demo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.ui.opts.Rollouts = st.Controller
	return f, st
}

// rolloutOf reads the stored rollout of promotion id.
func (f *fixture) rolloutOf(id string) promote.Rollout {
	f.t.Helper()
	r, err := f.env.Service.Rollout(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// steerForm returns the fields of the page's form with the test ID
// (steer-form, abort-form): its form token and the rollout's revision.
func steerForm(t *testing.T, p page, id string) url.Values {
	t.Helper()
	form := url.Values{}
	for _, in := range findAll(p.one(t, id), func(n *html.Node) bool { return n.Data == "input" && attr(n, "type") == "hidden" }) {
		form.Set(attr(in, "name"), attr(in, "value"))
	}
	if form.Get("csrf") == "" || form.Get("revision") == "" {
		t.Fatalf("%s has no csrf or revision field: %v", id, form)
	}
	return form
}

// buttonTexts returns the texts of the steering buttons shown, by test ID.
func buttonTexts(p page) map[string]string {
	out := map[string]string{}
	for _, id := range []string{"rollout-resume", "rollout-pause", "rollout-promote", "rollout-abort"} {
		if list := p.all(id); len(list) == 1 {
			out[id] = text(list[0])
		}
	}
	return out
}

// An approver moves a rollout that waits for a person on from its page:
// the button says where it goes, the operation goes through the rollout
// controller (traffic, record, audit as the person), and the page says so
// and then offers what the rollout's new state allows.
func TestSteerGoOnFromThePage(t *testing.T) {
	f, st := newSteerFixture(t)
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + st.ID)
	if p.status != http.StatusOK {
		t.Fatalf("GET the promotion = %d", p.status)
	}
	want := map[string]string{"rollout-resume": "Go on to 50%", "rollout-pause": "Pause", "rollout-promote": "Promote now", "rollout-abort": "Abort the rollout"}
	if got := buttonTexts(p); !maps.Equal(got, want) {
		t.Errorf("buttons of a rollout waiting at 10%% = %v, want %v", got, want)
	}
	for _, id := range []string{"rollout-resume", "rollout-pause", "rollout-promote"} {
		if action := attr(p.one(t, id), "formaction"); action != "/ui/promotions/"+st.ID+"/rollout/"+strings.TrimPrefix(id, "rollout-") {
			t.Errorf("%s formaction = %q", id, action)
		}
	}
	before := f.rolloutOf(st.ID)
	form := steerForm(t, p, "steer-form")
	if form.Get("revision") != strconv.FormatInt(before.Revision, 10) {
		t.Errorf("the form's revision = %s, want the rollout's %d", form.Get("revision"), before.Revision)
	}
	form.Set("reason", "dashboards fine")
	res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", form)
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/ui/promotions/"+st.ID+"?steered=resume&notice=") {
		t.Fatalf("POST resume = %d to %q, want 303 to the promotion:\n%s", res.status, res.header.Get("Location"), res.body)
	}
	after := f.rolloutOf(st.ID)
	if after.State != promote.RolloutRunning || after.Step != 1 || after.Weight != 0.5 || after.WaitsForPerson() || st.Splitter.Weights() != 0.5 {
		t.Errorf("after go on the rollout is %s at step %d weight %g (needs %+v), splitter %g; want running at step 2, 50%%",
			after.State, after.Step+1, after.Weight, after.StepNeeds, st.Splitter.Weights())
	}
	events, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{PromotionID: st.ID, Limit: 1})
	if err != nil || len(events) != 1 || events[0].Actor != "bob" || events[0].Decision != "step 2: weight 50%, confirmed by bob: dashboards fine" {
		t.Errorf("newest audit event = %+v, %v; want bob's confirmation with his reason", events, err)
	}

	p = b.get(res.header.Get("Location"))
	if got := text(p.one(t, "steered")); got != "The rollout goes on." {
		t.Errorf("message after go on = %q", got)
	}
	want = map[string]string{"rollout-pause": "Pause", "rollout-promote": "Promote now", "rollout-abort": "Abort the rollout"}
	if got := buttonTexts(p); !maps.Equal(got, want) {
		t.Errorf("buttons of a running rollout = %v, want %v (no resume)", got, want)
	}

	// The same form sent again (a double click): answered as the first,
	// and nothing more changes.
	res = b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", form)
	if res.status != http.StatusSeeOther || f.rolloutOf(st.ID).Revision != after.Revision {
		t.Errorf("the same go on sent again = %d (revision %d, want %d), want 303 and nothing more:\n%s", res.status, f.rolloutOf(st.ID).Revision, after.Revision, res.body)
	}
}

// An operation decided on a page that the rollout has moved on from is
// refused with the controller's error, keeps the reason typed, and
// changes nothing; a pause and a resumption from the page work.
func TestSteerStaleOperationIsRefused(t *testing.T) {
	f, st := newSteerFixture(t)
	bob, carol := f.signIn("bob"), f.signIn("carol")
	old := steerForm(t, carol.get(Prefix+"/promotions/"+st.ID), "steer-form")
	// bob moves it on first.
	if res := bob.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", steerForm(t, bob.get(Prefix+"/promotions/"+st.ID), "steer-form")); res.status != http.StatusSeeOther {
		t.Fatalf("bob's go on = %d:\n%s", res.status, res.body)
	}
	moved := f.rolloutOf(st.ID)
	audits := f.auditCount()
	for _, verb := range []string{"resume", "pause", "promote"} {
		form := url.Values{"csrf": old["csrf"], "revision": old["revision"], "reason": {"carol's " + verb}}
		res := carol.post(Prefix+"/promotions/"+st.ID+"/rollout/"+verb, form)
		if res.status != http.StatusConflict {
			t.Fatalf("carol's stale %s = %d, want 409:\n%s", verb, res.status, res.body)
		}
		if msg := text(res.one(t, "error")); !strings.Contains(msg, "has changed since the operation was decided") || !strings.Contains(msg, "running at 50% (step 2 of 3)") {
			t.Errorf("carol's stale %s says %q; want where the rollout is now", verb, msg)
		}
		if got := text(res.one(t, "steer-form")); !strings.Contains(got, "carol's "+verb) {
			t.Errorf("the form after a refused %s lost the reason typed: %q", verb, got)
		}
		if r := f.rolloutOf(st.ID); r.Revision != moved.Revision || r.Step != 1 || st.Splitter.Weights() != 0.5 || f.auditCount() != audits {
			t.Errorf("after carol's stale %s the rollout is at revision %d step %d, splitter %g, %d audit events; want it as bob left it",
				verb, r.Revision, r.Step+1, st.Splitter.Weights(), f.auditCount()-audits)
		}
	}

	// From the page as it is now: a pause, then a resumption.
	res := carol.post(Prefix+"/promotions/"+st.ID+"/rollout/pause", steerForm(t, carol.get(Prefix+"/promotions/"+st.ID), "steer-form"))
	if r := f.rolloutOf(st.ID); res.status != http.StatusSeeOther || r.State != promote.RolloutPaused || r.Reason != "paused by carol" {
		t.Fatalf("carol's pause = %d, rollout %s (%q); want 303 and paused by carol:\n%s", res.status, r.State, r.Reason, res.body)
	}
	p := carol.get(Prefix + "/promotions/" + st.ID)
	want := map[string]string{"rollout-resume": "Resume", "rollout-promote": "Promote now", "rollout-abort": "Abort the rollout"}
	if got := buttonTexts(p); !maps.Equal(got, want) {
		t.Errorf("buttons of a paused rollout = %v, want %v", got, want)
	}
	// What the resumption does, as the controller that carries it out
	// says (the rollout's next): its step again, at that step's weight.
	if got, does := text(p.one(t, "steer-form")), "Resume runs the rollout again at step 2 of 3, at 50% of the traffic;"; !strings.Contains(got, does) {
		t.Errorf("the steering form of a paused rollout says %q; want %q", got, does)
	}
	res = carol.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", steerForm(t, p, "steer-form"))
	if r := f.rolloutOf(st.ID); res.status != http.StatusSeeOther || r.State != promote.RolloutRunning || r.Step != 1 {
		t.Errorf("carol's resumption = %d, rollout %s at step %d; want 303 and running at step 2", res.status, r.State, r.Step+1)
	}
}

// An abort asks for a reason and for the box ticked that says what it
// does; without either it is refused, the form open with the error, and
// nothing changes. With both the candidate is rolled back.
func TestSteerAbortNeedsReasonAndConfirmation(t *testing.T) {
	f, st := newSteerFixture(t)
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + st.ID)
	if got := text(p.one(t, "abort-form")); !strings.Contains(got, "Roll 2 back: all traffic goes to 1 now") || !strings.Contains(got, "2 is held in prod") {
		t.Errorf("the abort form says %q; want what an abort does", got)
	}
	if attr(p.one(t, "abort"), "open") != "" || len(findAll(p.one(t, "abort"), func(n *html.Node) bool { return n.Data == "details" })) != 1 {
		t.Errorf("the abort form is not a closed disclosure: %v", p.one(t, "abort").Attr)
	}
	before := f.rolloutOf(st.ID)
	for _, tt := range []struct {
		name  string
		form  url.Values
		want  string
		field string // the field marked invalid
	}{
		{"no reason", url.Values{"confirm": {"yes"}}, "say why you abort the rollout", "abort-reason"},
		{"not confirmed", url.Values{"reason": {"wrong feature flags"}}, "tick the box that confirms the abort", "abort-confirm"},
		{"reason too long", url.Values{"confirm": {"yes"}, "reason": {strings.Repeat("x", 1025)}}, "the reason", "abort-reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := steerForm(t, p, "abort-form")
			for k, v := range tt.form {
				form[k] = v
			}
			res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/abort", form)
			if res.status != http.StatusBadRequest || !strings.Contains(text(res.one(t, "abort-error")), tt.want) {
				t.Fatalf("abort with %s = %d; want 400 saying %q:\n%s", tt.name, res.status, tt.want, res.body)
			}
			if _, open := attrOK(res.one(t, "abort"), "open"); !open {
				t.Error("the abort form is closed after its refusal; want it open with the error")
			}
			invalid := findAll(res.doc, func(n *html.Node) bool { return attr(n, "aria-invalid") == "true" })
			if len(invalid) != 1 || attr(invalid[0], "id") != tt.field || attr(invalid[0], "aria-describedby") != tt.field+"-error" {
				t.Errorf("fields marked invalid = %v, want %s alone, described by its error", invalid, tt.field)
			}
			if r := f.rolloutOf(st.ID); r.Revision != before.Revision || st.Splitter.Weights() != 0.1 {
				t.Errorf("after a refused abort the rollout is at revision %d, splitter %g; want it as it was", r.Revision, st.Splitter.Weights())
			}
		})
	}
	form := steerForm(t, p, "abort-form")
	form.Set("reason", "wrong feature flags")
	form.Set("confirm", "yes")
	res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/abort", form)
	r := f.rolloutOf(st.ID)
	if res.status != http.StatusSeeOther || r.State != promote.RolloutRolledBack || r.Reason != "aborted by bob: wrong feature flags" || st.Splitter.Weights() != 0 {
		t.Fatalf("abort = %d, rollout %s (%q), splitter %g; want 303, rolled back by bob with his reason, no traffic:\n%s", res.status, r.State, r.Reason, st.Splitter.Weights(), res.body)
	}
	p = b.get(res.header.Get("Location"))
	if len(p.all("steer")) != 0 || !strings.Contains(text(p.one(t, "steered")), "aborted") {
		t.Errorf("the page after the abort shows steering %d times, says %q; want no buttons and the abort said", len(p.all("steer")), text(p.one(t, "steered")))
	}
}

// The buttons are for the roles the API lets steer a rollout: a viewer or
// a submitter sees none, and a form sent all the same is refused as the
// API refuses it. A server without a rollout controller shows none.
func TestSteerNeedsTheApproverRole(t *testing.T) {
	f, st := newSteerFixture(t)
	bob := steerForm(t, f.signIn("bob").get(Prefix+"/promotions/"+st.ID), "steer-form")
	for _, name := range []string{"vera", "alice"} {
		b := f.signIn(name)
		p := b.get(Prefix + "/promotions/" + st.ID)
		if len(p.all("steer")) != 0 {
			t.Errorf("%s (%s) sees the steering buttons", name, f.env.Principals[name].Role)
		}
		res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", url.Values{"csrf": {p.csrf(t)}, "revision": bob["revision"]})
		if res.status != http.StatusForbidden || !strings.Contains(res.body, "resuming a rollout needs the approver role") {
			t.Errorf("%s's resume = %d; want 403 saying it needs the approver role:\n%s", name, res.status, res.body)
		}
		// An abort without its reason and box is refused for the role too.
		res = b.post(Prefix+"/promotions/"+st.ID+"/rollout/abort", url.Values{"csrf": {p.csrf(t)}})
		if res.status != http.StatusForbidden || !strings.Contains(res.body, "aborting a rollout needs the approver role") {
			t.Errorf("%s's abort with an empty form = %d; want 403 saying it needs the approver role:\n%s", name, res.status, res.body)
		}
	}
	if r := f.rolloutOf(st.ID); !r.WaitsForPerson() || r.Step != 0 {
		t.Errorf("after refused resumes the rollout is %s at step %d; want it waiting at step 1", r.State, r.Step+1)
	}

	f.ui.opts.Rollouts = nil
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + st.ID)
	if len(p.all("steer")) != 0 {
		t.Error("a server without a rollout controller shows the steering buttons")
	}
	res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", url.Values{"csrf": {p.csrf(t)}, "revision": bob["revision"]})
	if res.status != http.StatusConflict || !strings.Contains(res.body, "this server runs no rollout controller") {
		t.Errorf("resume on a server without a controller = %d; want 409 saying so:\n%s", res.status, res.body)
	}
}

// A form without the rollout's revision, or with another word for it, is
// refused and changes nothing; so is one without its form token.
func TestSteerBadForm(t *testing.T) {
	f, st := newSteerFixture(t)
	b := f.signIn("bob")
	form := steerForm(t, b.get(Prefix+"/promotions/"+st.ID), "steer-form")
	before := f.rolloutOf(st.ID)
	for _, tt := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"no revision", url.Values{"csrf": form["csrf"]}, http.StatusBadRequest, "which state of the rollout it was sent from"},
		{"revision not a number", url.Values{"csrf": form["csrf"], "revision": {"latest"}}, http.StatusBadRequest, `(revision &#34;latest&#34;)`},
		{"no form token", url.Values{"revision": form["revision"]}, http.StatusForbidden, "security token is missing or wrong"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", tt.form)
			if res.status != tt.status || !strings.Contains(res.body, tt.want) {
				t.Errorf("resume with %s = %d; want %d saying %q:\n%s", tt.name, res.status, tt.status, tt.want, res.body)
			}
			if r := f.rolloutOf(st.ID); r.Revision != before.Revision {
				t.Errorf("after a refused form the rollout is at revision %d, want %d", r.Revision, before.Revision)
			}
		})
	}
	if res := b.post(Prefix+"/promotions/"+f.demo.Succeeded+"/rollout/pause", url.Values{"csrf": form["csrf"], "revision": {"1"}}); res.status != http.StatusConflict ||
		!strings.Contains(res.body, "has ended: it succeeded") {
		t.Errorf("pause of a rollout that succeeded = %d; want 409 saying it succeeded:\n%s", res.status, res.body)
	}
	if res := b.post(Prefix+"/promotions/pr_none/rollout/pause", url.Values{"csrf": form["csrf"], "revision": {"1"}}); res.status != http.StatusNotFound {
		t.Errorf("pause of an unknown promotion = %d, want 404", res.status)
	}
}

// The pipeline's cell of a rollout that waits for a person says so.
func TestPipelineSaysWaitingForAPerson(t *testing.T) {
	f, _ := newSteerFixture(t)
	p := f.signIn("vera").get(Prefix + "/")
	var cells []string
	for _, n := range p.all("rollout") {
		cells = append(cells, text(n))
	}
	if len(cells) != 1 || cells[0] != "canary 10% · step 1 of 3 · running, waiting for a person" {
		t.Errorf("the pipeline's rollouts = %q, want credit-risk's in prod waiting for a person", cells)
	}
}

// The rollouts list says which rollouts wait for a person.
func TestRolloutsListSaysWaitingForAPerson(t *testing.T) {
	f, st := newSteerFixture(t)
	if got := listRow(t, f.signIn("vera").get(Prefix+"/rollouts"), st.ID); !strings.Contains(got, "running, waiting for a person at 10% (step 1 of 3)") {
		t.Errorf("the waiting rollout's row = %q; want it to say it waits for a person", got)
	}
}

// listRow returns the text of the row of promotion id's rollout in p, a
// page of the rollouts list.
func listRow(t *testing.T, p page, id string) string {
	t.Helper()
	for _, row := range p.all("list-row") {
		if got := text(row); strings.Contains(got, id) {
			return got
		}
	}
	t.Fatalf("no row of %s in the rollouts list:\n%s", id, p.body)
	return ""
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// The message after an operation says what it did: a resumption that
// ended the rollout (the confirmation of its last step) says the
// candidate has all the traffic, as a promotion does.
func TestSteeredWords(t *testing.T) {
	running, succeeded := &promote.Rollout{State: promote.RolloutRunning}, &promote.Rollout{State: promote.RolloutSucceeded}
	for _, tt := range []struct {
		verb string
		r    *promote.Rollout
		want string
	}{
		{"resume", running, "The rollout goes on."},
		{"resume", succeeded, "The rollout is promoted: the candidate has all the traffic."},
		{"pause", running, "The rollout is paused: the candidate keeps its weight until someone resumes it."},
		{"explode", running, ""},
		{"", nil, ""},
	} {
		if got := steeredWords(tt.verb, tt.r); got != tt.want {
			t.Errorf("steeredWords(%q, %v) = %q, want %q", tt.verb, tt.r, got, tt.want)
		}
	}
}

// A person following the rollout who steers it goes on following it: the
// page the form's answer leads to is followed still, and says what the
// form did.
func TestSteerKeepsFollowing(t *testing.T) {
	f, st := newSteerFixture(t)
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + st.ID + "?follow=1")
	if p.status != http.StatusOK {
		t.Fatalf("GET the followed promotion = %d", p.status)
	}
	form := steerForm(t, p, "steer-form")
	if form.Get("follow") != "1" {
		t.Fatalf("the steering form of a followed page sends follow=%q, want 1", form.Get("follow"))
	}
	res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/pause", form)
	loc := res.header.Get("Location")
	if res.status != http.StatusSeeOther || !strings.HasSuffix(loc, "&follow=1") {
		t.Fatalf("POST pause from a followed page = %d to %q, want 303 to the followed promotion", res.status, loc)
	}
	p = b.get(loc)
	if got := text(p.one(t, "steered")); got == "" {
		t.Error("the followed page after the pause says nothing of it")
	}
	if got := text(p.one(t, "rollout-follow")); !strings.HasPrefix(got, "This page loads again") {
		t.Errorf("after the pause the page is no longer followed: %q", got)
	}
	// Not followed: the answer leads to the page unfollowed.
	p = b.get(Prefix + "/promotions/" + st.ID)
	form = steerForm(t, p, "steer-form")
	if form.Has("follow") {
		t.Errorf("the steering form of a page not followed sends follow=%q", form.Get("follow"))
	}
}

// A policy edited since the rollout began (more or fewer steps, other
// weights, another strategy), and the server restarted with it: the
// page's button and its step say what a person's go does as the rollout
// controller will do it, by the plan it carries the rollout on with, the
// rollout's line counts its step among that plan's steps, and the go does
// just that; a go the controller would refuse has no button,
// and the page says why.
func TestSteerAfterThePolicyChanged(t *testing.T) {
	canary := webuitest.CanaryRollout
	tests := []struct {
		name    string
		rollout string // prod's rollout section after the edit
		step    int    // the step the rollout waits at, of the 3 it began with
		button  string // the resume button's text, "" for none
		does    string // how what the button does begins
		ends    bool   // the step says that a go ends the rollout
		of      string // where the rollout's line says the step is ("1 of 3")
		// after is the rollout's state and weight after a go, and
		// status the answer to it: 303, or 409 for a refusal.
		after  promote.RolloutState
		weight float64
		status int
	}{
		{"other weights", canary(10, 25, 100), 0, "Go on to 25%", "Go on to 25% moves the rollout to its next step (step 2) now, at 25%", false, "1 of 3",
			promote.RolloutRunning, 0.25, http.StatusSeeOther},
		{"more steps", canary(10, 20, 50, 100), 0, "Go on to 20%", "Go on to 20% moves the rollout to its next step (step 2)", false, "1 of 4",
			promote.RolloutRunning, 0.2, http.StatusSeeOther},
		{"fewer steps", canary(10, 100), 1, "Confirm", "Confirm gives the candidate all traffic", true, "2 of 2",
			promote.RolloutSucceeded, 1, http.StatusSeeOther},
		{"now a shadow", webuitest.ShadowRollout, 0, "",
			"The rollout of credit-risk 2 in prod cannot be moved on: the policy of prod now rolls out by shadow; this rollout began as a canary", false, "1 of 3",
			promote.RolloutRunning, 0.1, http.StatusConflict},
		{"now direct", "", 0, "",
			"The rollout of credit-risk 2 in prod cannot be moved on: environment prod has no rollout plan in its policy", false, "1 of 3",
			promote.RolloutRunning, 0.1, http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, st := newSteerFixture(t)
			if tt.step > 0 {
				// The old policy's step 2 of 3, at 50%, waits for a
				// person, as its controller recorded it.
				r := f.rolloutOf(st.ID)
				r.Step, r.Weight = tt.step, 0.5
				r.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 2000, MinDuration: 1800, Confirm: true, WaitingForPerson: true}
				if _, err := f.env.Service.RecordRollout(t.Context(), registry.RolloutActor, r, "waiting for a person at 50% (step 2)"); err != nil {
					t.Fatal(err)
				}
			}
			svc, ctl, err := f.env.Restart(st, webuitest.ProdPolicy(tt.rollout))
			if err != nil {
				t.Fatal(err)
			}
			f.ui.svc, f.ui.opts.Service, f.ui.opts.Rollouts = svc, svc, ctl
			b := f.signIn("bob")
			p := b.get(Prefix + "/promotions/" + st.ID)
			if p.status != http.StatusOK {
				t.Fatalf("GET the promotion = %d", p.status)
			}
			if got := buttonTexts(p)["rollout-resume"]; got != tt.button {
				t.Errorf("resume button = %q, want %q", got, tt.button)
			}
			if hint := text(p.one(t, "steer-form")); !strings.Contains(hint, tt.does) {
				t.Errorf("the steering form says %q, want it to say %q", hint, tt.does)
			}
			if state := text(p.one(t, "rollout-state")); !strings.Contains(state, "step "+tt.of+" ·") {
				t.Errorf("the rollout's line says %q, want step %s", state, tt.of)
			}
			// The rollouts list counts the step as the promotion's page
			// does.
			if row := listRow(t, b.get(Prefix+"/rollouts"), st.ID); !strings.Contains(row, "(step "+tt.of+")") {
				t.Errorf("the rollouts list's row = %q, want step %s", row, tt.of)
			}
			// So does the pipeline's cell.
			var cells []string
			for _, n := range b.get(Prefix + "/").all("rollout") {
				cells = append(cells, text(n))
			}
			if len(cells) != 1 || !strings.Contains(cells[0], "· step "+tt.of+" ·") {
				t.Errorf("the pipeline's rollouts = %q, want one saying step %s", cells, tt.of)
			}
			step := text(p.one(t, "rollout-step"))
			if ends := strings.Contains(step, "gives it all traffic and ends the rollout"); ends != tt.ends || !ends && !strings.Contains(step, "moves it to the next step") {
				t.Errorf("the step says %q; want it to say that a go ends the rollout: %v", step, tt.ends)
			}

			before := f.rolloutOf(st.ID)
			res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", steerForm(t, p, "steer-form"))
			if res.status != tt.status {
				t.Errorf("POST resume = %d, want %d:\n%s", res.status, tt.status, res.body)
			}
			after := f.rolloutOf(st.ID)
			if after.State != tt.after || after.Weight != tt.weight || st.Splitter.Weights() != tt.weight {
				t.Errorf("after the go the rollout is %s at %g, splitter %g; want %s at %g", after.State, after.Weight, st.Splitter.Weights(), tt.after, tt.weight)
			}
			if tt.status == http.StatusConflict && after.Revision != before.Revision {
				t.Errorf("a refused go changed the rollout: revision %d, was %d", after.Revision, before.Revision)
			}
		})
	}
}

// A paused canary whose environment's policy now rolls out by shadow,
// and the server restarted with it: the rollout controller refuses its
// resumption as it refuses a go on a rollout waiting for a person, so
// the page has no Resume button and says why, as for a waiting rollout,
// and a resumption sent anyway is refused (409) and changes nothing.
func TestSteerAPausedRolloutAfterTheStrategyChanged(t *testing.T) {
	f, st := newSteerFixture(t)
	b := f.signIn("bob")
	p := b.get(Prefix + "/promotions/" + st.ID)
	if res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/pause", steerForm(t, p, "steer-form")); res.status != http.StatusSeeOther {
		t.Fatalf("POST pause = %d:\n%s", res.status, res.body)
	}
	svc, ctl, err := f.env.Restart(st, webuitest.ProdPolicy(webuitest.ShadowRollout))
	if err != nil {
		t.Fatal(err)
	}
	f.ui.svc, f.ui.opts.Service, f.ui.opts.Rollouts = svc, svc, ctl
	p = b.get(Prefix + "/promotions/" + st.ID)
	if got := buttonTexts(p); got["rollout-resume"] != "" || got["rollout-promote"] == "" {
		t.Errorf("the paused rollout's buttons = %q; want no resume button, promote now still", got)
	}
	const why = "The rollout of credit-risk 2 in prod cannot be moved on: the policy of prod now rolls out by shadow; this rollout began as a canary"
	if hint := text(p.one(t, "steer-form")); !strings.Contains(hint, why) {
		t.Errorf("the steering form says %q, want it to say %q", hint, why)
	}
	// Nor what the step needs from a resumption that is refused.
	if steps := p.all("rollout-step"); len(steps) != 0 {
		t.Errorf("the page says %q of the step; want nothing, its resumption being refused", text(steps[0]))
	}
	before := f.rolloutOf(st.ID)
	if res := b.post(Prefix+"/promotions/"+st.ID+"/rollout/resume", steerForm(t, p, "steer-form")); res.status != http.StatusConflict || !strings.Contains(res.body, "now rolls out by shadow") {
		t.Errorf("POST resume = %d, want 409 saying why:\n%s", res.status, res.body)
	}
	if after := f.rolloutOf(st.ID); after.State != promote.RolloutPaused || after.Revision != before.Revision {
		t.Errorf("after the refused resumption the rollout is %s at revision %d; want paused at revision %d", after.State, after.Revision, before.Revision)
	}
}

// What the Resume button of a paused rollout says it does: a canary gets
// its step's weight again, a shadow (which has no steps) mirrors again.
func TestSteerResumeDoes(t *testing.T) {
	u := &UI{opts: Options{Rollouts: &rollout.Controller{}}}
	s := &session{who: promote.Principal{Name: "lead", Role: promote.RoleApprover}}
	for _, tt := range []struct {
		strategy, want string
	}{
		{policy.StrategyCanary, "Resume gives the candidate its step's weight again; the step's minimum time and requests count again from now."},
		{policy.StrategyShadow, "Resume mirrors requests to the candidate again; the shadow's duration counts again from now."},
	} {
		r := &promote.Rollout{Strategy: tt.strategy, State: promote.RolloutPaused}
		v := u.steering(r, s)
		if v == nil || v.Resume != "Resume" || v.ResumeDoes != tt.want {
			t.Errorf("steering of a paused %s = %+v, want Resume saying %q", tt.strategy, v, tt.want)
		}
	}
}
