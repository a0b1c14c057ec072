package webui

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/promote-ml/promote/internal/browsertest"
	"github.com/promote-ml/promote/promote"
)

// phoneWidth is the width of a small phone's window, in CSS pixels.
const phoneWidth = 375

// a11yPages are the pages of a signed-in approver that the accessibility
// tests read: every kind of page, with forms, charts and long tables.
func a11yPages(site *liveSite) []string {
	return []string{
		Prefix + "/",
		Prefix + "/promotions/" + site.Demo.Awaiting,
		Prefix + "/promotions/" + site.Demo.RolledBack,
		Prefix + "/promotions/" + site.Demo.Blocked,
		Prefix + "/models/credit-risk",
		Prefix + "/models/credit-risk/versions/2",
		Prefix + "/promotions",
		Prefix + "/rollouts",
		Prefix + "/holds",
		Prefix + "/audit",
		Prefix + "/webhooks",
	}
}

// scrollBox is a box of a page whose content is wider than it, so that it
// scrolls sideways.
type scrollBox struct {
	Desc     string // tag and class
	TabIndex int
	Role     string
	Name     string // the text of its aria-labelledby, or its aria-label
}

// scrollBoxesJS lists the boxes in main that scroll sideways now.
const scrollBoxesJS = `Array.from(document.querySelectorAll("main *")).filter(e => {
	const s = getComputedStyle(e);
	return (s.overflowX === "auto" || s.overflowX === "scroll") && e.scrollWidth > e.clientWidth + 1;
}).map(e => ({
	Desc: e.tagName.toLowerCase() + (e.className ? "." + e.className : ""),
	TabIndex: e.tabIndex,
	Role: e.getAttribute("role") || "",
	Name: ((e.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean)
		.map(id => (document.getElementById(id)?.textContent || "").trim()).join(" ") || e.getAttribute("aria-label") || "").trim(),
}))`

// TestBrowserAccessibility checks what a person who uses the keyboard, a
// screen reader or a phone needs of the pages, beyond TestBrowserKeyboard's
// approval by keyboard and TestBrowserWidths' layout.
func TestBrowserAccessibility(t *testing.T) {
	site := startLiveSite(t)
	b := browsertest.Start(t)
	signedIn := b.Tab(t)
	site.signIn(t, signedIn, "bob", Prefix+"/")

	// On a phone a wide table scrolls in its own box. A box that only a
	// mouse or a finger can scroll hides columns from the keyboard (the
	// gate's verdicts, among others): each such box takes the focus, and
	// is a region named by its table's caption, so that a screen reader
	// says what it is when the focus lands there (WCAG 2.1.1).
	t.Run("a table wider than a phone scrolls by keyboard", func(t *testing.T) {
		tab := b.Tab(t)
		if _, err := chromedp.Run(tab.Context(), chromedp.EmulateViewport(phoneWidth, browsertest.WindowHeight)); err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, path := range a11yPages(site) {
			tab.Navigate(site.URL+path, "main")
			var boxes []scrollBox
			tab.Eval(scrollBoxesJS, &boxes)
			seen += len(boxes)
			for _, box := range boxes {
				if box.TabIndex < 0 || box.Role != "region" || box.Name == "" {
					t.Errorf("%s at %d px: %s scrolls sideways but has tabindex %d, role %q, name %q; want 0, region and its caption",
						path, phoneWidth, box.Desc, box.TabIndex, box.Role, box.Name)
				}
			}
		}
		if seen == 0 {
			t.Fatalf("no box scrolls sideways at %d px on any page; the test checks nothing", phoneWidth)
		}

		// The gate's table, reached with Tab, scrolls with the arrow keys.
		tab.Navigate(site.URL+Prefix+"/promotions/"+site.Demo.Awaiting, "[data-testid=gate-table]")
		const inGate = `document.activeElement.contains(document.querySelector("#gate")) && document.activeElement !== document.body`
		reached := false
		for range 40 {
			tab.PressTab(1)
			tab.Eval(inGate, &reached)
			if reached {
				break
			}
		}
		if !reached {
			t.Fatalf("40 Tabs did not reach the box of the gate's table")
		}
		for range 5 {
			tab.Press(kb.ArrowRight)
		}
		// Keyboard scrolling may be animated: give it a moment.
		var scrolled float64
		for deadline := time.Now().Add(2 * time.Second); scrolled <= 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			tab.Eval(`document.activeElement.scrollLeft`, &scrolled)
		}
		if scrolled <= 0 {
			t.Errorf("the gate's table did not scroll with the right arrow key: scrollLeft = %v", scrolled)
		}
		var ring string
		tab.Eval(`getComputedStyle(document.activeElement).outlineStyle`, &ring)
		if ring != "solid" {
			t.Errorf("the focused box of the gate's table has outline %q, want the focus ring (solid)", ring)
		}
	})
	// The audit page has a pager above its table and one below: two
	// navigation landmarks, which a screen reader lists by name, so the
	// names differ; a page with nothing to page to has none, rather than
	// empty ones.
	t.Run("landmarks are named apart and none is empty", func(t *testing.T) {
		tab := b.Tab(t)
		type landmark struct {
			Role, Name string
			Links      int
		}
		const landmarksJS = `Array.from(document.querySelectorAll("header, nav, main, footer, aside, form[aria-label], section[aria-label], [role]")).filter(e =>
			["header", "nav", "main", "footer", "aside"].includes(e.tagName.toLowerCase()) ||
			["banner", "navigation", "main", "contentinfo", "complementary", "search", "region", "form"].includes(e.getAttribute("role"))
		).map(e => ({
			Role: e.getAttribute("role") || e.tagName.toLowerCase(),
			Name: (e.getAttribute("aria-label") || (e.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean)
				.map(id => (document.getElementById(id)?.textContent || "").trim()).join(" ")).trim(),
			Links: e.querySelectorAll("a[href], button").length,
		}))`
		// A page of promotions after a cursor has its pagers too.
		pages := append(a11yPages(site), Prefix+"/audit?actor=carol&model=churn-predictor", Prefix+"/promotions?before=2")
		navs := 0
		for _, path := range pages {
			tab.Navigate(site.URL+path, "main")
			var marks []landmark
			tab.Eval(landmarksJS, &marks)
			seen := map[string]bool{}
			for _, m := range marks {
				key := m.Role + " " + m.Name
				if seen[key] {
					t.Errorf("%s: two %s landmarks named %q; a screen reader's list of landmarks cannot tell them apart", path, m.Role, m.Name)
				}
				seen[key] = true
				if m.Role == "nav" {
					navs++
					if m.Links == 0 {
						t.Errorf("%s: the navigation landmark %q has no links", path, m.Name)
					}
				}
			}
		}
		if navs < len(pages)+4 {
			t.Errorf("%d navigation landmarks on %d pages, want the main navigation on each and the pagers of the audit log and of the promotions", navs, len(pages))
		}
	})
	// A screen reader lists a page's buttons by name, and says only the
	// name when the focus lands on one: two buttons named alike, such as
	// the webhooks page's Re-send of each failed delivery, cannot be told
	// apart. An admin sees every button there is.
	t.Run("buttons on a page are named apart", func(t *testing.T) {
		tab := b.IsolatedTab(t)
		site.signIn(t, tab, "root", Prefix+"/")
		resends := 0
		for _, path := range a11yPages(site) {
			tab.Navigate(site.URL+path, "main")
			seen := map[string]int{}
			for _, name := range tab.AccessibleNames("button") {
				if strings.HasPrefix(name, "Re-send") {
					resends++
				}
				if seen[name]++; seen[name] == 2 {
					t.Errorf("%s: more than one button named %q; a screen reader cannot tell them apart", path, name)
				}
			}
		}
		if resends < 2 {
			t.Errorf("%d Re-send buttons on the pages, want the webhooks page's failed deliveries (at least two) checked", resends)
		}
	})
	// An error about what was typed is tied to its field and announced:
	// the page's title starts with "Error:", the field is marked invalid,
	// is described by the message (aria-describedby) and has the focus, so
	// that a screen reader says the field and what is wrong with it, and
	// the person types the fix where the focus is. Nothing changes.
	t.Run("an error is tied to its field, which takes the focus", func(t *testing.T) {
		type field struct {
			Active      string // id of the focused element
			Invalid     string // its aria-invalid
			Description string // the text of its aria-describedby
		}
		const fieldJS = `(() => {
			const e = document.activeElement;
			return {
				Active: e.id,
				Invalid: e.getAttribute("aria-invalid") || "",
				Description: (e.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean)
					.map(id => (document.getElementById(id)?.textContent || "").trim()).join(" | "),
			};
		})()`
		check := func(t *testing.T, tab *browsertest.Tab, what, wantID, wantMsg, wantTitle string) {
			t.Helper()
			tab.AutofocusedElement(wantID)
			var got field
			tab.Eval(fieldJS, &got)
			if got.Active != wantID || got.Invalid != "true" || !strings.Contains(got.Description, wantMsg) {
				t.Errorf("%s: focus on #%s (aria-invalid %q) described as %q; want #%s, invalid, described by %q",
					what, got.Active, got.Invalid, got.Description, wantID, wantMsg)
			}
			if title := tab.Title(); !strings.HasPrefix(title, "Error: "+wantTitle) {
				t.Errorf("%s: title = %q, want it to start with %q", what, title, "Error: "+wantTitle)
			}
		}

		tab := b.IsolatedTab(t)
		tab.Navigate(site.URL+Prefix+"/login", "#token")
		tab.Fill("#token", "pk_not-a-real-token")
		if code := tab.ClickAndLoad("[data-testid=sign-in]"); code != http.StatusUnauthorized {
			t.Errorf("sign in with a wrong token: status %d, want 401", code)
		}
		check(t, tab, "a wrong token", "token", "That token is not valid", "Sign in")

		tab = b.Tab(t) // bob, an approver
		path := Prefix + "/promotions/" + site.Demo.Awaiting
		tab.Navigate(site.URL+path, "[data-testid=reject-form]")
		if n := tab.Count("[aria-invalid]"); n != 0 {
			t.Errorf("the promotion page before any error has %d fields marked invalid", n)
		}
		// The browser would not send the form without a reason (required);
		// an older browser, or a reason of spaces, does.
		tab.Fill("#reason", "   ")
		if code := tab.ClickAndLoad("[data-testid=reject-button]"); code != http.StatusBadRequest {
			t.Fatalf("reject with a blank reason: status %d, want 400", code)
		}
		check(t, tab, "a rejection without a reason", "reason", "a rejection needs a reason", "Promotion "+site.Demo.Awaiting)
		if got := tab.Text("[data-testid=reason-error]"); got != "a rejection needs a reason" {
			t.Errorf("the error by the reason field = %q", got)
		}
		pv, err := site.api("vera").Promotion(t.Context(), site.Demo.Awaiting)
		if err != nil {
			t.Fatal(err)
		}
		if pv.State != promote.StateAwaitingApproval {
			t.Errorf("after a refused rejection the promotion is %s, want it still awaiting approval", pv.State)
		}

		for _, c := range []struct{ query, id, msg string }{
			{"since=last+tuesday", "f-since", `since="last tuesday" is not a time`},
			{"until=soon", "f-until", `until="soon" is not a time`},
			{"since=2026-12-01&until=2026-11-01", "f-since", "is after until"},
			{"token=tok_nope", "f-token", "token:"},
			{"action=promotion.gated", "f-action", "Promote writes no such action"},
		} {
			tab.Navigate(site.URL+Prefix+"/audit?"+c.query, "[data-testid=audit-filters]")
			check(t, tab, "audit filter "+c.query, c.id, c.msg, "Audit log")
			if n := tab.Count("[aria-invalid]"); n != 1 {
				t.Errorf("audit filter %s: %d fields marked invalid, want 1", c.query, n)
			}
		}
	})
	// What a screen reader needs of every page: a name for every form
	// control, one h1 and no skipped heading level, tables with a caption
	// and th with scope, charts with a text alternative, lang on html.
	t.Run("every page names its controls, headings, tables and charts", func(t *testing.T) {
		tab := b.Tab(t)
		const problemsJS = `(() => {
			const out = [];
			const name = e => (e.getAttribute("aria-label") || (e.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean)
				.map(id => (document.getElementById(id)?.textContent || "").trim()).join(" ") ||
				Array.from(e.labels || [], l => l.textContent.trim()).join(" ") || e.getAttribute("title") || "").trim();
			if (!document.documentElement.lang) out.push("html has no lang");
			for (const e of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
				if (!name(e)) out.push("control without a name: " + e.outerHTML.slice(0, 80));
			}
			for (const e of document.querySelectorAll("button")) {
				if (!e.textContent.trim() && !name(e)) out.push("button without a name: " + e.outerHTML.slice(0, 80));
			}
			const hs = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6"), h => +h.tagName[1]);
			if (hs.filter(l => l === 1).length !== 1) out.push("h1 count " + hs.filter(l => l === 1).length);
			hs.forEach((l, i) => { if (i > 0 && l > hs[i - 1] + 1) out.push("heading h" + l + " after h" + hs[i - 1]); });
			for (const t of document.querySelectorAll("table")) {
				if (!t.caption || !t.caption.textContent.trim()) out.push("table without a caption: #" + t.id);
				for (const th of t.querySelectorAll("th")) {
					if (!["col", "row"].includes(th.getAttribute("scope"))) out.push("th without scope in #" + t.id + ": " + th.textContent.trim());
				}
			}
			for (const svg of document.querySelectorAll("svg")) {
				if (svg.getAttribute("role") !== "img" || name(svg).length < 40) out.push("chart without a text alternative: #" + svg.id);
			}
			return out;
		})()`
		charts := 0
		for _, path := range append(a11yPages(site), Prefix+"/nope") {
			tab.Navigate(site.URL+path, "main")
			charts += tab.Count("svg")
			var problems []string
			tab.Eval(problemsJS, &problems)
			for _, p := range problems {
				t.Errorf("%s: %s", path, p)
			}
		}
		if charts < 2 {
			t.Errorf("%d charts on the pages, want the rolled-back promotion's two checked", charts)
		}
	})
}
