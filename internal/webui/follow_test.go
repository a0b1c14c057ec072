package webui

import (
	"strings"
	"testing"
	"time"
)

// A person may follow an active rollout: with ?follow=1 the promotion page
// loads itself again every 10 seconds, and says how to stop. Without it,
// or once the rollout has ended, the page never reloads by itself.
func TestFollowARollout(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("bob")
	f.startRollout(t, b)
	// Without JavaScript the meta refresh reloads the page; with it, the
	// script does, while no form is being filled in
	// (TestBrowserFollowKeepsTyping).
	const refresh = `<noscript><meta http-equiv="refresh" content="10"></noscript>
<script src="/ui/static/follow.js" defer data-every="10"></script>`
	page := Prefix + "/promotions/" + f.demo.Awaiting

	p := b.get(page)
	if strings.Contains(p.body, refresh) {
		t.Errorf("the promotion page reloads itself without being asked")
	}
	if got := text(p.one(t, "rollout-follow")); !strings.Contains(got, "Follow the rollout") {
		t.Errorf("follow = %q, want a link to follow the rollout", got)
	}
	p = b.get(page + "?follow=1")
	if !strings.Contains(p.body, refresh) {
		t.Errorf("a followed rollout's page does not reload itself")
	}
	if got := text(p.one(t, "rollout-follow")); !strings.Contains(got, "Stop following") {
		t.Errorf("follow = %q, want a link to stop following", got)
	}
	// An ended rollout is not followed, asked or not.
	p = b.get(Prefix + "/promotions/" + f.demo.RolledBack + "?follow=1")
	if strings.Contains(p.body, refresh) || strings.Contains(p.body, `data-testid="rollout-follow"`) {
		t.Errorf("an ended rollout's page offers to follow it or reloads itself")
	}
}

// The follow interval is a whole number of seconds, as a meta refresh
// takes; anything else is refused, naming it.
func TestFollowEveryRefused(t *testing.T) {
	f := newFixture(t)
	for _, every := range []time.Duration{-time.Second, 500 * time.Millisecond, 1500 * time.Millisecond} {
		_, err := New(Options{Service: f.env.Service, FollowEvery: every})
		if err == nil || !strings.Contains(err.Error(), "follow interval "+every.String()) {
			t.Errorf("New(FollowEvery: %s) = %v, want an error naming the interval", every, err)
		}
	}
}
