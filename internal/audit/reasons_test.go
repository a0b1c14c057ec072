package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Every shape of reasons the registry writes (docs/audit.md, "Actions"),
// as it writes them, reads in words; a shape this version does not know
// is shown as stored, cut short on a character boundary.
func TestReasonsText(t *testing.T) {
	long := `{"note":"` + strings.Repeat("x", 290) + `é and more"}`
	for _, tt := range []struct{ name, raw, want string }{
		{"none", ``, ""},
		{"null", `null`, ""},
		{"empty list", `[]`, ""},

		// An array of strings: a person's reasons, Promote's messages.
		{"version.rejected", `["leaks test data"]`, "leaks test data"},
		{"freeze.override", `["hotfix for the outage"]`, "hotfix for the outage"},
		{"promotion.state awaiting_approval", `["awaiting approval: 0 of 1 distinct approvers (none)"]`,
			"awaiting approval: 0 of 1 distinct approvers (none)"},
		{"promotion.state cancelled", `["superseded by pr_1666366d7061efa4 (version 1.2.0)"]`, "superseded by pr_1666366d7061efa4 (version 1.2.0)"},
		{"promotion.approval before roles were recorded", `["numbers look right"]`, "numbers look right"},
		{"live.changed restored", `["the overlay does not render: no such file"]`, "the overlay does not render: no such file"},
		{"live.rolled_back", `["1 replaces 2: answers look wrong"]`, "1 replaces 2: answers look wrong"},
		{"gitops.committed", `["commit 3f1c0a9e5b7d"]`, "commit 3f1c0a9e5b7d"},
		{"gitops.failed", `["render overlays/prod: accumulating resources:\nmissing file"]`,
			"render overlays/prod: accumulating resources:\nmissing file"},
		{"rollout.started", `["canary of 2 against stable 1"]`, "canary of 2 against stable 1"},
		{"hold.cleared", `["hold 3 cleared: fixed upstream"]`, "hold 3 cleared: fixed upstream"},
		{"token.created", `["token tok_1a2b for ci","groups: ml,ops"]`, "token tok_1a2b for ci; groups: ml,ops"},
		{"escapes", `["metrics \u003cok\u003e \u0026 signed"]`, "metrics <ok> & signed"},
		{"over-long reason kept whole", `["` + strings.Repeat("y", 400) + `"]`, strings.Repeat("y", 400)},

		// A gate's results.
		{"promotion.state gated", `[{"rule":"artifact_signed","kind":"require","status":"pass","message":"signature verified"},` +
			`{"rule":"auc","kind":"metric","status":"pass","candidate":0.91,"baseline":0.9,"actual":0.91,"threshold":">= 0.85","message":"auc 0.91 >= 0.85","line":4},` +
			`{"rule":"latency","kind":"metric","status":"warn","severity":"warn","message":"latency_p95_ms 190 > 180"}]`,
			"artifact_signed pass, auc pass, latency warn"},
		{"promotion.state blocked", `[{"rule":"auc","kind":"metric","status":"fail","message":"auc 0.81 < 0.85"},` +
			`{"rule":"f1_delta","kind":"metric","status":"pass","message":"f1_delta 0.01 >= -0.01"},` +
			`{"rule":"latency","kind":"metric","status":"warn","message":"latency_p95_ms 190 > 180"},` +
			`{"rule":"fairness","kind":"any","status":"error","message":"metric dp_diff is missing","children":[{"rule":"dp","status":"error","message":"missing"}]}]`,
			"auc: auc 0.81 < 0.85; fairness: metric dp_diff is missing"},

		// A rollout record.
		{"rollout.step first step", `{"step":0,"weight":0.1}`, ""},
		{"rollout.step next step", `{"step":1,"weight":0.5,"verdict":{"at":"2026-11-26T13:19:12Z","decision":"continue","tests":[]}}`, ""},
		{"rollout.step paused, cannot judge", `{"step":1,"weight":0,"reason":"cannot judge: no metric data past the limit: no samples; all traffic is back on stable","verdict":{"decision":"inconclusive","reason":"no samples"}}`,
			"cannot judge: no metric data past the limit: no samples; all traffic is back on stable"},
		{"rollout.step paused by a person", `{"step":1,"weight":0.5,"reason":"paused by lena: looks odd"}`, "paused by lena: looks odd"},
		{"rollout.step rolled_back", `{"step":1,"weight":0,"reason":"the canary analysis failed: error_rate: 9%; the canary was at step 2: weight 50%","verdict":{"at":"2026-11-26T13:19:12Z","decision":"fail","reason":"error_rate: 9%","tests":[{"name":"error_rate","status":"fail","statistic":3000,"threshold":2666.6666666666665}]}}`,
			"the canary analysis failed: error_rate: 9%; the canary was at step 2: weight 50%"},
		{"rollout.finished", `{"step":2,"weight":1,"reason":"all 3 steps passed"}`, "all 3 steps passed"},

		// An approval.
		{"promotion.approval approved", `{"roles":["approver","ml-lead"],"comment":"metrics \u003cok\u003e \u0026 signed"}`, "as approver, ml-lead: metrics <ok> & signed"},
		{"promotion.approval without comment", `{"roles":["admin"]}`, "as admin"},
		{"promotion.approval rejected", `{"roles":["approver"],"comment":"drift too high"}`, "as approver: drift too high"},

		// Neither known nor JSON: as stored.
		{"other object", `{"other":1}`, `{"other":1}`},
		{"objects without a rule", `[{"status":"fail"}]`, `[{"status":"fail"}]`},
		{"malformed", `{"step":1,`, `{"step":1,`},
		{"over-long unknown shape", long, long[:299] + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ReasonsText([]byte(tt.raw))
			if got != tt.want {
				t.Errorf("ReasonsText(%s) = %q, want %q", tt.raw, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("ReasonsText(%s) = %q, not valid UTF-8", tt.raw, got)
			}
		})
	}
}
