package webui

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/browsertest"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// TestListingPages: the promotions, rollouts and holds pages list their
// rows 100 at a time, newest first, with the model and environment
// filters; Older and Newer links keep the filters and walk every matching
// row once, the first page has none to Newer, and a cursor or filter that
// is not one is refused naming it.
func TestListingPages(t *testing.T) {
	f := newFixture(t)
	const total = 300
	ctx := t.Context()
	if _, err := f.env.Service.CreateModel(ctx, f.env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	envs := f.env.Service.Pipeline().Names()
	var want []string // of ranker in the first environment, oldest first
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		if err := tx.CreateVersion(promote.Version{Model: "ranker", Version: "1", Digest: "sha256:" + strings.Repeat("ab", 32),
			Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: webuitest.Start}); err != nil {
			return err
		}
		for i := range total {
			at := webuitest.Start.Add(time.Duration(i) * time.Minute)
			env := envs[i%2] // half left out by the environment filter
			id := fmt.Sprintf("pr_%016d", i)
			if _, err := tx.CreatePromotion(promote.Promotion{ID: id, Model: "ranker", Version: "1", Environment: env, Digest: "sha256:" + strings.Repeat("ab", 32),
				State: promote.StateSucceeded, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
			if err := tx.SaveRollout(promote.Rollout{PromotionID: id, Model: "ranker", Version: "1", Environment: env, Stable: "0", Strategy: "canary",
				State: promote.RolloutSucceeded, Weight: 1, StartedAt: at, StepStartedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
			if _, err := tx.AddHold(promote.Hold{Model: "ranker", Version: "1", Environment: env, Reason: id, SetBy: "ci", SetAt: at}); err != nil {
				return err
			}
			if env == envs[0] {
				want = append(want, id)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want) // newest first
	b := f.signIn("vera")
	link := func(p page, id string) string {
		if l := p.all(id); len(l) > 0 {
			return attr(l[0], "href")
		}
		return ""
	}
	for _, l := range []struct {
		page string
		key  func(row []string) string // the row's promotion, from its cells
		// cursor is what a bad cursor is said not to be: what the
		// page's cursor is.
		cursor string
	}{
		{"promotions", func(cells []string) string { return cells[1] }, "a sequence number"},
		{"rollouts", func(cells []string) string { return cells[1] }, "a sequence number"},
		{"holds", func(cells []string) string { return cells[4] }, "a hold's ID"},
	} {
		t.Run(l.page, func(t *testing.T) {
			keys := func(p page) []string {
				var out []string
				for _, r := range p.all("list-row") {
					var cells []string
					for _, td := range byTag(r, "td") {
						cells = append(cells, text(td))
					}
					out = append(out, l.key(cells))
				}
				return out
			}
			all := b.get(Prefix + "/" + l.page)
			if all.status != http.StatusOK {
				t.Fatalf("GET /%s = %d", l.page, all.status)
			}
			if n := len(all.all("list-row")); n != 100 {
				t.Errorf("GET /%s lists %d rows, want a page of 100", l.page, n)
			}
			if l := link(all, "newer"); l != "" {
				t.Errorf("the first page links to a newer page, %s", l)
			}

			first := Prefix + "/" + l.page + "?environment=" + envs[0] + "&model=ranker"
			var got, pages []string
			for path := first; path != ""; path = link(b.get(path), "older") {
				if len(pages) > total {
					t.Fatal("the Older links do not end")
				}
				if !strings.Contains(path, "environment="+envs[0]) || !strings.Contains(path, "model=ranker") {
					t.Fatalf("the page %s lost the filters", path)
				}
				pages = append(pages, path)
				got = append(got, keys(b.get(path))...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s paged through with Older (-want +got):\n%s", l.page, diff)
			}
			if len(pages) != 2 {
				t.Errorf("%d pages of %d rows, want 2", len(pages), len(want))
			}
			// Newer from the last page comes back to the first.
			back := b.get(link(b.get(pages[len(pages)-1]), "newer"))
			if diff := cmp.Diff(want[:100], keys(back)); diff != "" {
				t.Errorf("Newer from the last page (-want +got):\n%s", diff)
			}

			for _, tt := range []struct{ query, want string }{
				{"before=-1", `before="-1" is not ` + l.cursor},
				{"after=ten", `after="ten" is not ` + l.cursor},
				{"environment=qa", `environment "qa" is not in the pipeline`},
				{"model=..%2Fx", `model name "../x" contains ".."`},
			} {
				res := b.get(Prefix + "/" + l.page + "?" + tt.query)
				if res.status != http.StatusBadRequest {
					t.Errorf("GET /%s?%s = %d, want 400", l.page, tt.query, res.status)
					continue
				}
				if got := text(res.one(t, "error-message")); !strings.Contains(got, tt.want) {
					t.Errorf("GET /%s?%s: error %q, want it to say %q", l.page, tt.query, got, tt.want)
				}
			}
			// Past the oldest: nothing, and a way back to the newest.
			past := b.get(Prefix + "/" + l.page + "?model=ranker&before=1")
			if got := text(past.one(t, "no-rows")); got != "No "+l.page+" on this page: the newest are on the first." {
				t.Errorf("GET /%s?before=1: %q", l.page, got)
			}
			if got := link(past, "newest"); got != Prefix+"/"+l.page+"?model=ranker" {
				t.Errorf("GET /%s?before=1: Newest links to %q", l.page, got)
			}
		})
	}
}

// TestBrowserListingPager: in a browser, the promotions page filtered with
// its form lists a model's promotions 100 a page; Older goes on just below
// the first page's last row, keeping the filter, and Newer comes back.
func TestBrowserListingPager(t *testing.T) {
	site := startLiveSite(t)
	ctx := t.Context()
	if _, err := site.Env.Service.CreateModel(ctx, site.Env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	const total = 130
	if err := site.Env.Store.Update(ctx, func(tx promote.Tx) error {
		if err := tx.CreateVersion(promote.Version{Model: "ranker", Version: "1", Digest: "sha256:" + strings.Repeat("ab", 32),
			Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: webuitest.Start}); err != nil {
			return err
		}
		for i := range total {
			at := webuitest.Start.Add(time.Duration(i) * time.Minute)
			if _, err := tx.CreatePromotion(promote.Promotion{ID: fmt.Sprintf("pr_%016d", i), Model: "ranker", Version: "1", Environment: "dev",
				Digest: "sha256:" + strings.Repeat("ab", 32), State: promote.StateCancelled, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := browsertest.Start(t)
	tab := b.Tab(t)
	site.signIn(t, tab, "vera", Prefix+"/promotions")
	tab.Navigate(site.URL+Prefix+"/promotions", "[data-testid=list-filters]")
	tab.Fill("#f-model", "ranker")
	tab.ClickAndLoad("[data-testid=list-filters] button[type=submit]")
	if got := tab.Count("[data-testid=list-row]"); got != listPageSize {
		t.Fatalf("the first page of ranker's promotions has %d rows, want %d", got, listPageSize)
	}
	if n := tab.Count("[data-testid=newer]"); n != 0 {
		t.Errorf("the first page links to a newer page")
	}
	var firstSeq, lastSeq int64
	tab.Eval(`+document.querySelector("[data-testid=list-row]").dataset.seq`, &firstSeq)
	tab.Eval(`+Array.from(document.querySelectorAll("[data-testid=list-row]")).at(-1).dataset.seq`, &lastSeq)
	tab.ClickAndLoad("[data-testid=older]")
	if got := tab.Count("[data-testid=list-row]"); got != total-listPageSize {
		t.Errorf("the older page has %d rows, want %d", got, total-listPageSize)
	}
	if got, _ := tab.Attr("[data-testid=list-row]", "data-seq"); got != fmt.Sprint(lastSeq-1) {
		t.Errorf("the older page starts at seq %s, want %d, just below the first page's last row", got, lastSeq-1)
	}
	if got, _ := tab.Attr("#f-model", "value"); got != "ranker" {
		t.Errorf("the older page's model filter is %q, want ranker", got)
	}
	tab.ClickAndLoad("[data-testid=newer]")
	if got, _ := tab.Attr("[data-testid=list-row]", "data-seq"); got != fmt.Sprint(firstSeq) {
		t.Errorf("Newer from the older page starts at seq %s, want the newest, %d", got, firstSeq)
	}
}

// The promotions, rollouts and holds pages filter by a version of a model
// too, as the store does: the rows are that version's alone, the pager's
// links keep the filter, and the form shows it; a version's page links to
// its rollouts. A version without its model is refused naming what is
// wrong, rather than ignored.
func TestListingVersionFilter(t *testing.T) {
	f := newFixture(t)
	const total = 260 // half of version 1: two pages of it
	ctx := t.Context()
	if _, err := f.env.Service.CreateModel(ctx, f.env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		for _, v := range []string{"1", "2"} {
			if err := tx.CreateVersion(promote.Version{Model: "ranker", Version: v, Digest: "sha256:" + strings.Repeat("ab", 32),
				Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: webuitest.Start}); err != nil {
				return err
			}
		}
		for i := range total {
			at := webuitest.Start.Add(time.Duration(i) * time.Minute)
			v := fmt.Sprint(1 + i%2)
			if _, err := tx.CreatePromotion(promote.Promotion{ID: fmt.Sprintf("pr_%016d", i), Model: "ranker", Version: v, Environment: "dev",
				Digest: "sha256:" + strings.Repeat("ab", 32), State: promote.StateCancelled, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
			if _, err := tx.AddHold(promote.Hold{Model: "ranker", Version: v, Environment: "dev", Reason: "r", SetBy: "ci", SetAt: at}); err != nil {
				return err
			}
			if err := tx.SaveRollout(promote.Rollout{PromotionID: fmt.Sprintf("pr_%016d", i), Model: "ranker", Version: v, Environment: "dev",
				Stable: "0", Strategy: "canary", State: promote.RolloutRolledBack, StartedAt: at, StepStartedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	for page, col := range map[string]int{"promotions": 3, "rollouts": 3, "holds": 2} { // col: the version's cell
		t.Run(page, func(t *testing.T) {
			var rows, pages int
			for path := Prefix + "/" + page + "?model=ranker&version=1"; path != ""; {
				if pages++; pages > 3 {
					t.Fatal("the Older links do not end")
				}
				if !strings.Contains(path, "version=1") || !strings.Contains(path, "model=ranker") {
					t.Fatalf("the page %s lost the filters", path)
				}
				p := b.get(path)
				if p.status != http.StatusOK {
					t.Fatalf("GET %s = %d:\n%s", path, p.status, p.body)
				}
				if in := findAll(p.doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "version" }); len(in) != 1 || attr(in[0], "value") != "1" {
					t.Errorf("GET %s: the form's version fields = %d, want one holding 1", path, len(in))
				}
				for _, r := range p.all("list-row") {
					if v := text(byTag(r, "td")[col]); v != "1" {
						t.Fatalf("GET %s lists a row of another version: %s", path, text(r))
					}
					rows++
				}
				path = ""
				if older := p.all("older"); len(older) > 0 {
					path = attr(older[0], "href")
				}
			}
			if rows != total/2 || pages != 2 {
				t.Errorf("the %s of ranker 1: %d rows on %d pages, want %d on 2", page, rows, pages, total/2)
			}
		})
	}
	for _, tt := range []struct{ path, want string }{
		{"/promotions?version=1", `version "1" without a model`},
		{"/holds?version=1&environment=dev", `version "1" without a model`},
		{"/holds?model=ranker&version=..%2Fx", `version "../x" contains ".."`},
		{"/rollouts?version=1&environment=dev", `version "1" without a model`},
	} {
		res := b.get(Prefix + tt.path)
		if res.status != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", tt.path, res.status)
			continue
		}
		if got := text(res.one(t, "error-message")); !strings.Contains(got, tt.want) {
			t.Errorf("GET %s: error %q, want it to say %q", tt.path, got, tt.want)
		}
	}
	p := b.get(Prefix + "/models/ranker/versions/2")
	if p.status != http.StatusOK {
		t.Fatalf("GET the version page = %d:\n%s", p.status, p.body)
	}
	link := byTag(p.one(t, "version-rollouts"), "a")
	if len(link) != 1 || attr(link[0], "href") != Prefix+"/rollouts?model=ranker&version=2" {
		t.Errorf("the version page's rollouts link = %v, want one to %s", text(p.one(t, "version-rollouts")), Prefix+"/rollouts?model=ranker&version=2")
	}
}
