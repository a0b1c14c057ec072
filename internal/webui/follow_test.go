package webui

import (
	"strings"
	"testing"
)

// A person may follow an active rollout: with ?follow=1 the promotion page
// loads itself again every 10 seconds, and says how to stop. Without it,
// or once the rollout has ended, the page never reloads by itself.
func TestFollowARollout(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("bob")
	f.startRollout(t, b)
	const refresh = `<meta http-equiv="refresh" content="10">`
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
