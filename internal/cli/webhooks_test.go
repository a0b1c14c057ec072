package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
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
  - name: ops
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
	if len(eps) != 2 || string(eps[0].Secret) != "a-secret-of-enough-bytes" || eps[1].Format != "slack" || !eps[0].Wants("rollout.rolled_back") || eps[0].Wants("promotion.requested") {
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWebhooks(write(tt.body), getenv)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "webhooks.yaml:") {
				t.Errorf("loadWebhooks = %v, want an error at a line naming %q", err, tt.want)
			}
		})
	}
}

func TestWebhookEvent(t *testing.T) {
	for _, tt := range []struct {
		action, decision, want string
	}{
		{promote.ActionPromotionRequested, "requested", "promotion.requested"},
		{promote.ActionPromotionState, "blocked", "gate.failed"},
		{promote.ActionPromotionState, "awaiting_approval", "promotion.awaiting_approval"},
		{promote.ActionPromotionApproval, "rejected", "promotion.rejected"},
		{promote.ActionCommitted, "committed", "gitops.committed"},
		{promote.ActionRolloutStep, "step 2: weight 50%", "rollout.step"},
		{promote.ActionRolledBack, "rolled_back", "rollout.rolled_back"},
		{promote.ActionPromotionState, "succeeded", "promotion.succeeded"},
		{promote.ActionTokenCreated, "admin", ""},
		{promote.ActionPromotionState, "gated", ""},
	} {
		ev, ok := webhookEvent(promote.AuditEvent{Seq: 7, Hash: "abcdef0123456789", Action: tt.action, Decision: tt.decision,
			Reasons: []byte(`["why"]`)})
		if got := ev.Type; ok != (tt.want != "") || got != tt.want {
			t.Errorf("webhookEvent(%s %s) = %q, %v; want %q", tt.action, tt.decision, got, ok, tt.want)
		}
		if ok && (ev.ID != "ev_7_abcdef012345" || !strings.HasSuffix(ev.Summary, ": why")) {
			t.Errorf("webhookEvent(%s) = id %q summary %q", tt.action, ev.ID, ev.Summary)
		}
	}
}
