package webui

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/promote-ml/promote/internal/browsertest"
	"github.com/promote-ml/promote/internal/httpapi"
)

// followEveryTest is the follow interval of TestBrowserFollowKeepsTyping's
// site: a second, so that the test waits a few seconds, not tens.
const followEveryTest = time.Second

func withFollowEvery(t *testing.T, s *liveSite, ui *Options, api *httpapi.Options) {
	ui.FollowEvery = followEveryTest
}

// A followed rollout's page loads itself again, unless the person is
// filling in a form on it: what an approver types in a reason survives
// the interval, and the page says that it stopped reloading and how to
// see the latest. An untouched page, and one whose form is left as it
// came, still reloads; so does one in a browser without JavaScript,
// through the meta refresh.
func TestBrowserFollowKeepsTyping(t *testing.T) {
	site := startLiveSite(t, withSteering, withFollowEvery)
	b := browsertest.Start(t)
	path := Prefix + "/promotions/" + site.Steering.ID + "?follow=1"
	site.signIn(t, b.Tab(t), "bob", path) // the tabs below share bob's session

	t.Run("an untouched page reloads", func(t *testing.T) {
		tab := openFollowed(t, b, site.URL+path)
		var every string
		tab.Eval(`document.querySelector('script[src="/ui/static/follow.js"]')?.dataset.every ?? ""`, &every)
		if every != "1" {
			t.Errorf("the follow script's data-every = %q, want 1", every)
		}
		if got := tab.Text("[data-testid=refresh-note]"); got != "" {
			t.Errorf("the note of an untouched page = %q, want none", got)
		}
		tab.waitReload(t, "untouched")
	})

	t.Run("typing pauses it", func(t *testing.T) {
		tab := openFollowed(t, b, site.URL+path)
		const reason = "checking the dashboards first"
		tab.Fill("#steer-reason", reason)
		tab.staysPut(t, "typing in the reason")
		if got := tab.Value("#steer-reason"); got != reason {
			t.Errorf("the reason after the interval = %q, want %q", got, reason)
		}
		// The note is a status, which a screen reader announces.
		if role, _ := tab.Attr("[data-testid=refresh-note]", "role"); role != "status" {
			t.Errorf("the note's role = %q, want status", role)
		}
		if n := len(tab.AccessibleNames("status")); n != 1 {
			t.Errorf("the accessibility tree holds %d statuses, want 1: the note", n)
		}
		// What was typed holds the page without the focus too.
		tab.Eval(`document.activeElement.blur(), true`, nil)
		time.Sleep(2 * followEveryTest)
		if tab.reloaded() || tab.Value("#steer-reason") != reason {
			t.Fatalf("the page loaded again once the typed reason lost the focus")
		}
		// Back as the page came, and away from the form: it reloads.
		tab.Eval(`document.querySelector("#steer-reason").value = ""`, nil)
		tab.waitReload(t, "the reason emptied again")
	})

	t.Run("the focus in a form pauses it", func(t *testing.T) {
		tab := openFollowed(t, b, site.URL+path)
		tab.Focus("#rollout-pause")
		tab.staysPut(t, "the focus on the pause button")
	})

	t.Run("opening the abort pauses it", func(t *testing.T) {
		tab := openFollowed(t, b, site.URL+path)
		tab.Click("#abort summary")
		tab.Eval(`document.activeElement.blur(), true`, nil)
		tab.staysPut(t, "the abort opened")
		var open bool
		tab.Eval(`document.querySelector("#abort").open`, &open)
		if !open {
			t.Errorf("the abort's disclosure closed")
		}
	})

	t.Run("without JavaScript the meta refresh reloads", func(t *testing.T) {
		nojs := b.Tab(t) // bob's session
		var loads atomic.Int32
		err := chromedp.Listen(nojs.Context(), func(ev any) {
			if _, ok := ev.(*cdppage.EventLoadEventFired); ok {
				loads.Add(1)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(nojs.Context(), emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		nojs.Navigate(site.URL+path, "#steer-reason")
		first := loads.Load()
		for deadline := time.Now().Add(5 * followEveryTest); loads.Load() == first; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("without JavaScript the followed page did not load again within %v", 5*followEveryTest)
			}
		}
	})
}

// followedTab is a tab on a followed page, whose document it marked: a
// reload drops the mark.
type followedTab struct{ *browsertest.Tab }

func openFollowed(t *testing.T, b *browsertest.Browser, url string) followedTab {
	t.Helper()
	tab := b.Tab(t)
	tab.Navigate(url, "#steer-reason")
	tab.Eval(`window.promoteLoaded = true`, nil)
	return followedTab{tab}
}

func (tab followedTab) reloaded() bool {
	var marked bool
	tab.Eval(`window.promoteLoaded === true`, &marked)
	return !marked
}

// waitReload waits up to a few intervals for a reload.
func (tab followedTab) waitReload(t *testing.T, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * followEveryTest); !tab.reloaded(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the followed page did not load again within %v", what, 5*followEveryTest)
		}
	}
}

// staysPut waits until the page says its refresh is paused, then two
// intervals more, and checks that it never reloaded.
func (tab followedTab) staysPut(t *testing.T, what string) {
	t.Helper()
	const want = "Auto-refresh paused while you fill in a form: reload the page to see the latest."
	deadline := time.Now().Add(5 * followEveryTest)
	for tab.Text("[data-testid=refresh-note]") != want {
		if tab.reloaded() {
			t.Fatalf("%s: the page loaded again", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the note = %q after %v, want %q", what, tab.Text("[data-testid=refresh-note]"), 5*followEveryTest, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * followEveryTest)
	if tab.reloaded() {
		t.Fatalf("%s: the page loaded again", what)
	}
}
