package webui

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// cellText returns the text of the pipeline cell of model in env.
func cellText(t *testing.T, p page, model, env string) string {
	t.Helper()
	for _, row := range p.all("pipeline-row") {
		if attr(row, "data-model") != model {
			continue
		}
		for _, td := range byTag(row, "td") {
			if attr(td, "data-env") == env {
				return text(td)
			}
		}
	}
	t.Fatalf("no pipeline cell for %s in %s", model, env)
	return ""
}

func TestPipelinePage(t *testing.T) {
	f := newFixture(t)
	p := f.signIn("vera").get(Prefix + "/")
	if p.status != http.StatusOK {
		t.Fatalf("GET /ui/ = %d", p.status)
	}
	var heads []string
	for _, th := range byTag(p.one(t, "pipeline-table"), "th") {
		if attr(th, "scope") == "col" {
			heads = append(heads, text(th))
		}
	}
	if got := strings.Join(heads, ","); got != "Model,dev,staging,prod" {
		t.Errorf("columns = %s, want the pipeline's order", got)
	}
	if n := len(p.all("pipeline-row")); n != 3 {
		t.Errorf("%d rows, want 3 models", n)
	}
	tests := []struct{ model, env, want string }{
		{"credit-risk", "prod", "1 2: awaiting approval"},
		{"credit-risk", "staging", "2"},
		{"fraud-detector", "prod", "1 rolled back from 2 hold on 2: rolled back to 1 by rollout"},
		{"churn-predictor", "prod", "no live version hold on 1: promotion"},
		{"churn-predictor", "dev", "1"},
	}
	for _, tt := range tests {
		if got := cellText(t, p, tt.model, tt.env); !strings.HasPrefix(got, tt.want) {
			t.Errorf("cell %s/%s = %q, want it to start with %q", tt.model, tt.env, got, tt.want)
		}
	}
	links := p.all("promotion-link")
	if len(links) != 1 || attr(links[0], "href") != "/ui/promotions/"+f.demo.Awaiting {
		t.Errorf("promotion links = %d, want the one awaiting approval", len(links))
	}
	if !strings.Contains(p.body, "<title>Pipeline · Promote</title>") || !strings.Contains(p.body, `href="#main">Skip to content</a>`) {
		t.Error("the page lacks its title or skip link")
	}
}

func TestPipelineShowsActiveRollout(t *testing.T) {
	f := newFixture(t)
	// credit-risk 2 approved and committed: its canary starts.
	b, deps := f.approveAwaiting(t)
	if err := f.env.Service.Delivered(t.Context(), deps[0], strings.Repeat("c", 40)); err != nil {
		t.Fatal(err)
	}
	r, err := f.env.Service.StartRollout(t.Context(), f.demo.Awaiting)
	if err != nil {
		t.Fatal(err)
	}
	r.Step, r.Weight = 1, 0.5
	if _, err := f.env.Service.RecordRollout(t.Context(), f.env.Principals["bob"], r, "step 2"); err != nil {
		t.Fatal(err)
	}
	p := b.get(Prefix + "/")
	if got := cellText(t, p, "credit-risk", "prod"); !strings.Contains(got, "2: rolling out canary 50% · step 2 · running") {
		t.Errorf("prod cell = %q, want the rollout's weight and step", got)
	}
}

// A change whose commit keeps failing says why where the pipeline and its
// promotion say "commit pending", and says nothing once the commit lands.
func TestCommitErrorShown(t *testing.T) {
	f := newFixture(t)
	b, deps := f.approveAwaiting(t)
	const refusal = "push main to /srv/gitops.git: command error on refs/heads/main: pre-receive hook declined <main is protected>"
	if err := f.env.Service.SetCommitError(t.Context(), deps[0], refusal); err != nil {
		t.Fatal(err)
	}
	p := b.get(Prefix + "/")
	if got := cellText(t, p, "credit-risk", "prod"); !strings.Contains(got, "2 commit pending") || !strings.Contains(got, "commit failing since") ||
		!strings.Contains(got, refusal) {
		t.Errorf("prod cell = %q, want the pending commit and why it fails", got)
	}
	if n := len(p.all("commit-error")); n != 1 {
		t.Errorf("%d commit errors on the pipeline page, want the one of credit-risk in prod", n)
	}
	if strings.Contains(p.body, "<main is protected>") {
		t.Error("the pipeline page has the error's text unescaped")
	}
	q := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	if got := text(q.one(t, "commit-error")); !strings.HasPrefix(got, "The commit has failed since ") || !strings.HasSuffix(got, refusal) {
		t.Errorf("promotion page's commit error = %q, want since when and %q", got, refusal)
	}

	if err := f.env.Service.Delivered(t.Context(), deps[0], strings.Repeat("c", 40)); err != nil {
		t.Fatal(err)
	}
	p = b.get(Prefix + "/")
	if got := cellText(t, p, "credit-risk", "prod"); strings.Contains(got, "commit pending") || strings.Contains(got, "commit failing") {
		t.Errorf("prod cell after the commit landed = %q, want no pending commit nor error", got)
	}
	if q := b.get(Prefix + "/promotions/" + f.demo.Awaiting); len(q.all("commit-error")) != 0 {
		t.Error("the promotion page shows a commit error after the commit landed")
	}
}

func (f *fixture) digestOf(id string) string {
	f.t.Helper()
	p, err := f.env.Service.Promotion(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.Digest
}

func TestPromotionPage(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("bob")
	t.Run("awaiting approval", func(t *testing.T) {
		p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
		if attr(p.one(t, "state"), "data-state") != "awaiting_approval" {
			t.Errorf("state = %q", attr(p.one(t, "state"), "data-state"))
		}
		rows := map[string]string{}
		for _, r := range p.all("gate-row") {
			rows[attr(r, "data-rule")] = text(r)
		}
		want := map[string]string{
			"tests_passed":    "tests_passed — — true — pass tests_passed is true",
			"artifact_signed": "artifact_signed — — true — pass",
			"accuracy_delta":  "accuracy_delta 0.919 0.912 0.007 >= 0 pass",
			"latency_p95_ms":  "latency_p95_ms 131 142 131 <= 180 pass",
			"approvals":       "approvals — — 0 >= 1 fail",
		}
		for rule, prefix := range want {
			if !strings.HasPrefix(rows[rule], prefix) {
				t.Errorf("gate row %s = %q, want it to start with %q", rule, rows[rule], prefix)
			}
		}
		if len(rows) != len(want) {
			t.Errorf("gate rows = %v", rows)
		}
		if got := text(p.one(t, "verdict")); !strings.HasPrefix(got, "Verdict: awaiting approval : every other rule holds · 4 passed · 1 failed") {
			t.Errorf("verdict = %q", got)
		}
		p.one(t, "approve-button")
		// What is approved comes before the buttons: on a phone, the
		// approver reads the digest, the gate's results and who decided
		// already on the way down to Approve.
		var order []string
		for _, n := range findAll(p.doc, func(n *html.Node) bool { return attr(n, "data-testid") != "" }) {
			switch id := attr(n, "data-testid"); id {
			case "digest", "verdict", "gate-table", "no-approvals", "approve-button", "reject-button":
				order = append(order, id)
			}
		}
		if diff := cmp.Diff([]string{"digest", "verdict", "gate-table", "no-approvals", "approve-button", "reject-button"}, order); diff != "" {
			t.Errorf("order of the promotion page (-want +got):\n%s", diff)
		}
		p.one(t, "reject-button")
		// What approving sets going, from the pipeline and prod's
		// rollout plan.
		var plan []string
		for _, d := range p.all("plan-line") {
			plan = append(plan, text(d))
		}
		wantPlan := []string{
			"deploy/overlays/prod, pinning the version's digest",
			"canary in 3 steps, judged against stable at each; a failure rolls back",
			"10% of traffic for at least 10m and 500 requests",
			"50% of traffic for at least 30m and 2000 requests",
			"100% of traffic for at least 1000 requests",
		}
		if diff := cmp.Diff(wantPlan, plan); diff != "" {
			t.Errorf("on approval (-want +got):\n%s", diff)
		}
		if got := text(p.one(t, "on-approval")); !strings.HasPrefix(got, "On approval Commit deploy/overlays/prod") {
			t.Errorf("on approval = %q", got)
		}
		if got := text(p.one(t, "commit")); got != "This promotion has not moved the live alias." {
			t.Errorf("commit = %q", got)
		}
		if len(p.all("rollout-chart")) != 0 {
			t.Error("a chart for a promotion that never rolled out")
		}
		if !strings.Contains(p.body, "<title>Promotion "+f.demo.Awaiting+" · Promote</title>") {
			t.Error("no page title")
		}
	})
	t.Run("rolled back", func(t *testing.T) {
		p := b.get(Prefix + "/promotions/" + f.demo.RolledBack)
		if attr(p.one(t, "state"), "data-state") != "rolled_back" {
			t.Errorf("state = %q", attr(p.one(t, "state"), "data-state"))
		}
		if len(p.all("on-approval")) != 0 {
			t.Error("a rolled-back promotion's page says what approving it would do")
		}
		if got := text(p.one(t, "commit-hash")); len(got) != 40 {
			t.Errorf("commit hash = %q", got)
		}
		if got := text(p.one(t, "rollback-commit")); !strings.HasPrefix(got, "Rolled back to 1 by rollout") || !strings.Contains(got, "commit ") {
			t.Errorf("rollback = %q", got)
		}
		if rows := p.all("approval-row"); len(rows) != 1 || !strings.HasPrefix(text(rows[0]), "bob approver, ml-lead approved") {
			t.Errorf("approvals = %d rows", len(rows))
		}
		var states []string
		for _, r := range p.all("history-row") {
			cells := byTag(r, "td")
			if text(cells[3]) == promote.ActionPromotionState {
				states = append(states, text(cells[4]))
			}
		}
		if got := strings.Join(states, ","); got != "gated,awaiting approval,approved,committed,rolling out,rolled back" {
			t.Errorf("state history = %s", got)
		}
		chart := p.one(t, "rollout-chart")
		if got := text(p.one(t, "chart-outcome")); got != "rolled back" {
			t.Errorf("outcome = %q", got)
		}
		svgs := byTag(chart, "svg")
		if len(svgs) != 2 {
			t.Fatalf("%d SVG panels, want 2", len(svgs))
		}
		for _, svg := range svgs {
			if attr(svg, "role") != "img" || len(byTag(svg, "title")) != 1 || len(byTag(svg, "desc")) != 1 {
				t.Errorf("panel %s lacks role, title or desc", attr(svg, "id"))
			}
			series := map[string]int{}
			for _, g := range byTestID(svg, "series") {
				for _, pl := range byTag(g, "polyline") {
					series[attr(g, "data-series")] += len(strings.Fields(attr(pl, "points")))
				}
			}
			// 16 readings at 10% and 9 at 50%: the step and rollback
			// samples serve nothing and break the lines.
			if series["canary"] != 25 || series["stable"] != 25 {
				t.Errorf("panel %s: points %v, want 25 per series", attr(svg, "id"), series)
			}
			var labels []string
			for _, m := range byTestID(svg, "marker") {
				labels = append(labels, attr(m, "data-label"))
			}
			if got := strings.Join(labels, ","); got != "step 1: 10%,step 2: 50%,rolled back" {
				t.Errorf("panel %s markers = %s", attr(svg, "id"), got)
			}
		}
		data := p.one(t, "chart-data")
		if rows := byTag(byTag(data, "tbody")[0], "tr"); len(rows) != 28 {
			t.Errorf("sample table has %d rows, want 28", len(rows))
		}
	})
	t.Run("not found", func(t *testing.T) {
		p := b.get(Prefix + "/promotions/pr_0000")
		if p.status != http.StatusNotFound || text(p.one(t, "error-heading")) != "Not found" || !strings.Contains(text(p.one(t, "error-message")), "pr_0000") {
			t.Errorf("unknown promotion = %d:\n%s", p.status, p.body)
		}
	})
}

// TestVersionPageAfterKeyRotation: a version whose key the pipeline no
// longer trusts is shown as the gate sees it, not as "verified".
func TestVersionPageAfterKeyRotation(t *testing.T) {
	f := newFixture(t)
	// The server restarts with the pipeline trusting keys.
	restart := func(keys []registry.TrustedKey) *browser {
		t.Helper()
		svc, err := f.env.RotatedKeys(keys)
		if err != nil {
			t.Fatal(err)
		}
		if f.ui, err = New(Options{Service: svc, Deliveries: f.log}); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(Prefix+"/", f.ui.Handler())
		f.srv = httptest.NewServer(mux)
		t.Cleanup(f.srv.Close)
		return f.signIn("vera")
	}
	// The release key taken out of trustedKeys.
	b := restart(nil)
	p := b.get(Prefix + "/models/fraud-detector/versions/2")
	if got := text(p.one(t, "signature")); !strings.HasPrefix(got, "no longer trusted (") || !strings.Contains(got, "release.pub") || !strings.Contains(got, "it trusts no keys") {
		t.Errorf("signature = %q, want no longer trusted, naming release.pub and the keys trusted", got)
	}
	p = b.get(Prefix + "/models/fraud-detector")
	if !strings.Contains(p.body, "<td>not trusted</td>") || strings.Contains(p.body, "<td>verified</td>") {
		t.Errorf("model page's versions table does not say not trusted:\n%s", p.body)
	}

	// The same key under another name (its file moved): verified, with
	// the name it has now.
	b = restart([]registry.TrustedKey{{ID: "keys/release-2026.pub", Key: f.env.ReleaseKey()}})
	if got := text(b.get(Prefix+"/models/fraud-detector/versions/2").one(t, "signature")); got != "verified with trusted key keys/release-2026.pub" {
		t.Errorf("signature after the key file moved = %q, want verified with trusted key keys/release-2026.pub", got)
	}
}

func TestVersionAndModelPages(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	p := b.get(Prefix + "/models/fraud-detector/versions/2")
	if p.status != http.StatusOK {
		t.Fatalf("version page = %d", p.status)
	}
	metrics := map[string]string{}
	for _, r := range p.all("metric-row") {
		metrics[attr(r, "data-metric")] = text(byTag(r, "td")[0])
	}
	if metrics["accuracy"] != "0.958" || metrics["latency_p95_ms"] != "88" {
		t.Errorf("metrics = %v", metrics)
	}
	if got := text(p.one(t, "signature")); got != "verified with trusted key release.pub" {
		t.Errorf("signature = %q", got)
	}
	if got := text(p.one(t, "lineage")); !strings.Contains(got, "mlflow://runs/fraud-detector-2") {
		t.Errorf("lineage = %q", got)
	}
	if got := text(p.one(t, "digest")); !strings.HasPrefix(got, "sha256:") || len(got) != 71 {
		t.Errorf("digest = %q", got)
	}
	hist := map[string]string{}
	for _, s := range p.all("env-history") {
		hist[attr(s, "data-env")] = text(s)
	}
	if !strings.Contains(hist["prod"], "rolled back") || !strings.Contains(hist["prod"], "(rolled back to 1)") || !strings.Contains(hist["prod"], "On hold since") {
		t.Errorf("prod history = %q", hist["prod"])
	}
	if !strings.Contains(hist["staging"], "live now") || !strings.Contains(hist["staging"], "succeeded") {
		t.Errorf("staging history = %q", hist["staging"])
	}

	m := b.get(Prefix + "/models/credit-risk")
	if rows := m.all("version-row"); len(rows) != 2 || !strings.HasPrefix(text(rows[0]), "2 ") || !strings.Contains(text(rows[1]), "prod") {
		t.Errorf("versions table = %d rows", len(rows))
	}
	for _, path := range []string{"/models/nope", "/models/credit-risk/versions/9", "/models/nope/versions/1", "/nothing/here"} {
		if res := b.get(Prefix + path); res.status != http.StatusNotFound || len(res.all("error-heading")) != 1 {
			t.Errorf("GET %s = %d, want the 404 page", path, res.status)
		}
	}
}

// TestModelWithoutVersions: a model registered without any version yet
// says so, and how to add one, rather than showing an empty table.
func TestModelWithoutVersions(t *testing.T) {
	f := newFixture(t)
	if _, err := f.env.Service.CreateModel(t.Context(), f.env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	p := f.signIn("vera").get(Prefix + "/models/ranker")
	if p.status != http.StatusOK {
		t.Fatalf("GET /models/ranker = %d", p.status)
	}
	if got, want := text(p.one(t, "no-versions")), "No versions yet: register one with promote versions register ranker VERSION --artifact FILE ."; got != want {
		t.Errorf("versions of a model without any = %q, want %q", got, want)
	}
}

// TestModelPageVersionPages: a model with more versions than a page
// holds lists them 100 at a time, newest first; Older and Newer links walk
// every one of them, each once, and the first page has no Newer link. A
// cursor that is not a sequence number is refused.
func TestModelPageVersionPages(t *testing.T) {
	f := newFixture(t)
	const total = 250
	ctx := t.Context()
	if _, err := f.env.Service.CreateModel(ctx, f.env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	var want []string // newest first
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		for i := range total {
			v := promote.Version{Model: "ranker", Version: fmt.Sprintf("v%03d", i), Digest: "sha256:" + strings.Repeat("ab", 32),
				Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: webuitest.Start.Add(time.Duration(i) * time.Minute)}
			if err := tx.CreateVersion(v); err != nil {
				return err
			}
			want = append([]string{v.Version}, want...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	names := func(p page) []string {
		var out []string
		for _, r := range p.all("version-row") {
			out = append(out, text(byTag(r, "a")[0]))
		}
		return out
	}
	link := func(p page, id string) string {
		if l := p.all(id); len(l) > 0 {
			return attr(l[0], "href")
		}
		return ""
	}

	first := b.get(Prefix + "/models/ranker")
	if first.status != http.StatusOK {
		t.Fatalf("GET /models/ranker = %d", first.status)
	}
	if n := len(names(first)); n != 100 {
		t.Errorf("the first page lists %d versions, want 100", n)
	}
	if l := link(first, "newer"); l != "" {
		t.Errorf("the first page links to a newer page, %s", l)
	}
	var got []string
	var pages []string // each page's path, to walk back
	for path := Prefix + "/models/ranker"; path != ""; path = link(b.get(path), "older") {
		if len(pages) > total {
			t.Fatal("the Older links do not end")
		}
		pages = append(pages, path)
		got = append(got, names(b.get(path))...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versions paged through with Older (-want +got):\n%s", diff)
	}
	if len(pages) != 3 {
		t.Errorf("%d pages of %d versions, want 3", len(pages), total)
	}
	// Newer from the last page comes back to the page before it.
	last := b.get(pages[len(pages)-1])
	back := b.get(link(last, "newer"))
	if diff := cmp.Diff(want[100:200], names(back)); diff != "" {
		t.Errorf("Newer from the last page (-want +got):\n%s", diff)
	}

	for _, q := range []string{"before=-1", "after=ten"} {
		res := b.get(Prefix + "/models/ranker?" + q)
		if res.status != http.StatusBadRequest {
			t.Errorf("GET /models/ranker?%s = %d, want 400", q, res.status)
			continue
		}
		if got := text(res.one(t, "error-message")); !strings.Contains(got, "is not a sequence number") {
			t.Errorf("GET /models/ranker?%s: error %q, want it to name the cursor", q, got)
		}
	}
}

func TestWebhooksPage(t *testing.T) {
	f := newFixture(t)
	p := f.signIn("vera").get(Prefix + "/webhooks")
	rows := p.all("delivery-row")
	if len(rows) != 3 {
		t.Fatalf("%d delivery rows, want 3", len(rows))
	}
	var statuses []string
	for _, r := range rows {
		statuses = append(statuses, attr(r, "data-status"))
	}
	if got := strings.Join(statuses, ","); got != "failed,delivered,retrying" {
		t.Errorf("statuses newest first = %s", got)
	}
	if !strings.Contains(text(rows[0]), "503") || !strings.Contains(text(rows[0]), "https://hooks.example.com/promote") {
		t.Errorf("first row = %q", text(rows[0]))
	}
	if strings.Contains(p.body, "the store keeps more") {
		t.Error("a log of 3 attempts says the store keeps more")
	}
	// A log longer than a page shows its newest attempts and says so.
	var more []promote.WebhookDelivery
	for i := range maxDeliveries {
		more = append(more, promote.WebhookDelivery{ID: fmt.Sprint("dl_more_", i), EventID: "ev_43", EventType: "rollout.step",
			Endpoint: "https://hooks.example.com/promote", Attempt: 1, Status: "delivered", Code: 204, At: webuitest.Start.Add(96 * time.Hour)})
	}
	if err := f.env.RecordDeliveries(t.Context(), more...); err != nil {
		t.Fatal(err)
	}
	p = f.signIn("vera").get(Prefix + "/webhooks")
	if rows := p.all("delivery-row"); len(rows) != maxDeliveries || attr(rows[0], "data-status") != "delivered" {
		t.Errorf("%d rows (newest %s), want the %d newest", len(rows), attr(rows[0], "data-status"), maxDeliveries)
	}
	if !strings.Contains(p.body, "the store keeps more") {
		t.Error("a log longer than the page does not say the store keeps more")
	}
	off := newFixture(t, func(o *Options) { o.Deliveries = nil })
	off.signIn("vera").get(Prefix+"/webhooks").one(t, "webhooks-off")
}

// seqs returns the sequence numbers of an audit page's rows.
func seqs(t *testing.T, p page) []int64 {
	t.Helper()
	var out []int64
	for _, r := range p.all("audit-row") {
		n, err := strconv.ParseInt(attr(r, "data-seq"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	total := f.auditCount()
	if total < 120 {
		t.Fatalf("the demo has %d events; the test wants more than two pages", total)
	}
	first := b.get(Prefix + "/audit")
	got := seqs(t, first)
	if len(got) != 50 || got[0] != total || got[49] != total-49 {
		t.Fatalf("first page = %d events from %v, want 50 from %d down", len(got), got[:1], total)
	}
	if len(first.all("newer")) != 0 {
		t.Error("the newest page links to newer events")
	}
	if ok := first.one(t, "chain-ok"); attr(ok, "data-seq") != fmt.Sprint(total) {
		t.Errorf("chain verified through %s, want %d", attr(ok, "data-seq"), total)
	}
	older := attr(first.all("older")[0], "href")
	second := b.get(older)
	got2 := seqs(t, second)
	if len(got2) != 50 || got2[0] != total-50 {
		t.Errorf("second page starts at %v, want %d", got2[:1], total-50)
	}
	back := b.get(attr(second.all("newer")[0], "href"))
	if fmt.Sprint(seqs(t, back)) != fmt.Sprint(got) {
		t.Errorf("newer from the second page = %v, want the first page", seqs(t, back)[:3])
	}
	// Paging forwards from the third page: the second, which links on to
	// the first.
	third := b.get(attr(second.all("older")[0], "href"))
	back2 := b.get(attr(third.all("newer")[0], "href"))
	if fmt.Sprint(seqs(t, back2)) != fmt.Sprint(got2) {
		t.Errorf("newer from the third page = %v, want the second page %v", seqs(t, back2), got2)
	}
	if n := back2.all("newer"); len(n) == 0 || fmt.Sprint(seqs(t, b.get(attr(n[0], "href")))) != fmt.Sprint(got) {
		t.Errorf("the second page, reached forwards, does not link on to the first")
	}
	// The last page has no older link.
	last := b.get(Prefix + "/audit?before=21")
	if s := seqs(t, last); len(s) != 20 || s[19] != 1 || len(last.all("older")) != 0 {
		t.Errorf("last page = %v", s)
	}

	filters := []struct {
		query string
		check func(e promote.AuditEvent) bool
	}{
		{"action=promotion.approval", func(e promote.AuditEvent) bool { return e.Action == promote.ActionPromotionApproval }},
		{"actor=carol", func(e promote.AuditEvent) bool { return e.Actor == "carol" }},
		{"model=fraud-detector&environment=prod", func(e promote.AuditEvent) bool { return e.Model == "fraud-detector" && e.Environment == "prod" }},
		{"promotion=" + f.demo.RolledBack, func(e promote.AuditEvent) bool { return e.PromotionID == f.demo.RolledBack }},
		{"actor=rollout&model=fraud-detector", func(e promote.AuditEvent) bool { return e.Actor == "rollout" && e.Model == "fraud-detector" }},
		{"model=fraud-detector&version=2&action=promotion.approval", func(e promote.AuditEvent) bool {
			return e.Model == "fraud-detector" && e.Version == "2" && e.Action == promote.ActionPromotionApproval
		}},
	}
	all := map[int64]promote.AuditEvent{}
	events, err := f.env.Service.AuditEvents(t.Context(), promote.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		all[e.Seq] = e
	}
	for _, fl := range filters {
		want := 0
		for _, e := range all {
			if fl.check(e) {
				want++
			}
		}
		p := b.get(Prefix + "/audit?" + fl.query)
		s := seqs(t, p)
		if len(s) != min(want, 50) || want == 0 {
			t.Errorf("audit?%s = %d rows, want %d", fl.query, len(s), min(want, 50))
		}
		for _, seq := range s {
			if !fl.check(all[seq]) {
				t.Errorf("audit?%s shows event %d (%s by %s)", fl.query, seq, all[seq].Action, all[seq].Actor)
			}
		}
	}
	if res := b.get(Prefix + "/audit?before=x"); res.status != http.StatusBadRequest {
		t.Errorf("before=x = %d, want 400", res.status)
	}
	// The action filter offers what Promote writes, and refuses what it
	// does not, rather than showing an empty log.
	if res := b.get(Prefix + "/audit?action=promotion.gated"); res.status != http.StatusBadRequest || !strings.Contains(res.body, "no such action") {
		t.Errorf("action=promotion.gated = %d, want 400 naming the action", res.status)
	}
	offered := first.body
	for _, a := range promote.AuditActions {
		if !strings.Contains(offered, `<option value="`+a+`"`) {
			t.Errorf("the action filter does not offer %s", a)
		}
	}
	if strings.Contains(offered, `value="promotion.gated"`) {
		t.Error("the action filter offers promotion.gated, which Promote never writes")
	}
}

func TestAuditPagingWithActorFilter(t *testing.T) {
	f := newFixture(t)
	// 120 events by carol among 1,200 by others, more than the store
	// returns at once: the actor filter pages through them by cursor.
	err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i := range 1320 {
			actor := "ci"
			if i%11 == 0 {
				actor = "carol"
			}
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: actor, Action: promote.ActionHoldCleared, Model: "m"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	seen := 0
	path := Prefix + "/audit?actor=carol&action=hold.cleared"
	for path != "" {
		p := b.get(path)
		seen += len(seqs(t, p))
		path = ""
		if o := p.all("older"); len(o) > 0 {
			path = attr(o[0], "href")
		}
	}
	if seen != 120 {
		t.Errorf("paged through %d of carol's hold.cleared events, want 120", seen)
	}
}

// TestAuditPageTimeRange: the page's since and until fields filter by
// time (since inclusive, until exclusive, a date or a time in UTC), the
// range's pages link on to each other in both directions keeping it, and
// a time that is not one, or a range that ends before it starts, is
// refused naming what was typed.
func TestAuditPageTimeRange(t *testing.T) {
	f := newFixture(t)
	base := f.auditCount()
	// One event a second from midnight on 1 December: 00:10:00 to
	// 00:12:30 holds the 150 events i = 600 to 749, three pages.
	err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i := range 900 {
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: "ci", Action: promote.ActionHoldCleared, Model: "m"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for i := 749; i >= 600; i-- {
		want = append(want, base+int64(i)+1)
	}
	b := f.signIn("vera")
	for _, q := range []string{
		"since=2026-12-01T00:10:00Z&until=2026-12-01T00:12:30Z",
		"since=2026-12-01T00:10&until=2026-12-01T00:12:30",
		"since=2026-12-01T01:10:00%2B01:00&until=2026-12-01+00:12:30",
	} {
		var got []int64
		path := Prefix + "/audit?" + q
		var pages []page
		for path != "" && len(pages) < 10 {
			p := b.get(path)
			pages = append(pages, p)
			got = append(got, seqs(t, p)...)
			path = ""
			if o := p.all("older"); len(o) > 0 {
				path = attr(o[0], "href")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("audit?%s, paged back = %d events %v…, want %d from %d down", q, len(got), got[:min(len(got), 3)], len(want), want[0])
		}
		// From the last page back to the first, by the newer links.
		var fwd []int64
		p := pages[len(pages)-1]
		for n := 0; n < 10; n++ {
			fwd = append(seqs(t, p), fwd...)
			l := p.all("newer")
			if len(l) == 0 {
				break
			}
			p = b.get(attr(l[0], "href"))
		}
		if fmt.Sprint(fwd) != fmt.Sprint(want) {
			t.Errorf("audit?%s, paged forward from its last page = %d events, want %d", q, len(fwd), len(want))
		}
		if !strings.Contains(pages[0].body, `name="since" value="`) || strings.Contains(pages[0].body, `name="since" value=""`) {
			t.Errorf("audit?%s: the since field does not keep its value", q)
		}
	}
	if got := seqs(t, b.get(Prefix+"/audit?since=2026-12-01T00:14:59Z")); len(got) != 1 || got[0] != base+900 {
		t.Errorf("audit?since=2026-12-01T00:14:59Z = %v, want the last event, %d", got, base+900)
	}
	if got := seqs(t, b.get(Prefix+"/audit?since=2026-12-02")); len(got) != 0 {
		t.Errorf("audit?since=2026-12-02 = %v, want none", got)
	}
	for _, c := range []struct{ query, want string }{
		{"since=tomorrow", `since=&#34;tomorrow&#34; is not a time`},
		{"until=2026-12-32", `until=&#34;2026-12-32&#34; is not a time`},
		{"since=2026-12-02&until=2026-12-01", `since=&#34;2026-12-02&#34; is after until=&#34;2026-12-01&#34;`},
	} {
		if res := b.get(Prefix + "/audit?" + c.query); res.status != http.StatusBadRequest || !strings.Contains(res.body, c.want) {
			t.Errorf("audit?%s = %d, want 400 naming %s:\n%s", c.query, res.status, c.want, res.body)
		}
	}
}

// TestAuditPageBadFilter: a filter that cannot be applied (a mistyped
// date, an action Promote does not write) is a 400 that shows the error
// above the filter form, as it was sent, so that the auditor puts it right
// there; no events are listed, as none were filtered.
func TestAuditPageBadFilter(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	for _, c := range []struct {
		query string
		want  string
		// fields are the form's values the page must keep.
		fields map[string]string
	}{
		{"model=credit-risk&actor=carol&since=yesterday&until=2026-12-01", `since="yesterday" is not a time`,
			map[string]string{"f-model": "credit-risk", "f-actor": "carol", "f-since": "yesterday", "f-until": "2026-12-01"}},
		{"model=credit-risk&action=promotion.gated&since=2026-11-01", `action="promotion.gated": Promote writes no such action`,
			map[string]string{"f-model": "credit-risk", "f-since": "2026-11-01"}},
		{"promotion=pr_1&since=2026-12-02&until=2026-12-01", `since="2026-12-02" is after until="2026-12-01"`,
			map[string]string{"f-promotion": "pr_1", "f-since": "2026-12-02", "f-until": "2026-12-01"}},
		// A time the page reads but the store cannot bound (out of its
		// years) is refused by the store, and shown the same way.
		{"model=credit-risk&since=1000-01-01", "out of range",
			map[string]string{"f-model": "credit-risk", "f-since": "1000-01-01"}},
		{"after=3&until=2300-01-01", "out of range", map[string]string{"f-until": "2300-01-01"}},
		// A version is named within its model: 2 of one model is not 2
		// of another.
		{"version=2&actor=carol", `version "2" without a model`, map[string]string{"f-model": "", "f-version": "2", "f-actor": "carol"}},
	} {
		t.Run(c.query, func(t *testing.T) {
			res := b.get(Prefix + "/audit?" + c.query)
			if res.status != http.StatusBadRequest {
				t.Fatalf("GET /audit?%s = %d, want 400", c.query, res.status)
			}
			if got := text(res.one(t, "error")); !strings.Contains(got, c.want) {
				t.Errorf("error = %q, want it to say %q", got, c.want)
			}
			form := res.one(t, "audit-filters")
			for id, want := range c.fields {
				in := findAll(form, func(n *html.Node) bool { return attr(n, "id") == id })
				if len(in) != 1 || attr(in[0], "value") != want {
					t.Errorf("field #%s of the form = %v, want the value %q as sent", id, in, want)
				}
			}
			if n := len(res.all("audit-row")) + len(res.all("audit-table")); n != 0 {
				t.Errorf("a filter that cannot be applied lists %d events or tables, want none", n)
			}
			current := findAll(res.doc, func(n *html.Node) bool { return attr(n, "aria-current") == "page" })
			if len(current) != 1 || attr(current[0], "href") != Prefix+"/audit" {
				t.Errorf("the navigation marks %d entries as the current page, want the audit log", len(current))
			}
		})
	}
}

func TestChainVerification(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db := f.rawDB()
	appendN := func(n int) {
		t.Helper()
		err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
			for i := range n {
				if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: "alice", Action: promote.ActionHoldSet, Model: "m"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tamper := func(seq int64) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `UPDATE audit_events SET body = replace(body, '"alice"', '"mallory"') WHERE seq = $1`, seq); err != nil {
			t.Fatal(err)
		}
	}
	c := newChainVerifier(f.env.Store, time.Now)
	total := f.auditCount()
	if st := c.Status(ctx); !st.Verified || st.Broken != nil || st.Seq != total {
		t.Fatalf("first status = %+v, want verified through %d", st, total)
	}
	// New events are verified incrementally.
	appendN(5)
	if st := c.Status(ctx); st.Broken != nil || st.Seq != total+5 {
		t.Fatalf("after appending = %+v, want verified through %d", st, total+5)
	}
	// An event older than the last verified one is not read again until a
	// full verification.
	tamper(total + 2)
	if st := c.Status(ctx); st.Broken != nil {
		t.Errorf("incremental status saw an old event: %+v", st.Broken)
	}
	if err := c.Full(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(ctx); st.Broken == nil || st.Broken.Seq != total+2 || st.Broken.Kind != audit.BreakModified {
		t.Errorf("after a full verification = %+v, want broken at %d", st.Broken, total+2)
	}

	t.Run("a new event tampered", func(t *testing.T) {
		g := newFixture(t)
		c := newChainVerifier(g.env.Store, time.Now)
		head := c.Status(ctx).Seq
		err := g.env.Store.Update(ctx, func(tx promote.Tx) error {
			for i := range 3 {
				if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: "alice", Action: promote.ActionHoldSet}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.rawDB().ExecContext(ctx, `UPDATE audit_events SET body = replace(body, '"alice"', '"mallory"') WHERE seq = $1`, head+2); err != nil {
			t.Fatal(err)
		}
		st := c.Status(ctx)
		if st.Broken == nil || st.Broken.Seq != head+2 || st.Broken.Kind != audit.BreakModified {
			t.Fatalf("status = %+v, want broken at %d", st.Broken, head+2)
		}
		// The audit page says so.
		g.ui.chain = c
		p := g.signIn("vera").get(Prefix + "/audit")
		if brk := p.one(t, "chain-broken"); attr(brk, "data-seq") != fmt.Sprint(head+2) || !strings.Contains(text(brk), "modified") {
			t.Errorf("audit page = %q", text(brk))
		}
	})
	t.Run("the last verified event tampered", func(t *testing.T) {
		g := newFixture(t)
		c := newChainVerifier(g.env.Store, time.Now)
		head := c.Status(ctx).Seq
		if _, err := g.rawDB().ExecContext(ctx, `UPDATE audit_events SET body = replace(body, '"seq":', '"seq": ') WHERE seq = $1`, head); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(ctx); st.Broken == nil || st.Broken.Seq != head {
			t.Errorf("status = %+v, want broken at %d", st.Broken, head)
		}
	})
	t.Run("the end of the log removed", func(t *testing.T) {
		g := newFixture(t)
		c := newChainVerifier(g.env.Store, time.Now)
		head := c.Status(ctx).Seq
		if _, err := g.rawDB().ExecContext(ctx, `DELETE FROM audit_events WHERE seq >= $1`, head-1); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(ctx); st.Broken == nil || st.Broken.Kind != audit.BreakDeleted {
			t.Errorf("status = %+v, want a deletion", st.Broken)
		}
	})
}

// TestAuditActorFilterExact checks that paging towards newer events
// filters the actor as the store does, exactly: both directions show the
// same events.
func TestAuditActorFilterExact(t *testing.T) {
	f := newFixture(t)
	var want []int64
	err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i, actor := range []string{"carol", "Carol", "CAROL", "carol"} {
			e, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: actor, Action: promote.ActionHoldCleared, Model: "m"})
			if err != nil {
				return err
			}
			if actor == "carol" {
				want = append([]int64{e.Seq}, want...) // newest first
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	for _, path := range []string{"/audit?actor=carol&action=hold.cleared", "/audit?actor=carol&action=hold.cleared&after=1"} {
		if diff := cmp.Diff(want, seqs(t, b.get(Prefix+path))); diff != "" {
			t.Errorf("GET %s: events (-want +got):\n%s", path, diff)
		}
	}
}

// An auditor reads a rollout's steps, its end and an approval in words on
// the promotion's history and in the audit log: the rollout record's
// reason (the step is the decision beside it), the approver's roles and
// comment; not the stored JSON cut after 300 characters, whose long
// unbroken runs also stretched the page past the window.
func TestRolloutAndApprovalReasonsInWords(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	reasons := map[string][]string{}
	p := b.get(Prefix + "/promotions/" + f.demo.RolledBack)
	for _, r := range p.all("history-row") {
		cells := byTag(r, "td")
		reasons[text(cells[3])] = append(reasons[text(cells[3])], text(cells[5]))
	}
	want := map[string][]string{
		promote.ActionRolloutStep: {
			"",
			"",
			"canary error rate 4.8% against stable 0.2% at step 2 (50%): the sequential test rejects equality",
		},
		promote.ActionPromotionApproval: {"as approver, ml-lead: numbers look right; go"},
	}
	for action, w := range want {
		if diff := cmp.Diff(w, reasons[action]); diff != "" {
			t.Errorf("history reasons of %s (-want +got):\n%s", action, diff)
		}
	}
	a := b.get(Prefix + "/audit?action=" + promote.ActionRolloutFinished)
	var finished []string
	for _, r := range a.all("audit-row") {
		cells := byTag(r, "td")
		finished = append(finished, text(cells[len(cells)-2])) // the reasons, before the hash
	}
	// Both prod rollouts that finished were their environment's first.
	first := "no stable version to compare with: the candidate took all traffic"
	if diff := cmp.Diff([]string{first, first}, finished); diff != "" {
		t.Errorf("audit log's rollout.finished reasons (-want +got):\n%s", diff)
	}
	for _, page := range []page{p, a} {
		if strings.Contains(page.body, `{&#34;step&#34;`) || strings.Contains(page.body, `{&#34;roles&#34;`) {
			t.Errorf("a page shows a rollout record or an approval as JSON")
		}
	}
}

// A person's rollback ends the rollout in the registry, which records no
// sample of the end: the chart still says the rollout was rolled back and
// marks when, as it does when the controller rolls back.
func TestChartOfAPersonsRollback(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	b := f.signIn("bob")
	r := f.startRollout(t, b)
	r.Weight = 0.1
	if _, err := f.env.Service.RecordRollout(ctx, f.env.Principals["bob"], r, "step 1: weight 10%"); err != nil {
		t.Fatal(err)
	}
	for i, s := range []promote.RolloutSample{
		{Event: "step", Weight: 0.1},
		{Weight: 0.1, Stable: promote.TrackSample{Requests: 900, Errors: 2, LatencyP95: 0.1}, Canary: promote.TrackSample{Requests: 100, Errors: 1, LatencyP95: 0.12}, Decision: "continue"},
	} {
		f.env.Clock.Advance(time.Duration(i) * 30 * time.Second)
		s.PromotionID, s.At = f.demo.Awaiting, f.env.Clock.Now()
		if err := f.env.Store.Update(ctx, func(tx promote.Tx) error { return tx.AppendRolloutSample(s, promote.RolloutSamplesKept) }); err != nil {
			t.Fatal(err)
		}
	}
	f.env.Clock.Advance(30 * time.Second)
	if _, err := f.env.Service.Rollback(ctx, f.env.Principals["bob"], registry.RollbackRequest{Model: "credit-risk", Environment: "prod", Reason: "answers look wrong"}); err != nil {
		t.Fatal(err)
	}
	p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	if got := text(p.one(t, "rollout-state")); !strings.Contains(got, "rolled back") {
		t.Fatalf("rollout = %q, want it rolled back", got)
	}
	if got := p.all("chart-outcome"); len(got) != 1 || text(got[0]) != "rolled back" {
		t.Errorf("chart outcome = %d elements, want one saying rolled back", len(got))
	}
	for _, svg := range byTag(p.one(t, "rollout-chart"), "svg") {
		var labels []string
		for _, m := range byTestID(svg, "marker") {
			labels = append(labels, attr(m, "data-label"))
		}
		if got := strings.Join(labels, ","); got != "step 1: 10%,rolled back" {
			t.Errorf("panel %s markers = %s, want the step and the rollback", attr(svg, "id"), got)
		}
		if desc := text(byTag(svg, "desc")[0]); !strings.Contains(desc, "The rollout rolled back at 1m.") {
			t.Errorf("panel %s desc = %q, want the rollback 1m after the first sample", attr(svg, "id"), desc)
		}
	}
}

// A shadow rollout's candidate answers no user: the pipeline and the
// promotion page say since when it mirrors, not a step and a weight of 0%
// it does not have; a canary keeps its weight and step.
func TestShadowRolloutLines(t *testing.T) {
	f := newFixture(t)
	started := webuitest.Start.Add(time.Hour)
	shadow := promote.Rollout{PromotionID: "pr_1", Model: "credit-risk", Version: "2", Environment: "prod", Stable: "1", Strategy: "shadow",
		State: promote.RolloutRunning, StartedAt: started, StepStartedAt: started.Add(time.Minute), UpdatedAt: started.Add(2 * time.Minute)}
	canary := shadow
	canary.Strategy, canary.Step, canary.Weight = "canary", 1, 0.5
	first := canary // the first version there: no stable version
	first.Stable = ""
	render := func(page string, data any) string {
		t.Helper()
		var buf strings.Builder
		if err := f.ui.pages[page].ExecuteTemplate(&buf, "base", view{Title: page, Page: data}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	for _, tt := range []struct {
		r                       promote.Rollout
		wantPipeline, wantPromo string
	}{
		{shadow, "shadow · mirroring since 2026-11-16 10:01:00 UTC · running",
			"shadow against stable 1: running · mirroring since 2026-11-16 10:01:00 UTC (the shadow answers no user) · started 2026-11-16 10:00:00 UTC"},
		{canary, "canary 50% · step 2 · running", "canary against stable 1: running · step 2 · weight 50% · started 2026-11-16 10:00:00 UTC"},
		{first, "canary 50% · step 2 · running",
			"canary of the first version there, with no stable version to compare with: running · step 2 · weight 50% · started 2026-11-16 10:00:00 UTC"},
	} {
		t.Run(tt.r.Strategy, func(t *testing.T) {
			r := tt.r
			pv := pipelineView{Envs: []string{"prod"}, Rows: []pipelineRow{{Model: "credit-risk", Cells: []pipelineCell{{Env: "prod", Rollout: &r}}}}}
			doc, err := html.Parse(strings.NewReader(render("pipeline", pv)))
			if err != nil {
				t.Fatal(err)
			}
			if got := text(byTestID(doc, "rollout")[0]); got != tt.wantPipeline {
				t.Errorf("pipeline's rollout = %q, want %q", got, tt.wantPipeline)
			}
			prv := &promotionView{P: promote.Promotion{ID: "pr_1", Model: "credit-risk", Version: "2", Environment: "prod", State: promote.StateRollingOut}, Rollout: &r}
			if doc, err = html.Parse(strings.NewReader(render("promotion", prv))); err != nil {
				t.Fatal(err)
			}
			if got := text(byTestID(doc, "rollout-state")[0]); got != tt.wantPromo {
				t.Errorf("promotion's rollout = %q, want %q", got, tt.wantPromo)
			}
		})
	}
}

// approveAwaiting approves the demo's promotion awaiting approval (credit-risk
// 2 in prod) through the form, as bob, and returns bob's browser and the
// deployment it made.
func (f *fixture) approveAwaiting(t *testing.T) (*browser, []promote.Deployment) {
	t.Helper()
	b := f.signIn("bob")
	res := decide(t, b, f.demo.Awaiting, "approve", map[string][]string{"digest": {f.digestOf(f.demo.Awaiting)}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("approve = %d", res.status)
	}
	deps, err := f.env.Service.Deployments(t.Context(), "credit-risk", "prod")
	if err != nil || len(deps) != 1 {
		t.Fatalf("deployments = %v, %v", deps, err)
	}
	return b, deps
}

// A page that fails because the database cannot be reached is a 503 with
// Retry-After that says so, not a 500, and shows no driver's words.
func TestUnavailablePage(t *testing.T) {
	f := newFixture(t)
	rec := httptest.NewRecorder()
	err := fmt.Errorf("%w: dial tcp 10.0.0.5:5432: connection refused", promote.ErrUnavailable)
	f.ui.fail(rec, httptest.NewRequest(http.MethodGet, Prefix+"/models", nil), nil, err)
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(body, "The database is unavailable") {
		t.Errorf("fail(unavailable) = %d, Retry-After %q, body:\n%s\nwant 503 saying the database is unavailable", rec.Code, rec.Header().Get("Retry-After"), body)
	}
	if strings.Contains(body, "10.0.0.5") {
		t.Error("the page shows the driver's words")
	}
}

// readCSV reads the audit CSV of res, checking that it is one.
func readCSV(t *testing.T, res page) [][]string {
	t.Helper()
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV = %d %s, want 200 text/csv:\n%.500s", res.status, res.header.Get("Content-Type"), res.body)
	}
	rows, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not read: %v", err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], audit.CSVHeader) {
		t.Fatalf("the CSV's header row = %v, want %v", rows[:min(1, len(rows))], audit.CSVHeader)
	}
	return rows[1:]
}

// csvColumn is the index of the audit CSV's column name.
func csvColumn(t *testing.T, name string) int {
	t.Helper()
	i := slices.Index(audit.CSVHeader, name)
	if i < 0 {
		t.Fatalf("the audit CSV has no %s column: %v", name, audit.CSVHeader)
	}
	return i
}

// TestAuditCSV: the audit page's "Download CSV" link carries its filters,
// not its cursor, and downloads every event they match, newest first and
// each once, across more than one batch of the store, as an attachment
// named after the range; each row is the event as the page shows it, its
// reasons in the same words, its time in RFC 3339 in UTC, a cell a
// spreadsheet would take for a formula made text.
func TestAuditCSV(t *testing.T) {
	f := newFixture(t)
	base := f.auditCount()
	// 2,500 events a second from midnight on 1 December, every fifth by
	// carol, the 2,000 from 00:05:00 to 00:38:20 more than two batches.
	err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i := range 2500 {
			e := promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: "ci", Action: promote.ActionHoldCleared, Model: "m",
				Decision: "cleared", Reasons: json.RawMessage(fmt.Sprintf(`["hold %d cleared: fine, \"really\""]`, i))}
			if i%5 == 0 {
				e.Actor = "carol"
			}
			if i == 300 {
				e.Reasons = json.RawMessage(`["=HYPERLINK(\"http://evil.example\",\"click\")"]`)
			}
			if _, err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seqOf := func(i int) int64 { return base + int64(i) + 1 }
	b := f.signIn("vera")
	filters := "actor=carol&action=hold.cleared&since=2026-12-01T00%3A05%3A00Z&until=2026-12-01+00%3A38%3A20"
	p := b.get(Prefix + "/audit?" + filters + "&before=" + fmt.Sprint(seqOf(1000)))
	link := attr(p.one(t, "audit-csv"), "href")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	wantQuery := url.Values{"actor": {"carol"}, "action": {"hold.cleared"}, "since": {"2026-12-01T00:05:00Z"}, "until": {"2026-12-01 00:38:20"}}
	if u.Path != Prefix+"/audit.csv" || u.Query().Encode() != wantQuery.Encode() {
		t.Errorf("Download CSV links to %q, want %s?%s: the filters, without the page's cursor", link, Prefix+"/audit.csv", wantQuery.Encode())
	}
	res := b.get(link)
	rows := readCSV(t, res)
	var want []string
	for i := 2299; i >= 300; i-- {
		if i%5 == 0 {
			want = append(want, fmt.Sprint(seqOf(i)))
		}
	}
	var got []string
	for _, r := range rows {
		got = append(got, r[0])
	}
	if !slices.Equal(got, want) {
		t.Errorf("the CSV lists %d events %v…, want %d from %s down", len(got), got[:min(3, len(got))], len(want), want[0])
	}
	if cd, want := res.header.Get("Content-Disposition"), `attachment; filename=audit_hold.cleared_carol_20261201T000500Z-20261201T003820Z.csv`; cd != want {
		t.Errorf("Content-Disposition = %q, want %q", cd, want)
	}
	// The first row, event i = 2295, and the one whose reason is a formula.
	reasons := csvColumn(t, "reasons")
	first := []string{fmt.Sprint(seqOf(2295)), "2026-12-01T00:38:15Z", "carol", "hold.cleared", "m", "", "", "", "", "", "cleared", `hold 2295 cleared: fine, "really"`}
	if len(rows) == 0 || !slices.Equal(rows[0][:len(first)], first) || len(rows[0][len(first)]) != 64 {
		t.Errorf("first row = %q, want %q and a hash", rows[:min(1, len(rows))], first)
	}
	if last := rows[len(rows)-1]; last[reasons] != `'=HYPERLINK("http://evil.example","click")` {
		t.Errorf("a reason that is a formula = %q in the CSV, want it with a leading apostrophe", last[reasons])
	}
	// Without filters: every event, the demo's with its reasons in the
	// words the page shows.
	all := readCSV(t, b.get(Prefix+"/audit.csv"))
	if int64(len(all)) != base+2500 || all[0][0] != fmt.Sprint(seqOf(2499)) || all[len(all)-1][0] != "1" {
		t.Errorf("the whole log as CSV = %d rows from %s to %s, want %d from %d to 1", len(all), all[0][0], all[len(all)-1][0], base+2500, seqOf(2499))
	}
	page := b.get(Prefix + "/audit?before=" + fmt.Sprint(base+1))
	for _, r := range page.all("audit-row") {
		seq, _ := strconv.ParseInt(attr(r, "data-seq"), 10, 64)
		cells := byTag(r, "td")
		if words := text(cells[len(cells)-2]); all[int64(len(all))-seq][reasons] != words {
			t.Errorf("event %d's reasons: %q in the CSV, %q on the page", seq, all[int64(len(all))-seq][reasons], words)
		}
	}
	if none := readCSV(t, b.get(Prefix+"/audit.csv?actor=nobody")); len(none) != 0 {
		t.Errorf("the CSV of no events has %d rows, want only the header", len(none))
	}
}

// TestAuditCSVAccess: the CSV is read as the page is: signed out, the
// browser goes to sign in and comes back to it; every role may read it;
// a filter that cannot be applied gets the page's 400 with the form.
func TestAuditCSVAccess(t *testing.T) {
	f := newFixture(t)
	path := Prefix + "/audit.csv?actor=bob&since=2026-11-01"
	res := f.browser().get(path)
	if want := Prefix + "/login?next=" + url.QueryEscape(path); res.status != http.StatusSeeOther || res.header.Get("Location") != want {
		t.Errorf("GET %s signed out = %d to %q, want 303 to %q", path, res.status, res.header.Get("Location"), want)
	}
	if strings.Contains(res.body, "seq,") || strings.Contains(res.body, `"seq"`) {
		t.Errorf("GET %s signed out answers with the CSV", path)
	}
	for _, name := range []string{"vera", "alice", "bob", "root"} {
		if rows := readCSV(t, f.signIn(name).get(Prefix+"/audit.csv?actor=bob")); len(rows) == 0 {
			t.Errorf("%s downloads no events of bob's", name)
		}
	}
	b := f.signIn("vera")
	for _, c := range []struct{ query, want string }{
		{"model=credit-risk&since=yesterday", `since=&#34;yesterday&#34; is not a time`},
		{"action=promotion.gated", "Promote writes no such action"},
		{"since=2026-12-02&until=2026-12-01", `is after until`},
		{"before=x", "is not a sequence number"},
		{"since=1000-01-01", "out of range"},
	} {
		res := b.get(Prefix + "/audit.csv?" + c.query)
		if res.status != http.StatusBadRequest || !strings.Contains(res.body, c.want) || len(res.all("audit-filters")) != 1 {
			t.Errorf("audit.csv?%s = %d, want 400 and the audit page's form naming %s:\n%.300s", c.query, res.status, c.want, res.body)
		}
	}
}

// TestSectionsShowTheNewestAndLinkToAll: the model and version pages list
// the newest sectionSize holds and promotions of a section and link to the
// paged list of them all, rather than everything or a silent cut; and a
// version's active hold is shown however many cleared holds came after
// it, since it is what keeps the version out.
func TestSectionsShowTheNewestAndLinkToAll(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.env.Service.CreateModel(ctx, f.env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	at := webuitest.Start
	const cleared, promotions, modelHolds = 1001, sectionSize + 5, sectionSize + 5
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		for i := range modelHolds + 1 {
			v := promote.Version{Model: "ranker", Version: fmt.Sprint(i), Digest: "sha256:" + strings.Repeat("ab", 32),
				Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: at}
			if err := tx.CreateVersion(v); err != nil {
				return err
			}
		}
		if _, err := tx.AddHold(promote.Hold{Model: "ranker", Version: "0", Environment: "prod", Reason: "the first, still active", SetBy: "sre", SetAt: at}); err != nil {
			return err
		}
		for i := range cleared {
			h, err := tx.AddHold(promote.Hold{Model: "ranker", Version: "0", Environment: "prod", Reason: fmt.Sprintf("cleared %d", i), SetBy: "sre", SetAt: at})
			if err != nil {
				return err
			}
			if _, err := tx.ClearHold(h.ID, "sre", "mended", at); err != nil {
				return err
			}
		}
		for i := range promotions {
			p := promote.Promotion{ID: fmt.Sprintf("pr_ranker_%03d", i), Model: "ranker", Version: "0", Environment: "staging", Digest: "sha256:" + strings.Repeat("ab", 32),
				State: promote.StateCancelled, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at}
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
		}
		// Another version's, which the links to the lists leave out.
		if _, err := tx.AddHold(promote.Hold{Model: "ranker", Version: "1", Environment: "prod", Reason: "another version", SetBy: "sre", SetAt: at}); err != nil {
			return err
		}
		if _, err := tx.CreatePromotion(promote.Promotion{ID: "pr_ranker_other", Model: "ranker", Version: "1", Environment: "staging", Digest: "sha256:" + strings.Repeat("ab", 32),
			State: promote.StateCancelled, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at}); err != nil {
			return err
		}
		for i := 1; i <= modelHolds; i++ {
			if _, err := tx.AddHold(promote.Hold{Model: "ranker", Version: fmt.Sprint(i), Environment: "staging", Reason: "bad", SetBy: "sre", SetAt: at}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	// href is the link of the one element with the test ID within n, ""
	// when there is none.
	href := func(n *html.Node, id string) string {
		if l := byTestID(n, id); len(l) == 1 {
			if a := byTag(l[0], "a"); len(a) == 1 {
				return attr(a[0], "href")
			}
		}
		return ""
	}

	v := b.get(Prefix + "/models/ranker/versions/0")
	if v.status != http.StatusOK {
		t.Fatalf("version page = %d", v.status)
	}
	var prod, staging *html.Node
	for _, s := range v.all("env-history") {
		switch attr(s, "data-env") {
		case "prod":
			prod = s
		case "staging":
			staging = s
		}
	}
	if prod == nil || staging == nil {
		t.Fatalf("the version page has no prod or staging history:\n%s", v.body)
	}
	holds := byTestID(prod, "version-hold")
	if len(holds) != sectionSize+1 || !strings.HasPrefix(text(holds[0]), "On hold since") || !strings.Contains(text(holds[0]), "the first, still active") {
		t.Errorf("prod lists %d holds, the first %q; want the active one first and the newest %d cleared", len(holds), text(holds[0]), sectionSize)
	}
	if got, want := href(prod, "more-holds"), "/ui/holds?environment=prod&model=ranker&version=0"; got != want {
		t.Errorf("prod's link to every hold = %q, want %q", got, want)
	}
	if rows := byTestID(staging, "version-promotion"); len(rows) != sectionSize {
		t.Errorf("staging lists %d promotions, want the newest %d", len(rows), sectionSize)
	}
	if got, want := href(staging, "more-promotions"), "/ui/promotions?environment=staging&model=ranker&version=0"; got != want {
		t.Errorf("staging's link to every promotion = %q, want %q", got, want)
	}
	// The links lead to the lists of the version's own, without the other
	// version's hold and promotion.
	for _, l := range []struct {
		link      string
		col, rows int // the version's cell; how many rows the first page has
	}{{href(prod, "more-holds"), 2, listPageSize}, {href(staging, "more-promotions"), 3, promotions}} {
		list := b.get(l.link)
		if list.status != http.StatusOK || len(list.all("list-row")) != l.rows {
			t.Errorf("GET %s = %d with %d rows, want 200 with %d", l.link, list.status, len(list.all("list-row")), l.rows)
		}
		for _, r := range list.all("list-row") {
			if v := text(byTag(r, "td")[l.col]); v != "0" {
				t.Errorf("GET %s lists a row of version %s: %s", l.link, v, text(r))
				break
			}
		}
	}
	if n := len(byTestID(staging, "more-holds")); n != 0 {
		t.Errorf("staging, with no hold of the version, links to more holds")
	}

	m := b.get(Prefix + "/models/ranker")
	if rows := m.all("model-hold"); len(rows) != sectionSize || !strings.Contains(text(rows[0]), "Version 25 is on hold in staging") {
		t.Errorf("the model page lists %d holds; want the newest %d, version 25's first", len(rows), sectionSize)
	}
	all := href(m.doc, "more-holds")
	if want := "/ui/holds?model=ranker"; all != want {
		t.Fatalf("the model page's link to every hold = %q, want %q", all, want)
	}
	// The link leads to the list, which pages them all.
	if l := b.get(all); l.status != http.StatusOK || len(l.all("list-row")) != listPageSize {
		t.Errorf("GET %s = %d with %d rows, want 200 with %d", all, l.status, len(l.all("list-row")), listPageSize)
	}
}

// TestPipelineReadsEveryHold: the pipeline counts every active hold and
// shows each cell's newest few with a link to the others, however many
// holds are newer elsewhere; it does not lose the older ones.
func TestPipelineReadsEveryHold(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.env.Service.CreateModel(ctx, f.env.Principals["alice"], "ranker", ""); err != nil {
		t.Fatal(err)
	}
	const many = 1001
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		if err := tx.CreateVersion(promote.Version{Model: "ranker", Version: "1", Digest: "sha256:" + strings.Repeat("ab", 32),
			Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: webuitest.Start}); err != nil {
			return err
		}
		for i := range many {
			if _, err := tx.AddHold(promote.Hold{Model: "ranker", Version: "1", Environment: "staging", Reason: fmt.Sprintf("hold %d", i), SetBy: "sre", SetAt: webuitest.Start}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p := f.signIn("vera").get(Prefix + "/")
	if p.status != http.StatusOK {
		t.Fatalf("GET /ui/ = %d", p.status)
	}
	// The demo's holds are older than ranker's.
	for _, tt := range []struct{ model, env, want string }{
		{"fraud-detector", "prod", "hold on 2: rolled back"},
		{"churn-predictor", "prod", "hold on 1: promotion"},
		{"ranker", "staging", fmt.Sprintf("no live version hold on 1: hold %d hold on 1: hold %d hold on 1: hold %d %d more holds", many-1, many-2, many-3, many-cellHolds)},
	} {
		if got := cellText(t, p, tt.model, tt.env); !strings.Contains(got, tt.want) {
			t.Errorf("cell %s/%s = %q, want it to hold %q", tt.model, tt.env, got, tt.want)
		}
	}
	if got, want := text(p.one(t, "pipeline-summary")), fmt.Sprintf("4 models · 1 active promotions · %d holds", many+2); got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got, want := attr(byTag(p.one(t, "more-holds"), "a")[0], "href"), "/ui/holds?environment=staging&model=ranker"; got != want {
		t.Errorf("the cell's link to its other holds = %q, want %q", got, want)
	}
}

// TestPipelinePages: the pipeline lists pipelinePageSize models a page,
// newest (the last registered) first; Older and Newer links walk every
// model once, the summary counts the whole store's models, active
// promotions and holds and says the page is one of several, and a cursor
// that is not a sequence number is refused.
func TestPipelinePages(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	b := f.signIn("vera")
	rows := func(p page) []string {
		var out []string
		for _, r := range p.all("pipeline-row") {
			out = append(out, attr(r, "data-model"))
		}
		return out
	}
	want := rows(b.get(Prefix + "/")) // the demo's, newest first
	const total = 2*pipelinePageSize + 10
	if err := f.env.Store.Update(ctx, func(tx promote.Tx) error {
		for i := range total {
			m := promote.Model{Name: fmt.Sprintf("m%03d", i), CreatedBy: "alice", CreatedAt: webuitest.Start}
			if _, err := tx.CreateModel(m); err != nil {
				return err
			}
			want = append([]string{m.Name}, want...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	link := func(p page, id string) string {
		if l := p.all(id); len(l) > 0 {
			return attr(l[0], "href")
		}
		return ""
	}
	first := b.get(Prefix + "/")
	if first.status != http.StatusOK {
		t.Fatalf("GET /ui/ = %d", first.status)
	}
	if got, want := text(first.one(t, "pipeline-summary")), fmt.Sprintf("%d models, %d on this page, the newest first · 1 active promotions · 2 holds", len(want), pipelinePageSize); got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if l := link(first, "newer"); l != "" {
		t.Errorf("the first page links to a newer page, %s", l)
	}
	var got, pages []string
	for path := Prefix + "/"; path != ""; path = link(b.get(path), "older") {
		if len(pages) > total {
			t.Fatal("the Older links do not end")
		}
		pages = append(pages, path)
		got = append(got, rows(b.get(path))...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("models paged through with Older (-want +got):\n%s", diff)
	}
	if len(pages) != 3 {
		t.Errorf("%d pages of %d models, want 3", len(pages), len(want))
	}
	last := b.get(pages[len(pages)-1])
	if diff := cmp.Diff(want[pipelinePageSize:2*pipelinePageSize], rows(b.get(link(last, "newer")))); diff != "" {
		t.Errorf("Newer from the last page (-want +got):\n%s", diff)
	}
	// The demo's models are on the last page, their cells as on a page of
	// their own.
	if got := cellText(t, last, "fraud-detector", "prod"); !strings.Contains(got, "hold on 2") {
		t.Errorf("cell fraud-detector/prod on the last page = %q, want its hold", got)
	}
	for _, q := range []string{"before=-1", "after=ten"} {
		res := b.get(Prefix + "/?" + q)
		if res.status != http.StatusBadRequest || !strings.Contains(text(res.one(t, "error-message")), "is not a sequence number") {
			t.Errorf("GET /ui/?%s = %d, want 400 naming the cursor", q, res.status)
		}
	}
}

// The promotion page shows the requester's note for the approvers, as
// text: markup in it is not markup, and its line breaks are kept.
func TestPromotionPageNote(t *testing.T) {
	f := newFixture(t)
	waiting, err := f.env.Service.Promotion(t.Context(), f.demo.Awaiting)
	if err != nil {
		t.Fatal(err)
	}
	p := waiting.Promotion
	const note = "retrained on March data;\n<b>see</b> the fairness report"
	view, err := f.env.Service.RequestPromotion(t.Context(), promote.Principal{Name: p.RequestedBy, Role: promote.RoleSubmitter},
		registry.PromoteRequest{Model: p.Model, Version: p.Version, Environment: p.Environment, Note: note})
	if err != nil {
		t.Fatal(err)
	}
	b := f.signIn("bob")
	page := b.get(Prefix + "/promotions/" + view.Promotion.ID)
	n := page.one(t, "note")
	if got := n.FirstChild; got == nil || got.Type != html.TextNode || got.Data != note || got.NextSibling != nil {
		t.Errorf("the note's element holds %v, want the text %q alone", got, note)
	}
	// Without a note, nothing is shown of it.
	if old := b.get(Prefix + "/promotions/" + f.demo.Awaiting); len(old.all("note")) != 0 {
		t.Errorf("a promotion without a note shows %d notes", len(old.all("note")))
	}
}
