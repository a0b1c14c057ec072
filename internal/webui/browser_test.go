package webui

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/browsertest"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// The browser tests drive the UI in a real headless Chromium against a real
// server: the demo service on SQLite, the UI and the REST API on one
// loopback listener, webhooks delivered to a local receiver that checks
// their signatures. A failing test keeps a screenshot of each of its tabs
// (see browsertest).

// screenshotDir is where TestScreenshots saves the pages; PROMOTE_SCREENSHOTS
// does the same. docs/images holds the copies the documentation shows.
var screenshotDir = flag.String("screenshots", "", "save PNGs of the UI's pages in this `directory` (../../docs/images for the docs)")

// liveSite is a running server with the demo data, for the browser tests.
type liveSite struct {
	URL  string
	Env  *webuitest.Env
	Demo webuitest.Demo
	// Deliveries is the webhook delivery log the UI and the API show.
	Deliveries *notify.StoreLog
	// WantDeliveries counts the attempts deliverWebhooks made, by
	// "endpoint status code".
	WantDeliveries map[string]int
	// Steering is the rollout people steer, with withSteering.
	Steering *webuitest.Steering
}

// Webhook endpoints of the live site: the receiver takes rollbacks, checks
// signatures and answers 204; the pager takes promotions awaiting approval
// and always answers 503, so its deliveries are retried and fail.
const (
	receiverEndpoint = "audit-receiver"
	pagerEndpoint    = "pager"
)

// siteOption changes what a live site serves, once its demo is seeded.
type siteOption func(t *testing.T, s *liveSite, ui *Options, api *httpapi.Options)

// withSteering has the site's credit-risk 2 roll out to prod and wait for
// a person at 10%, and the UI and the API steer rollouts through a real
// rollout controller (webuitest.Env.Steer).
func withSteering(t *testing.T, s *liveSite, ui *Options, api *httpapi.Options) {
	t.Helper()
	st, err := s.Env.Steer(t.Context(), s.Demo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s.Steering, ui.Rollouts, api.Rollouts = st, st.Controller, st.Controller
}

// startLiveSite seeds a demo service in a temporary directory and serves
// it the way promote serve mounts it: the REST API at the root and the UI
// under /ui/, on 127.0.0.1. Webhooks for the demo's audit events are
// delivered before it returns.
func startLiveSite(t *testing.T, opts ...siteOption) *liveSite {
	t.Helper()
	ctx := t.Context()
	env, demo, err := webuitest.NewDemo(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Store.Close() })
	site := &liveSite{Env: env, Demo: demo, Deliveries: notify.NewStoreLog(env.Store)}
	disp := site.deliverWebhooks(t)

	uiOpts := Options{Service: env.Service, Deliveries: site.Deliveries, Resender: disp, Now: env.Clock.Now}
	apiOpts := httpapi.Options{Deliveries: site.Deliveries, Now: env.Clock.Now}
	for _, o := range opts {
		o(t, site, &uiOpts, &apiOpts)
	}
	ui, err := New(uiOpts)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.NewServer(env.Service, apiOpts)
	mux := http.NewServeMux()
	mux.Handle("/", api.Handler())
	mux.Handle(Prefix+"/", ui.Handler())
	srv := httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(srv.Close)
	site.URL = srv.URL
	return site
}

// deliverWebhooks runs a real Dispatcher over the demo's audit log, from
// its first event, to the two endpoints, and waits until every attempt is
// in the store's delivery log. What it should send is worked out from the
// audit log with FromAudit, as the Dispatcher does. It returns the
// Dispatcher, stopped, which re-sends the failed deliveries an admin asks for.
func (s *liveSite) deliverWebhooks(t *testing.T) *notify.Dispatcher {
	t.Helper()
	secret := []byte("receiver-secret-0123456789")
	var mu sync.Mutex
	var verified []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			err = notify.Verify(secret, r.Header, body, s.Env.Clock.Now(), 5*time.Minute)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		verified = append(verified, r.Header.Get("Promote-Webhook-Id"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(pager.Close)

	// What the two endpoints will be sent: the demo's rollbacks and its
	// promotions awaiting approval.
	ctx := t.Context()
	var rollbacks, awaiting int
	err := s.Env.Store.ScanAudit(ctx, 0, func(r promote.AuditRecord) error {
		e, err := r.Event()
		if err != nil {
			return err
		}
		switch ev, ok := notify.FromAudit(e); {
		case ok && ev.Type == notify.TypeRolloutRolledBack:
			rollbacks++
		case ok && ev.Type == notify.TypePromotionAwaitingApproval:
			awaiting++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rollbacks == 0 || awaiting == 0 {
		t.Fatalf("the demo has %d rollbacks and %d promotions awaiting approval; the test wants some of each", rollbacks, awaiting)
	}
	s.WantDeliveries = map[string]int{
		receiverEndpoint + " delivered 204": rollbacks,
		pagerEndpoint + " retrying 503":     awaiting,
		pagerEndpoint + " failed 503":       awaiting,
	}

	d, err := notify.NewDispatcher(notify.DispatcherConfig{
		Config: notify.Config{
			Endpoints: []notify.Endpoint{
				{Name: receiverEndpoint, URL: receiver.URL, Secret: secret, Events: []string{notify.TypeRolloutRolledBack}},
				{Name: pagerEndpoint, URL: pager.URL, Secret: []byte("pager-secret-0123456789"), Format: "slack",
					Events: []string{notify.TypePromotionAwaitingApproval}},
			},
			MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Timeout: 5 * time.Second,
			Now: s.Env.Clock.Now,
		},
		Store: s.Env.Store, Poll: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Both endpoints start at the beginning of the audit log.
	err = s.Env.Store.Update(ctx, func(tx promote.Tx) error {
		for _, name := range []string{receiverEndpoint, pagerEndpoint} {
			if _, err := tx.StartWebhookCursor(promote.WebhookCursor{Endpoint: name, UpdatedAt: s.Env.Clock.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	}()
	want := rollbacks + 2*awaiting
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := s.Deliveries.Read(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook deliveries: %d attempts logged after 20s, want %d: %+v", len(got), want, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != rollbacks {
		t.Fatalf("receiver verified %d signed deliveries, want %d", len(verified), rollbacks)
	}
	return d
}

// api returns a REST client of the site signed in as name.
func (s *liveSite) api(name string) *httpapi.Client {
	return httpapi.NewClient(s.URL, s.Env.Tokens[name], nil)
}

// signIn signs in as name through the sign-in form, starting from path
// (which redirects to the form), and checks that it lands back on path.
func (s *liveSite) signIn(t *testing.T, tab *browsertest.Tab, name, path string) {
	t.Helper()
	tab.Navigate(s.URL+path, "#token")
	if got := tab.URL(); !strings.HasPrefix(got, s.URL+Prefix+"/login?next=") {
		t.Fatalf("%s without a session is at %s, want the sign-in page", path, got)
	}
	tab.Fill("#token", s.Env.Tokens[name])
	if code := tab.ClickAndLoad("[data-testid=sign-in]"); code != http.StatusOK {
		t.Fatalf("sign in as %s: status %d, want 200; page says %q", name, code, tab.Text("main"))
	}
	if got := tab.URL(); got != s.URL+path {
		t.Errorf("after signing in as %s the browser is at %s, want %s", name, got, s.URL+path)
	}
	want := fmt.Sprintf("%s (%s)", name, s.Env.Principals[name].Role)
	if got := tab.Text("[data-testid=signed-in-as]"); got != want {
		t.Errorf("signed-in-as = %q, want %q", got, want)
	}
}

// rowTexts returns the text of the cells of the table rows matching sel, a row
// a slice.
func rowTexts(t *testing.T, tab *browsertest.Tab, sel string) [][]string {
	t.Helper()
	var out [][]string
	tab.Eval(fmt.Sprintf(`Array.from(document.querySelectorAll(%q), tr => Array.from(tr.cells, c => c.innerText.trim()))`, sel), &out)
	return out
}

func TestBrowserUI(t *testing.T) {
	site := startLiveSite(t)
	b := browsertest.Start(t)
	start := time.Now()
	t.Cleanup(func() { t.Logf("browser tests took %v", time.Since(start).Round(time.Millisecond)) })

	t.Run("sign in", func(t *testing.T) {
		tab := b.IsolatedTab(t)
		tab.Navigate(site.URL+Prefix+"/", "#token")
		if got := tab.AutofocusedElement("token"); got.ID != "token" {
			t.Errorf("focus on the sign-in page = %v, want the token field (autofocus)", got)
		}
		tab.Fill("#token", "pk_not-a-real-token")
		if code := tab.ClickAndLoad("[data-testid=sign-in]"); code != http.StatusUnauthorized {
			t.Errorf("sign in with a wrong token: status %d, want 401", code)
		}
		if got := tab.Text("[data-testid=error]"); !strings.Contains(got, "not valid") {
			t.Errorf("error after a wrong token = %q, want it to say the token is not valid", got)
		}
		if n := tab.Count("[data-testid=signed-in-as]"); n != 0 {
			t.Errorf("a wrong token shows a signed-in person")
		}
		site.signIn(t, tab, "vera", Prefix+"/")
		if got := tab.Title(); got != "Pipeline · Promote" {
			t.Errorf("Title() = %q, want %q", got, "Pipeline · Promote")
		}
		// The session cookie is HttpOnly: the page's scripts cannot read it.
		var cookies string
		tab.Eval(`document.cookie`, &cookies)
		if strings.Contains(cookies, sessionCookie) {
			t.Errorf("document.cookie = %q shows the session cookie", cookies)
		}
		if code := tab.ClickAndLoad("[data-testid=sign-out]"); code != http.StatusOK {
			t.Errorf("sign out: status %d, want 200", code)
		}
		tab.Navigate(site.URL+Prefix+"/audit", "#token")
		if got := tab.URL(); !strings.Contains(got, "/login?next=") {
			t.Errorf("after signing out the audit page is at %s, want the sign-in page", got)
		}
	})

	// The pages below are read by a viewer; the tabs share vera's session.
	viewer := b.Tab(t)
	site.signIn(t, viewer, "vera", Prefix+"/")

	t.Run("pipeline", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/", "[data-testid=pipeline-table]")
		if got := tab.Texts("#pipeline thead th"); !cmp.Equal(got, []string{"Model", "dev", "staging", "prod"}) {
			t.Errorf("pipeline columns = %q, want Model, dev, staging, prod", got)
		}
		// The rejection of churn-predictor 1 put it on hold in prod.
		holds, err := site.api("vera").Holds(t.Context(), promote.HoldFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tab.Text("[data-testid=pipeline-summary]"), fmt.Sprintf("3 models · 1 active promotions · %d holds", len(holds)); got != want || len(holds) == 0 {
			t.Errorf("summary = %q, want %q (and some holds)", got, want)
		}
		live := func(model, env string) string {
			return strings.Join(tab.Texts(fmt.Sprintf(`tr[data-model=%q] td[data-env=%q] [data-testid=live-version]`, model, env)), ",")
		}
		for _, c := range []struct{ model, env, want string }{
			{"credit-risk", "dev", "2"}, {"credit-risk", "staging", "2"}, {"credit-risk", "prod", "1"},
			{"fraud-detector", "staging", "2"}, {"fraud-detector", "prod", "1"},
			{"churn-predictor", "staging", "1"}, {"churn-predictor", "prod", ""},
		} {
			if got := live(c.model, c.env); got != c.want {
				t.Errorf("live version of %s in %s = %q, want %q", c.model, c.env, got, c.want)
			}
		}
		if got := tab.Text(`tr[data-model="fraud-detector"] td[data-env="prod"] .live`); !strings.Contains(got, "rolled back from 2") {
			t.Errorf("fraud-detector in prod = %q, want it marked rolled back from 2", got)
		}
		if got := tab.Text(`tr[data-model="churn-predictor"] td[data-env="prod"] .none`); got != "no live version" {
			t.Errorf("churn-predictor in prod = %q, want no live version", got)
		}
		if got := tab.Text(`tr[data-model="churn-predictor"] td[data-env="prod"] [data-testid=hold]`); !strings.HasPrefix(got, "hold on 1: ") || !strings.Contains(got, "rejected by carol") {
			t.Errorf("churn-predictor's hold in prod = %q, want a hold on 1 after carol's rejection", got)
		}
		link := `tr[data-model="credit-risk"] td[data-env="prod"] [data-testid=promotion-link]`
		if got := tab.Text(link); got != "2: awaiting approval" {
			t.Errorf("active promotion of credit-risk in prod = %q, want %q", got, "2: awaiting approval")
		}
		if got, _ := tab.Attr(link, "href"); got != Prefix+"/promotions/"+site.Demo.Awaiting {
			t.Errorf("its link goes to %q, want the promotion %s", got, site.Demo.Awaiting)
		}
		// The link leads to the promotion.
		tab.ClickAndLoad(link)
		if got := tab.Text("[data-testid=promotion-id]"); got != site.Demo.Awaiting {
			t.Errorf("the link opened promotion %q, want %q", got, site.Demo.Awaiting)
		}
	})

	t.Run("promotion awaiting approval", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/promotions/"+site.Demo.Awaiting, "[data-testid=gate-table]")
		if got, _ := tab.Attr("[data-testid=state]", "data-state"); got != string(promote.StateAwaitingApproval) {
			t.Errorf("state = %q, want %q", got, promote.StateAwaitingApproval)
		}
		if got := tab.Text(".lead"); got != "credit-risk version 2 to prod: awaiting approval" {
			t.Errorf("lead = %q", got)
		}
		v, err := site.api("vera").Version(t.Context(), "credit-risk", "2")
		if err != nil {
			t.Fatal(err)
		}
		if got := tab.Text("[data-testid=digest]"); got != v.Digest {
			t.Errorf("digest = %q, want the version's %q", got, v.Digest)
		}
		// Only approvals are missing: the candidate is not "blocked".
		if got, want := tab.Text("[data-testid=verdict]"), "Verdict: awaiting approval: every other rule holds · 4 passed · 1 failed"; !strings.HasPrefix(got, want) {
			t.Errorf("verdict = %q, want it to start %q", got, want)
		}
		rows := map[string][]string{}
		for _, r := range rowTexts(t, tab, "[data-testid=gate-row]") {
			rows[strings.TrimSpace(r[0])] = r[1:]
		}
		// Candidate, baseline, actual, threshold, verdict, detail: version 2
		// (accuracy 0.919, p95 131 ms) against version 1 live in prod (0.912,
		// 142 ms): the p95 rule judges the candidate's alone and shows the
		// baseline's beside it.
		for rule, want := range map[string][]string{
			"accuracy_delta": {"0.919", "0.912", "0.007", ">= 0", "pass", "accuracy_delta 0.007 >= 0"},
			"latency_p95_ms": {"131", "142", "131", "<= 180", "pass", "latency_p95_ms 131 <= 180"},
			"approvals":      {"—", "—", "0", ">= 1", "fail", "0 of 1 distinct approvers (none)"},
		} {
			if diff := cmp.Diff(want, rows[rule]); diff != "" {
				t.Errorf("gate row %s (-want +got):\n%s", rule, diff)
			}
		}
		if len(rows) != 5 {
			t.Errorf("gate has rules %q, want 5", rows)
		}
		// What approving it sets going: the overlay, then prod's canary.
		wantPlan := [][]string{
			{"Commit", "deploy/overlays/prod, pinning the version's digest"},
			{"Rollout", "canary in 3 steps, judged against stable at each; a failure rolls back"},
			{"Step 1", "10% of traffic for at least 10m and 500 requests"},
			{"Step 2", "50% of traffic for at least 30m and 2000 requests"},
			{"Step 3", "100% of traffic for at least 1000 requests"},
		}
		var plan [][]string
		labels, texts := tab.Texts("[data-testid=on-approval] dt"), tab.Texts("[data-testid=on-approval] dd")
		for i := range min(len(labels), len(texts)) {
			plan = append(plan, []string{labels[i], texts[i]})
		}
		if diff := cmp.Diff(wantPlan, plan); diff != "" || len(labels) != len(texts) {
			t.Errorf("on approval (-want +got):\n%s", diff)
		}
		if got := tab.Text("#on-approval-h"); got != "On approval" {
			t.Errorf("the section's heading = %q, want On approval", got)
		}
		if got := tab.Text("[data-testid=no-decide]"); !strings.Contains(got, "approver role") {
			t.Errorf("a viewer sees %q, want a note that deciding needs the approver role", got)
		}
		if n := tab.Count("[data-testid=approve-form]"); n != 0 {
			t.Errorf("a viewer sees %d approve forms, want none", n)
		}
		if got := tab.Text("[data-testid=no-approvals]"); got != "No one has decided on this promotion." {
			t.Errorf("approvals = %q", got)
		}
		if got := tab.Texts("[data-testid=history-row] td:nth-child(4)"); len(got) == 0 || got[0] != promote.ActionPromotionRequested {
			t.Errorf("history actions = %q, want %s first", got, promote.ActionPromotionRequested)
		}
	})

	t.Run("promotion rolled back, with its chart", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/promotions/"+site.Demo.RolledBack, "[data-testid=rollout-chart]")
		if got := tab.Text("[data-testid=rollout-state]"); !strings.Contains(got, "rolled back") || !strings.Contains(got, "against stable 1") {
			t.Errorf("rollout state = %q, want canary against stable 1, rolled back", got)
		}
		if got := tab.Text("[data-testid=chart-outcome]"); got != "rolled back" {
			t.Errorf("chart outcome = %q, want %q", got, "rolled back")
		}
		type panel struct {
			ID       string
			Title    string
			Series   map[string]int // class → points in its polylines
			Markers  []string
			Width    float64
			Rendered bool
		}
		var panels []panel
		tab.Eval(`Array.from(document.querySelectorAll("#rollout-chart svg"), svg => {
			const series = {};
			for (const g of svg.querySelectorAll("g[data-series]")) {
				series[g.dataset.series] = Array.from(g.querySelectorAll("polyline"), p => p.points.numberOfItems).reduce((a, b) => a + b, 0);
			}
			const box = svg.getBoundingClientRect();
			return {
				ID: svg.id,
				Title: svg.querySelector("title").textContent,
				Series: series,
				Markers: Array.from(svg.querySelectorAll("[data-testid=marker]"), m => m.dataset.label),
				Width: box.width,
				Rendered: box.height > 50,
			};
		})`, &panels)
		if len(panels) != 2 {
			t.Fatalf("chart has %d SVG panels, want 2 (error rate and latency)", len(panels))
		}
		for i, id := range []string{"chart-errors", "chart-latency"} {
			p := panels[i]
			if p.ID != id {
				t.Errorf("panel %d is %q, want %q", i, p.ID, id)
			}
			// 16 samples a step; the canary failed 9 samples into step 2.
			for _, s := range []string{"stable", "canary"} {
				if p.Series[s] < 20 {
					t.Errorf("%s: series %s has %d points, want the samples of two steps", p.ID, s, p.Series[s])
				}
			}
			if !p.Rendered || p.Width < 600 {
				t.Errorf("%s is drawn %v wide (rendered %v), want a visible chart", p.ID, p.Width, p.Rendered)
			}
			markers := strings.Join(p.Markers, " | ")
			if !strings.Contains(markers, "step 1") || !strings.Contains(markers, "step 2") || !strings.Contains(markers, "rolled back") {
				t.Errorf("%s markers = %q, want steps 1 and 2 and the rollback", p.ID, markers)
			}
		}
		if got := tab.Texts("[data-testid=rollback-commit]"); len(got) != 1 || !strings.Contains(got[0], "Rolled back to 1") {
			t.Errorf("rollback = %q, want one rollback to 1", got)
		}
		// The samples are a table too, for people who cannot see the chart.
		if got := tab.Count("[data-testid=chart-data] tbody tr"); got < 20 {
			t.Errorf("sample table has %d rows, want every sample", got)
		}
	})

	t.Run("version", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/models/credit-risk/versions/1", "[data-testid=metrics-table]")
		if got := tab.Text("h1"); got != "credit-risk version 1" {
			t.Errorf("heading = %q", got)
		}
		v, err := site.api("vera").Version(t.Context(), "credit-risk", "1")
		if err != nil {
			t.Fatal(err)
		}
		if got := tab.Text("[data-testid=digest]"); got != v.Digest {
			t.Errorf("digest = %q, want %q", got, v.Digest)
		}
		if got := tab.Text("[data-testid=signature]"); got != "verified with trusted key release.pub" {
			t.Errorf("signature = %q, want verified with trusted key release.pub", got)
		}
		metrics := map[string]string{}
		for _, r := range rowTexts(t, tab, "[data-testid=metric-row]") {
			metrics[r[0]] = r[1]
		}
		for k, want := range map[string]string{"accuracy": "0.912", "latency_p95_ms": "142"} {
			if metrics[k] != want {
				t.Errorf("metric %s = %q, want %q", k, metrics[k], want)
			}
		}
		if got := tab.Text("[data-testid=lineage]"); !strings.Contains(got, "mlflow://runs/credit-risk-1") {
			t.Errorf("lineage = %q, want the training run", got)
		}
		if got := tab.Texts("[data-testid=env-history] h3"); !cmp.Equal(got, []string{"dev", "staging", "prod live now"}) {
			t.Errorf("environments = %q, want dev, staging, prod live now", got)
		}
		if got := tab.Text(`[data-env="prod"] [data-testid=version-promotion]`); !strings.Contains(got, site.Demo.Succeeded) || !strings.Contains(got, "succeeded") {
			t.Errorf("prod promotion = %q, want %s succeeded", got, site.Demo.Succeeded)
		}
	})

	t.Run("model", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/models/credit-risk", "[data-testid=versions-table]")
		if got := tab.Text("[data-testid=model-name]"); got != "credit-risk" {
			t.Errorf("model name = %q", got)
		}
		live := map[string]string{}
		for _, env := range []string{"dev", "staging", "prod"} {
			live[env] = tab.Text(fmt.Sprintf(`[data-testid=model-live] td[data-env=%q]`, env))
		}
		if diff := cmp.Diff(map[string]string{"dev": "2", "staging": "2", "prod": "1"}, live); diff != "" {
			t.Errorf("live versions (-want +got):\n%s", diff)
		}
		// Version, Registered, Digest, Signature, Live in; newest first.
		var got [][]string
		for _, r := range rowTexts(t, tab, "[data-testid=version-row]") {
			if len(r) < 5 {
				t.Fatalf("version row %q has too few cells", r)
			}
			got = append(got, []string{r[0], r[3], r[4]})
		}
		want := [][]string{{"2", "verified", "dev, staging"}, {"1", "verified", "prod"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("versions: version, signature, live in (-want +got):\n%s", diff)
		}
	})

	t.Run("audit", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/audit", "[data-testid=audit-table]")
		events, err := site.api("vera").AuditEvents(t.Context(), promote.AuditFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		head := events[0].Seq
		if got, _ := tab.Attr("[data-testid=chain-ok]", "data-seq"); got != fmt.Sprint(head) {
			t.Errorf("chain verified through %q, want the head #%d", got, head)
		}
		if got := tab.Count("[data-testid=audit-row]"); got != auditPageSize {
			t.Errorf("first page has %d events, want %d", got, auditPageSize)
		}
		if got, _ := tab.Attr("[data-testid=audit-row]", "data-seq"); got != fmt.Sprint(head) {
			t.Errorf("first row is #%s, want the newest #%d", got, head)
		}
		// The next page goes on just below the last row of this one.
		var lastSeq int64
		tab.Eval(`+Array.from(document.querySelectorAll("[data-testid=audit-row]")).at(-1).dataset.seq`, &lastSeq)
		tab.ClickAndLoad("[data-testid=older]")
		if got, _ := tab.Attr("[data-testid=audit-row]", "data-seq"); got != fmt.Sprint(lastSeq-1) {
			t.Errorf("older page starts at #%s, want #%d, just below the first page's last row", got, lastSeq-1)
		}
		if n := tab.Count("[data-testid=newer]"); n == 0 {
			t.Errorf("older page has no link back to newer events")
		}
		// Filter with the form: the rejection of churn-predictor by carol.
		tab.Navigate(site.URL+Prefix+"/audit", "[data-testid=audit-filters]")
		tab.Fill("#f-actor", "carol")
		tab.Fill("#f-model", "churn-predictor")
		tab.ClickAndLoad("[data-testid=audit-filters] button[type=submit]")
		rows := rowTexts(t, tab, "[data-testid=audit-row]")
		if len(rows) == 0 {
			t.Fatalf("no events of carol on churn-predictor")
		}
		for _, r := range rows {
			if r[2] != "carol" || r[4] != "churn-predictor" {
				t.Errorf("filtered row %q is not carol's on churn-predictor", r)
			}
		}
		if !strings.Contains(fmt.Sprint(rows), "rejected") {
			t.Errorf("carol's events on churn-predictor %q do not show the rejection", rows)
		}
		if got := tab.Value("#f-actor"); got != "carol" {
			t.Errorf("the filter form forgot the actor: %q", got)
		}
		// The download carries the filters: every event of carol's on
		// churn-predictor, as CSV.
		if got, _ := tab.Attr("[data-testid=audit-csv]", "href"); got != Prefix+"/audit.csv?actor=carol&model=churn-predictor" {
			t.Errorf("Download CSV links to %q, want the filters carol and churn-predictor", got)
		}
		// The time range: carol's events on churn-predictor are all of
		// today or earlier, none since tomorrow (in UTC).
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		tab.Fill("#f-since", tomorrow)
		tab.ClickAndLoad("[data-testid=audit-filters] button[type=submit]")
		if n := tab.Count("[data-testid=audit-row]"); n != 0 {
			t.Errorf("carol's events on churn-predictor since %s: %d rows, want none", tomorrow, n)
		}
		if got := tab.Value("#f-since"); got != tomorrow {
			t.Errorf("the filter form forgot since: %q, want %q", got, tomorrow)
		}
		tab.Fill("#f-since", "")
		tab.Fill("#f-until", tomorrow)
		tab.ClickAndLoad("[data-testid=audit-filters] button[type=submit]")
		if got := rowTexts(t, tab, "[data-testid=audit-row]"); len(got) != len(rows) {
			t.Errorf("carol's events on churn-predictor until %s: %d rows, want %d", tomorrow, len(got), len(rows))
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Navigate(site.URL+Prefix+"/webhooks", "[data-testid=deliveries-table]")
		rows := rowTexts(t, tab, "[data-testid=delivery-row]")
		total := 0
		for _, n := range site.WantDeliveries {
			total += n
		}
		if len(rows) != total {
			t.Fatalf("%d delivery rows, want %d: %q", len(rows), total, rows)
		}
		count := map[string]int{}
		for _, r := range rows {
			// When, Event, Endpoint, Attempt, Status, HTTP, Took, Error.
			count[r[2]+" "+r[4]+" "+r[5]]++
		}
		if diff := cmp.Diff(site.WantDeliveries, count); diff != "" {
			t.Errorf("deliveries by endpoint, status and code (-want +got):\n%s", diff)
		}
		if got := tab.Texts("[data-testid=delivery-row] td:nth-child(2)"); !strings.Contains(strings.Join(got, " "), notify.TypeRolloutRolledBack) {
			t.Errorf("events %q, want %s among them", got, notify.TypeRolloutRolledBack)
		}
	})

	t.Run("approve as an approver", func(t *testing.T) {
		tab := b.IsolatedTab(t)
		path := Prefix + "/promotions/" + site.Demo.Awaiting
		site.signIn(t, tab, "bob", path)
		if got, _ := tab.Attr("[data-testid=state]", "data-state"); got != string(promote.StateAwaitingApproval) {
			t.Fatalf("state before approving = %q, want %q", got, promote.StateAwaitingApproval)
		}
		tab.Fill("#comment", "checked the gate and the canary plan")
		if code := tab.ClickAndLoad("[data-testid=approve-button]"); code != http.StatusOK {
			t.Fatalf("approve: status %d; page says %q", code, tab.Text("main"))
		}
		if got := tab.URL(); got != site.URL+path {
			t.Errorf("after approving the browser is at %s, want back at %s", got, site.URL+path)
		}
		pv, err := site.api("vera").Promotion(t.Context(), site.Demo.Awaiting)
		if err != nil {
			t.Fatal(err)
		}
		if pv.State == promote.StateAwaitingApproval {
			t.Fatalf("the API says the promotion still awaits approval")
		}
		if got, _ := tab.Attr("[data-testid=state]", "data-state"); got != string(pv.State) {
			t.Errorf("state shown = %q, want the API's %q", got, pv.State)
		}
		if n := tab.Count("[data-testid=approve-form]"); n != 0 {
			t.Errorf("the approve form is still there after the approval")
		}
		if diff := cmp.Diff([][]string{{"bob", "approver, ml-lead", "approved"}}, leadingCells(rowTexts(t, tab, "[data-testid=approval-row]"), 3)); diff != "" {
			t.Errorf("approvals (-want +got):\n%s", diff)
		}
		if got := tab.Text("[data-testid=approval-row] td:last-child"); got != "checked the gate and the canary plan" {
			t.Errorf("approval comment = %q", got)
		}

		// The audit page shows the approval event, filtered by the form.
		tab.Navigate(site.URL+Prefix+"/audit", "[data-testid=audit-filters]")
		tab.Fill("#f-promotion", site.Demo.Awaiting)
		tab.Eval(fmt.Sprintf(`(() => { const s = document.querySelector("#f-action"); s.value = %q; return s.value })()`, promote.ActionPromotionApproval), nil)
		tab.ClickAndLoad("[data-testid=audit-filters] button[type=submit]")
		rows := rowTexts(t, tab, "[data-testid=audit-row]")
		if len(rows) != 1 {
			t.Fatalf("%d approval events for %s, want 1: %q", len(rows), site.Demo.Awaiting, rows)
		}
		// #, When, Actor, Action, Model, Version, Environment, Promotion, Token, Decision.
		if got := rows[0]; len(got) < 10 {
			t.Fatalf("approval event row %q has too few cells", got)
		}
		if !strings.HasPrefix(rows[0][8], "tok_") {
			t.Errorf("approval event's token = %q, want bob's token's ID", rows[0][8])
		}
		want := []string{"bob", promote.ActionPromotionApproval, "credit-risk", "2", "prod", site.Demo.Awaiting, "approved"}
		if diff := cmp.Diff(want, append(slices.Clone(rows[0][2:8]), rows[0][9])); diff != "" {
			t.Errorf("approval event (-want +got):\n%s", diff)
		}
	})

	t.Run("an approval without the role is refused", func(t *testing.T) {
		tab := b.IsolatedTab(t)
		path := Prefix + "/promotions/" + site.Demo.Awaiting
		site.signIn(t, tab, "alice", path)
		if n := tab.Count("[data-testid=approve-form]"); n != 0 {
			t.Errorf("a submitter sees the approve form")
		}
		// A submitter who sends the approve form anyway (made here, as a
		// crafted page would, with alice's own session and form token) is
		// refused by the server and told why.
		tab.Eval(fmt.Sprintf(`(() => {
			const f = document.createElement("form");
			f.method = "post";
			f.action = %q;
			for (const [name, value] of [["csrf", document.querySelector("form.signout input[name=csrf]").value], ["digest", document.querySelector("[data-testid=digest]").textContent]]) {
				const i = document.createElement("input");
				i.type = "hidden"; i.name = name; i.value = value;
				f.append(i);
			}
			const b = document.createElement("button");
			b.type = "submit"; b.id = "crafted-approve"; b.textContent = "Approve";
			f.append(b);
			document.querySelector("main").prepend(f);
		})()`, path+"/approve"), nil)
		if code := tab.ClickAndLoad("#crafted-approve"); code != http.StatusForbidden {
			t.Errorf("approve as a submitter: status %d, want 403", code)
		}
		if got := tab.Text("[data-testid=error]"); !strings.Contains(got, "approving a promotion needs the approver role; alice has submitter") {
			t.Errorf("error shown = %q, want the role check's message", got)
		}
		approvals, err := site.api("vera").Promotion(t.Context(), site.Demo.Awaiting)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range approvals.Approvals {
			if a.Approver == "alice" {
				t.Errorf("alice's refused approval was recorded: %+v", a)
			}
		}
	})
}

// leadingCells keeps the first n cells of each row.
func leadingCells(rows [][]string, n int) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = r[:min(n, len(r))]
	}
	return out
}

// TestBrowserKeyboard works the UI with the keyboard alone: the skip link
// comes first, then the navigation; the approve button is reached with Tab
// and pressed with Enter.
func TestBrowserKeyboard(t *testing.T) {
	site := startLiveSite(t)
	b := browsertest.Start(t)
	tab := b.Tab(t)
	path := Prefix + "/promotions/" + site.Demo.Awaiting
	site.signIn(t, tab, "carol", path)

	tab.Navigate(site.URL+path, "[data-testid=approve-button]")
	var order []string
	for _, e := range tab.TabOrder(9) {
		order = append(order, e.String())
	}
	want := []string{
		`a[href="#main"] "Skip to content"`,
		`a[href="/ui/"] "Promote"`,
		`a[href="/ui/"] "Pipeline"`,
		`a[href="/ui/promotions"] "Promotions"`,
		`a[href="/ui/rollouts"] "Rollouts"`,
		`a[href="/ui/holds"] "Holds"`,
		`a[href="/ui/audit"] "Audit log"`,
		`a[href="/ui/webhooks"] "Webhooks"`,
		`button "Sign out"`,
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("Tab order from page load (-want +got):\n%s", diff)
	}

	// The skip link moves the focus to the main content.
	tab.Navigate(site.URL+path, "[data-testid=approve-button]")
	if e := tab.PressTab(1); e.Href != "#main" {
		t.Fatalf("first Tab reached %v, want the skip link", e)
	}
	tab.Press(kb.Enter)
	if e := tab.ActiveElement(); e.Tag != "main" {
		t.Errorf("after Enter on the skip link the focus is on %v, want main", e)
	}

	// From the main content, Tab on to the approve button and press Enter.
	reached := false
	for range 30 {
		if e := tab.PressTab(1); e.ID == "approve" {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatalf("30 Tabs from the main content did not reach the approve button")
	}
	if code := tab.PressAndLoad(kb.Enter); code != http.StatusOK {
		t.Fatalf("Enter on the approve button: status %d; page says %q", code, tab.Text("main"))
	}
	if got, _ := tab.Attr("[data-testid=state]", "data-state"); got == string(promote.StateAwaitingApproval) {
		t.Errorf("state after Enter on approve = %q, want it decided", got)
	}
	if got := tab.Texts("[data-testid=approval-row] th"); !cmp.Equal(got, []string{"carol"}) {
		t.Errorf("approvers = %q, want carol", got)
	}
}

// TestScreenshots saves a PNG of each page of the UI for the documentation,
// only when asked:
//
//	go test ./internal/webui -run TestScreenshots -args -screenshots=../../docs/images
//
// or PROMOTE_SCREENSHOTS=DIR (relative to internal/webui).
func TestScreenshots(t *testing.T) {
	dir := *screenshotDir
	if dir == "" {
		dir = os.Getenv("PROMOTE_SCREENSHOTS")
	}
	if dir == "" {
		t.Skip("no -screenshots directory and no PROMOTE_SCREENSHOTS")
	}
	site := startLiveSite(t)
	b := browsertest.Start(t)
	tab := b.Tab(t)
	tab.Navigate(site.URL+Prefix+"/login", "#token")
	tab.Screenshot(filepath.Join(dir, "ui-login.png"))
	site.signIn(t, tab, "bob", Prefix+"/")
	// Pages longer than a screen are taken whole, except the audit log,
	// whose first screen shows what it is.
	for _, p := range []struct {
		name, path, waitFor string
		viewport            bool
	}{
		{"pipeline", Prefix + "/", "[data-testid=pipeline-table]", false},
		{"promotion", Prefix + "/promotions/" + url.PathEscape(site.Demo.Awaiting), "[data-testid=approve-form]", false},
		{"promotion-rolled-back", Prefix + "/promotions/" + url.PathEscape(site.Demo.RolledBack), "[data-testid=rollout-chart]", false},
		{"model", Prefix + "/models/credit-risk", "[data-testid=versions-table]", false},
		{"version", Prefix + "/models/credit-risk/versions/2", "[data-testid=metrics-table]", false},
		{"audit", Prefix + "/audit", "[data-testid=audit-table]", true},
		{"promotions", Prefix + "/promotions", "[data-testid=promotions-table]", false},
		{"webhooks", Prefix + "/webhooks", "[data-testid=deliveries-table]", false},
	} {
		tab.Navigate(site.URL+p.path, p.waitFor)
		path := filepath.Join(dir, "ui-"+p.name+".png")
		if p.viewport {
			tab.ScreenshotViewport(path)
		} else {
			tab.Screenshot(path)
		}
		t.Logf("%s: %s", p.name, path)
	}
}

// TestBrowserWidths loads every page in a phone's width (375 px) and a
// laptop's and checks that none is wider than the window: a wide table
// scrolls in its own box, and a long unbroken word (a URL in a hold's
// reason, the signed-in person's name) wraps, so that the header, the
// forms and the text stay in view.
func TestBrowserWidths(t *testing.T) {
	const minTextColumn = 160
	site := startLiveSite(t)
	url := "https://grafana.example.com/d/canary-overview?orgId=1&var-model=credit-risk&var-env=prod&from=now-6h&to=now&" +
		strings.Repeat("var-pod=credit-risk-7d9f8c6b5-x2k4q&", 8)
	if _, err := site.Env.Service.SetHold(t.Context(), site.Env.Principals["bob"], "credit-risk", "2", "prod", "see "+url); err != nil {
		t.Fatal(err)
	}
	// A token name may be 128 characters without a space: the approver
	// here has a long one.
	name := "margaret_hamilton_smith_payments_platform_release_approvers"
	secret, _, err := site.Env.Service.CreateToken(t.Context(), site.Env.Principals["root"], registry.TokenRequest{Name: name, Role: promote.RoleApprover})
	if err != nil {
		t.Fatal(err)
	}
	site.Env.Tokens[name] = secret
	site.Env.Principals[name] = promote.Principal{Name: name, Role: promote.RoleApprover}
	b := browsertest.Start(t)
	tab := b.Tab(t)
	site.signIn(t, tab, name, Prefix+"/")
	pages := []string{
		Prefix + "/",
		Prefix + "/promotions/" + site.Demo.Awaiting,
		Prefix + "/promotions/" + site.Demo.RolledBack,
		Prefix + "/models/credit-risk",
		Prefix + "/models/credit-risk/versions/2",
		Prefix + "/promotions",
		Prefix + "/rollouts",
		Prefix + "/holds",
		Prefix + "/audit",
		Prefix + "/webhooks",
	}
	for _, width := range []int64{375, browsertest.WindowWidth} {
		if _, err := chromedp.Run(tab.Context(), chromedp.EmulateViewport(width, browsertest.WindowHeight)); err != nil {
			t.Fatal(err)
		}
		for _, path := range pages {
			tab.Navigate(site.URL+path, "main")
			var got struct{ Page, Window int }
			tab.Eval(`({Page: document.documentElement.scrollWidth, Window: window.innerWidth})`, &got)
			if got.Page > got.Window {
				t.Errorf("%s in a %d px window is %d px wide", path, got.Window, got.Page)
			}
			var signOut float64
			tab.Eval(`document.querySelector("[data-testid=sign-out]").getBoundingClientRect().right`, &signOut)
			if signOut > float64(got.Window) {
				t.Errorf("%s in a %d px window: the Sign out button ends at %v px, out of view", path, got.Window, signOut)
			}
			// A table that scrolls in its own box must not squeeze its
			// free text into a column a few letters wide.
			var narrowest float64
			tab.Eval(`Math.min(...[...document.querySelectorAll("td.msg")].filter(c => c.textContent.trim() !== "").map(c => c.getBoundingClientRect().width), 1e9)`, &narrowest)
			if narrowest < minTextColumn {
				t.Errorf("%s in a %d px window: a reasons or message cell is %.0f px wide, under %d px", path, got.Window, narrowest, minTextColumn)
			}
			// The gate's verdict of every rule is in view without
			// scrolling, at a phone's width too.
			var hidden []string
			tab.Eval(`[...document.querySelectorAll("#gate tr")].flatMap(r => {
				const c = r.querySelector(".verdict-cell"), b = c && c.getBoundingClientRect();
				return !c ? [r.textContent.trim().slice(0, 30) + ": no verdict cell"] :
					(b.left < 0 || b.right > window.innerWidth || b.width === 0) ? [r.textContent.trim().slice(0, 30) + ": " + b.left + "–" + b.right] : [];
			})`, &hidden)
			if len(hidden) > 0 {
				t.Errorf("%s in a %d px window: the gate's verdict is out of view in rows %q", path, got.Window, hidden)
			}
		}
	}
}

// TestBrowserSteerRollout moves a rollout that waits for a person on from
// its promotion's page: the buttons have distinct accessible names, the
// one that moves it on says where to, and a click on it takes the rollout
// to its next step (traffic, record, page) as the approver.
func TestBrowserSteerRollout(t *testing.T) {
	site := startLiveSite(t, withSteering)
	b := browsertest.Start(t)
	tab := b.Tab(t)
	st := site.Steering
	path := Prefix + "/promotions/" + st.ID
	site.signIn(t, tab, "bob", path)
	tab.Navigate(site.URL+path, "[data-testid=steer]")
	if got := tab.Text("[data-testid=rollout-step]"); !strings.HasPrefix(got, "waiting for a person at 10%") {
		t.Errorf("step line = %q, want it waiting for a person at 10%%", got)
	}
	names := tab.AccessibleNames("button")
	for _, want := range []string{"Go on to 50%", "Pause", "Promote now"} {
		if n := strings.Count("\x00"+strings.Join(names, "\x00")+"\x00", "\x00"+want+"\x00"); n != 1 {
			t.Errorf("buttons named %q: %d, want 1 (buttons: %q)", want, n, names)
		}
	}
	// The abort is behind a disclosure: its button shows once opened.
	tab.Click("#abort summary")
	tab.WaitVisible("[data-testid=rollout-abort]")
	if names := tab.AccessibleNames("button"); !slices.Contains(names, "Abort the rollout") {
		t.Errorf("buttons once the abort is opened = %q, want Abort the rollout among them", names)
	}

	tab.Fill("#steer-reason", "dashboards fine")
	if code := tab.ClickAndLoad("[data-testid=rollout-resume]"); code != http.StatusOK {
		t.Fatalf("go on: status %d; page says %q", code, tab.Text("main"))
	}
	if got := tab.URL(); !strings.HasPrefix(got, site.URL+path+"?steered=resume&notice=") {
		t.Errorf("after go on the browser is at %s", got)
	}
	if got := tab.Text("[data-testid=steered]"); got != "The rollout goes on." {
		t.Errorf("message after go on = %q", got)
	}
	// The message is a status, which a screen reader announces.
	if n := len(tab.AccessibleNames("status")); n != 1 {
		t.Errorf("statuses after go on: %d, want 1, the message", n)
	}
	if got := tab.Text("[data-testid=rollout-state]"); !strings.Contains(got, "step 2 of 3 · weight 50%") {
		t.Errorf("rollout line after go on = %q, want step 2 at 50%%", got)
	}
	if n := tab.Count("[data-testid=rollout-resume]"); n != 0 {
		t.Errorf("a resume button after go on (%d), want none: the step does not wait for a person yet", n)
	}
	r, err := site.api("vera").Rollout(t.Context(), st.ID)
	if err != nil || r.Step != 1 || r.Weight != 0.5 || r.WaitsForPerson() || st.Splitter.Weights() != 0.5 {
		t.Errorf("rollout after go on = step %d weight %g (needs %+v), %v, splitter %g; want step 2 at 0.5", r.Step+1, r.Weight, r.StepNeeds, err, st.Splitter.Weights())
	}
	if got := tab.Texts("[data-testid=history-row]"); len(got) == 0 || !strings.Contains(got[len(got)-1], "bob") || !strings.Contains(got[len(got)-1], "confirmed by bob: dashboards fine") {
		t.Errorf("newest history row = %q, want bob's confirmation", got[len(got)-1:])
	}
	// A link made by hand claims nothing.
	tab.Navigate(site.URL+path+"?steered=abort", "[data-testid=rollout-state]")
	if n := tab.Count("[data-testid=steered]"); n != 0 {
		t.Errorf("a hand-made ?steered=abort shows %d messages, want none: %q", n, tab.Text("[data-testid=steered]"))
	}
}
