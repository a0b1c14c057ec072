package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/notify"
)

func TestLoadWebhooks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("a-secret-of-enough-bytes\n"), 0o600)
	env := map[string]string{"HOOK_SECRET": "another-secret-of-enough-bytes"}
	getenv := func(k string) string { return env[k] }
	write := func(body string) string {
		p := filepath.Join(dir, "webhooks.yaml")
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	eps, err := loadWebhooks(write(`webhooks:
  - name: "team/ops: pager"
    url: https://hooks.example.com/promote
    secretFile: secret
    events: [rollout.rolled_back]
  - name: chat
    url: https://hooks.slack.example/services/T/B/X
    secretEnv: HOOK_SECRET
    format: slack
`), getenv)
	if err != nil {
		t.Fatalf("loadWebhooks: %v", err)
	}
	if len(eps) != 2 || eps[0].Name != "team/ops: pager" || string(eps[0].Secret) != "a-secret-of-enough-bytes" || eps[1].Format != "slack" || !eps[0].Wants("rollout.rolled_back") || eps[0].Wants("promotion.requested") {
		t.Errorf("loadWebhooks = %+v", eps)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"unknown key", "webhooks:\n  - name: a\n    url: https://h.example/x\n    secretFile: secret\n    secert: x\n", `unknown key "secert"`},
		{"no secret", "webhooks:\n  - name: a\n    url: https://h.example/x\n", "a secret is needed"},
		{"both secrets", "webhooks:\n  - name: a\n    url: https://h.example/x\n    secretFile: secret\n    secretEnv: HOOK_SECRET\n", "not both"},
		{"empty env", "webhooks:\n  - name: a\n    url: https://h.example/x\n    secretEnv: NOPE\n", "$NOPE is empty"},
		{"bad format", "webhooks:\n  - name: a\n    url: https://h.example/x\n    secretFile: secret\n    format: xml\n", "format"},
		{"bad event", "webhooks:\n  - name: a\n    url: https://h.example/x\n    secretFile: secret\n    events: [promotion.exploded]\n", "promotion.exploded"},
		{"bad url", "webhooks:\n  - name: a\n    url: ftp://h.example/x\n    secretFile: secret\n", "ftp://"},
		{"control character in the name", "webhooks:\n  - name: \"ops\\nalerts\"\n    url: https://h.example/x\n    secretFile: secret\n", "contains a control character"},
		{"long name", "webhooks:\n  - name: " + strings.Repeat("o", notify.MaxNameLen+1) + "\n    url: https://h.example/x\n    secretFile: secret\n", "at most 200"},
		{"repeated name", "webhooks:\n  - name: a\n    url: https://h.example/x\n    secretFile: secret\n  - name: a\n    url: https://h.example/y\n    secretFile: secret\n",
			`webhooks.yaml:5:5: webhooks[1]: name "a" is used already, at line 2`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWebhooks(write(tt.body), getenv)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "webhooks.yaml:") {
				t.Errorf("loadWebhooks = %v, want an error at a line naming %q", err, tt.want)
			}
		})
	}
}

// TestServeWebhooksDurable runs promote serve with webhooks, stops it and
// starts it again on the same data: the delivery log kept in the store
// still shows the attempts from before, and the server carries on from its
// cursor, sending each event once.
func TestServeWebhooksDurable(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	hooks := newHookReceiver(t)
	args := []string{"--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--webhooks", hooks.config(t)}

	server, _, stop := startStoppable(t, args...)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	must(0, ci, "request", "credit-risk", "1", "--to", "dev")
	delivered := func(server string, want int) []notify.Delivery {
		t.Helper()
		var ds []notify.Delivery
		waitFor(t, 20*time.Second, "the deliveries", func() (bool, string) {
			var err error
			ds, err = httpapi.NewClient(server, ci, nil).Deliveries(t.Context(), 1000)
			n := 0
			for _, d := range ds {
				if d.Status == notify.StatusDelivered && d.Endpoint == "test" && d.Code == http.StatusOK {
					n++
				}
			}
			return err == nil && n >= want && len(hooks.types()) >= want, fmt.Sprintf("%d delivered, %d received: %v (%v)", n, len(hooks.types()), hooks.types(), err)
		})
		return ds
	}
	// requested, approved (by the gates), succeeded
	before := delivered(server, 3)
	first := hooks.types()
	if !slices.Contains(first, notify.TypePromotionRequested) || !slices.Contains(first, notify.TypePromotionSucceeded) {
		t.Errorf("received %v, want the request and the success", first)
	}
	stop()

	server, _, _ = startStoppable(t, args...)
	_, must = clientOf(t, server)
	// The attempts from before the restart are in the log, as they were.
	ds, err := httpapi.NewClient(server, ci, nil).Deliveries(t.Context(), 1000)
	if err != nil {
		t.Fatalf("deliveries after the restart: %v", err)
	}
	if diff := cmp.Diff(before, ds); diff != "" {
		t.Errorf("the delivery log after the restart (-before +after):\n%s", diff)
	}
	must(0, ci, "request", "credit-risk", "1", "--to", "staging")
	after := delivered(server, 2*len(first))
	if len(after) < len(before)+2 || !cmp.Equal(before, after[len(after)-len(before):]) {
		t.Errorf("the log after more deliveries = %+v, want the earlier attempts kept below the new ones %+v", after, before)
	}
	// Nothing was sent twice: the cursor carried over the restart.
	if n := hooks.rejected.Load(); n != 0 {
		t.Errorf("the receiver rejected %d requests (replays or bad signatures)", n)
	}
	if got := hooks.types(); !cmp.Equal(got, append(first, first...)) {
		t.Errorf("received %v, want the events of each promotion once: %v", got, first)
	}
}

// TestServeWebhooksLinkToThePromotion runs promote serve with
// --external-url: each notification links to the promotion's page in the
// web UI, which a person not yet signed in reaches through the sign-in
// page. An external URL that cannot be a link's base stops serve, named.
func TestServeWebhooksLinkToThePromotion(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	hooks := newHookReceiver(t)
	addr := freeAddr(t)
	server, _ := startServe(t, "--addr", addr, "--external-url", "http://"+addr+"/", "--data", data, "--pipeline", pipelineFile,
		"--artifact-root", examples, "--webhooks", hooks.config(t))
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	out := must(0, ci, "request", "credit-risk", "1", "--to", "dev", "--output", "json")
	var p struct{ ID string }
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.ID == "" {
		t.Fatalf("request --output json = %q: %v", out, err)
	}
	waitFor(t, 20*time.Second, "the request's notification", func() (bool, string) {
		return slices.Contains(hooks.types(), notify.TypePromotionRequested), fmt.Sprint(hooks.types())
	})
	hooks.mu.Lock()
	ev := hooks.events[slices.Index(hooks.got, notify.TypePromotionRequested)]
	hooks.mu.Unlock()
	want := server + "/ui/promotions/" + p.ID
	if ev.URL != want {
		t.Fatalf("promotion.requested url = %q, want %q", ev.URL, want)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(ev.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/ui/login?next="+url.QueryEscape("/ui/promotions/"+p.ID) {
		t.Errorf("GET %s signed out = %d to %q, want the sign-in page leading to the promotion", ev.URL, resp.StatusCode, loc)
	}

	t.Run("refused", func(t *testing.T) {
		var errOut bytes.Buffer
		code := Main(context.Background(), []string{"serve", "--data", t.TempDir(), "--pipeline", pipelineFile, "--external-url", "promote.example.com"},
			strings.NewReader(""), io.Discard, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), `--external-url: external URL "promote.example.com" must be an absolute http or https URL`) {
			t.Errorf("serve --external-url promote.example.com = exit %d: %s; want 2, naming the flag", code, errOut.String())
		}
	})
}
