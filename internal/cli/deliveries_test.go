package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/notify"
)

// TestWebhooksResend runs promote serve with a receiver that refuses
// every event (a 400 fails a delivery for good at once), lists the
// failures with `promote webhooks deliveries --status failed`, and once
// the receiver accepts again, re-sends one with `promote webhooks resend`:
// the receiver gets it with its event ID, /metrics shows the failures
// left, and a second re-send of it is refused.
func TestWebhooksResend(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	root := createToken(t, data, pipelineFile, "root", "admin")
	secret := []byte("webhook-secret-0123456789")
	var refuse atomic.Bool
	refuse.Store(true)
	var mu sync.Mutex
	var got []string // the event IDs accepted
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if refuse.Load() {
			http.Error(w, "not today", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get(notify.HeaderID))
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), secret, 0o600)
	hooksFile := filepath.Join(dir, "webhooks.yaml")
	os.WriteFile(hooksFile, []byte(fmt.Sprintf("webhooks:\n  - name: \"team/ops: pager\"\n    url: %s\n    secretFile: secret\n", rcv.URL)), 0o644)

	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--webhooks", hooksFile)
	cli, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	// model.created notifies no one; the request does.
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	must(0, ci, "request", "credit-risk", "1", "--to", "dev")

	var failed []notify.Delivery
	waitFor(t, 20*time.Second, "failed deliveries", func() (bool, string) {
		out := must(0, ci, "webhooks", "deliveries", "--status", "failed", "--endpoint", "team/ops: pager", "-o", "json")
		failed = nil
		json.Unmarshal([]byte(out), &failed)
		return len(failed) >= 3, out // requested, approved, succeeded
	})
	for _, d := range failed {
		if d.Status != notify.StatusFailed || d.Endpoint != "team/ops: pager" || d.Code != http.StatusBadRequest {
			t.Errorf("listed %+v, want a failure of ops with 400", d)
		}
	}
	if out := must(0, ci, "webhooks", "deliveries", "--endpoint", "chat"); strings.Contains(out, "dlv_") {
		t.Errorf("deliveries --endpoint chat lists some:\n%s", out)
	}
	if code, _, errOut := cli(ci, "webhooks", "deliveries", "--status", "lost"); code != ExitUsage || !strings.Contains(errOut, "delivered, retrying, failed") {
		t.Errorf("deliveries --status lost: exit %d: %s", code, errOut)
	}
	metric := func() string {
		resp, err := http.Get(server + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, 10*time.Second, "the failures in /metrics", func() (bool, string) {
		m := metric()
		return strings.Contains(m, fmt.Sprintf("promote_webhook_failed_deliveries{endpoint=\"team/ops: pager\"} %d\n", len(failed))), m
	})

	refuse.Store(false)
	one := failed[0]
	if code, _, errOut := cli(ci, "webhooks", "resend", one.ID); code != ExitBlocked || !strings.Contains(errOut, "needs the admin role") {
		t.Errorf("resend as a submitter: exit %d: %s", code, errOut)
	}
	if out := must(0, root, "webhooks", "resend", one.ID); !strings.Contains(out, "will be sent again, with the same event ID") {
		t.Errorf("resend: %s", out)
	}
	waitFor(t, 20*time.Second, "the re-sent event", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1, fmt.Sprint(got)
	})
	mu.Lock()
	if got[0] != one.EventID {
		t.Errorf("received %s, want event %s", got[0], one.EventID)
	}
	mu.Unlock()
	waitFor(t, 10*time.Second, "one failure less in /metrics", func() (bool, string) {
		m := metric()
		return strings.Contains(m, fmt.Sprintf("promote_webhook_failed_deliveries{endpoint=\"team/ops: pager\"} %d\n", len(failed)-1)) &&
			strings.Contains(m, `promote_webhook_delivery_attempts_total{endpoint="team/ops: pager",outcome="delivered"} 1`+"\n") &&
			strings.Contains(m, `promote_webhook_last_delivered_timestamp_seconds{endpoint="team/ops: pager"}`), m
	})
	if code, _, errOut := cli(root, "webhooks", "resend", one.ID); code != ExitBlocked || !strings.Contains(errOut, "is delivered") {
		t.Errorf("resend once delivered: exit %d: %s", code, errOut)
	}
}
