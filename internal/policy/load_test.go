package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // each must appear in the error, in order of the problems
	}{
		{"empty", "", []string{"p.yaml: file is empty"}},
		{"not yaml", "gate: [", []string{"p.yaml:1:"}},
		{"tab indent", "gate:\n\tmetrics:\n\t\taccuracy: '>= 0.9'\n", []string{"p.yaml:2:1: found character that cannot start any token: the line is indented with a tab, and YAML indents with spaces only"}},
		{"tab after spaces", "gate:\n  metrics:\n  \taccuracy: '>= 0.9'\n", []string{"p.yaml:3:3: ", "indented with a tab"}},
		{"no gate", "rollout: {strategy: direct}\n", []string{"no gate section"}},
		{"unknown top key", "gate: {}\nrolout: {}\n", []string{`p.yaml:2:1: policy: unknown key "rolout" (did you mean "rollout"?)`}},
		{"abbreviated top key", "gate: {}\nenv:\n  prod: {}\n", []string{`p.yaml:2:1: policy: unknown key "env" (did you mean "environments"?)`}},
		{"abbreviated gate key", "gate:\n  approval:\n    min: 1\n", []string{`p.yaml:2:3: gate: unknown key "approval" (did you mean "approvals"?)`}},
		{"unknown gate key", "gate:\n  metrcs:\n    a: '>= 1'\n", []string{`p.yaml:2:3: gate: unknown key "metrcs" (did you mean "metrics"?)`}},
		{"bad operator", "gate:\n  metrics:\n    accuracy: '=> 0.9'\n", []string{`p.yaml:3:15: gate.metrics.accuracy: threshold "=> 0.9"`}},
		{"bare number", "gate:\n  metrics:\n    accuracy: 0.9\n", []string{`p.yaml:3:15: gate.metrics.accuracy: 0.9 has no operator`}},
		{"bad number", "gate:\n  metrics:\n    accuracy: '>= 0.9x'\n", []string{`"0.9x" is not a decimal number`}},
		{"percent without change", "gate:\n  metrics:\n    latency: '<= 10%'\n", []string{"a percent threshold needs a relative change: use latency_change"}},
		{"change without percent", "gate:\n  metrics:\n    latency_change: '<= -0.1'\n", []string{`write its threshold in percent, e.g. "<= -10%"`}},
		{"cel type error", "gate:\n  rules:\n    - name: x\n      expr: candidate.accuracy + 1.0\n", []string{`p.yaml:4:13: rule "x": expr "candidate.accuracy + 1.0" yields double; a rule's expression must yield true or false`}},
		{"cel undeclared", "gate:\n  rules:\n    - name: x\n      expr: candidat.accuracy > 1.0\n", []string{`undeclared reference to 'candidat'`}},
		{"cel int vs double", "gate:\n  rules:\n    - name: x\n      expr: candidate.accuracy > 1\n", []string{`found no matching overload for '_>_'`}},
		{"rule without kind", "gate:\n  rules:\n    - name: x\n", []string{"a rule needs one of metric (with threshold), expr, any or all"}},
		{"rule with two kinds", "gate:\n  rules:\n    - metric: a\n      threshold: '> 1'\n      expr: 'true'\n", []string{"exactly one of metric, expr, any or all"}},
		{"duplicate rule", "gate:\n  metrics:\n    a: '> 1'\n  rules:\n    - metric: a\n      threshold: '> 2'\n", []string{`p.yaml:5:7: gate: rule name "a" used twice (first at line 3)`}},
		{"quoted expr", "gate:\n  rules:\n    - expr: 'candidate.a > 1'\n", []string{`p.yaml:3:26: rule "rule-1": expr "candidate.a > 1": 1:13: found no matching overload`}},
		{"rule named like a check", "gate:\n  require: [ok]\n  rules:\n    - name: ok\n      expr: 'true'\n", []string{`p.yaml:5:13: rule "ok" has the name of a required check`}},
		{"check named like the approvals rule", "gate:\n  require: [tests_passed, approvals]\n  approvals:\n    min: 1\n", []string{`p.yaml:2:27: rule "approvals" has the name of the approvals rule`}},
		{"check named like the approvals rule, in a list", "gate:\n  require:\n    - approvals\n  approvals:\n    min: 1\n", []string{`p.yaml:3:7: rule "approvals" has the name of the approvals rule`}},
		{"duplicate key", "gate:\n  metrics:\n    a: '> 1'\n    a: '> 2'\n", []string{`key "a" repeated (first at line 3)`}},
		{"severity typo", "gate:\n  rules:\n    - metric: a\n      threshold: '> 1'\n      severity: warning\n", []string{`"warning" is not one of block, warn`}},
		{"approvals min", "gate:\n  approvals:\n    min: one\n", []string{`gate.approvals.min: want a whole number, got "one"`}},
		{"approvals without min", "gate:\n  approvals:\n    roles: [lead]\n", []string{"min is missing"}},
		{"noBaseline", "gate:\n  noBaseline: skip\n", []string{`"skip" is not one of fail, pass`}},
		{"apiVersion", "apiVersion: promote.dev/v2\nkind: Policy\ngate: {}\n", []string{`apiVersion: "promote.dev/v2" is not supported`}},
		{"kind missing", "apiVersion: promote.dev/v1\ngate: {}\n", []string{"kind is missing"}},
		{"steps not increasing", "gate: {}\nrollout:\n  steps: [10, 5, 100]\n", []string{"p.yaml:3:15: rollout.steps[1]: weight 5 must be greater than the step before (10)"}},
		{"confirm not a boolean", "gate: {}\nrollout:\n  steps:\n    - {weight: 10, confirm: yes please}\n", []string{`p.yaml:4:29: rollout.steps[0].confirm: want true or false, got "yes please"`}},
		{"confirm misspelt", "gate: {}\nrollout:\n  steps:\n    - {weight: 10, confirmed: true}\n", []string{`p.yaml:4:20: rollout.steps[0]: unknown key "confirmed" (did you mean "confirm"?)`}},
		{"canary without steps", "gate: {}\nrollout:\n  strategy: canary\n", []string{"a canary needs steps"}},
		{"bad duration", "gate: {}\nrollout:\n  steps:\n    - weight: 100\n      minDuration: 5 minutes\n", []string{`"5 minutes" is not a duration`}},
		{"bad alpha", "gate: {}\nrollout:\n  strategy: direct\n  analysis: {alpha: 0.7}\n", []string{"alpha: 0.7 is out of range"}},
		{"bad errorShare", "gate: {}\nrollout:\n  strategy: direct\n  analysis: {errorShare: 1}\n", []string{"p.yaml:4:26: rollout.analysis.errorShare: 1 is out of range (0 < errorShare < 1"}},
		{"analysis interval too short", "gate: {}\nrollout:\n  strategy: direct\n  analysis: {interval: 1ns}\n", []string{"p.yaml:4:24: rollout.analysis.interval: 1ns is shorter than 10ms"}},
		{"slo not guarded", "gate: {}\nrollout:\n  strategy: direct\n  analysis: {slos: {latency_p99_ms: '<= 100'}}\n", []string{`rollout.analysis.slos: "latency_p99_ms" is not guarded during a rollout (error_rate, latency_p95_ms)`}},
		{"slo as a lower limit", "gate: {}\nrollout:\n  strategy: direct\n  analysis: {slos: {error_rate: '>= 0.5'}}\n", []string{`rollout.analysis.slos.error_rate: ">= 0.5": a guard is an upper limit, with <= or <`}},
		{"traffic keys", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {stickyHeader: 'X User', stickyCookie: 'a;b', healthPath: healthz, weights: 1}\n",
			[]string{`rollout.traffic.stickyHeader: "X User" is not a header name`, `rollout.traffic.stickyCookie: "a;b" is not a cookie name`,
				`rollout.traffic.healthPath: "healthz": want an absolute path`, "weights"}},
		{"candidateHeader not a header name", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {candidateHeader: 'X Canary'}\n", []string{`p.yaml:4:30: rollout.traffic.candidateHeader: "X Canary" is not a header name`}},
		{"candidateHeader is the stickyHeader", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {stickyHeader: X-User, candidateHeader: x-user}\n",
			[]string{`p.yaml:4:52: rollout.traffic.candidateHeader: "x-user" is the stickyHeader too`}},
		{"candidateHeader the server keeps apart", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {candidateHeader: host}\n",
			[]string{`p.yaml:4:30: rollout.traffic.candidateHeader: "host" cannot be used: the server takes it out of a request's headers`}},
		{"candidateHeader hop-by-hop", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {candidateHeader: Keep-Alive}\n",
			[]string{`p.yaml:4:30: rollout.traffic.candidateHeader: "Keep-Alive" cannot be used: it is a hop-by-hop header`}},
		{"candidateHeader frames the body", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {candidateHeader: content-length}\n",
			[]string{`p.yaml:4:30: rollout.traffic.candidateHeader: "content-length" cannot be used: it frames the request's body`}},
		{"stickyHeader hop-by-hop", "gate: {}\nrollout:\n  strategy: direct\n  traffic: {stickyHeader: Connection}\n",
			[]string{`p.yaml:4:27: rollout.traffic.stickyHeader: "Connection" cannot be used: it is a hop-by-hop header`}},
		{"history unknown key", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: {window: 168h, shares: 0.5}\n",
			[]string{`p.yaml:5:29: rollout.analysis.history: unknown key "shares" (did you mean "share"?)`}},
		{"history without a window", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: {share: 0.5}\n",
			[]string{`p.yaml:5:14: rollout.analysis.history: window is missing`}},
		{"history window too short", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: {window: 30m}\n",
			[]string{`p.yaml:5:23: rollout.analysis.history.window: 30m0s is shorter than 1h0m0s`}},
		{"history window not a duration", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: {window: a week}\n",
			[]string{`p.yaml:5:23: rollout.analysis.history.window: "a week" is not a duration`}},
		{"history share of 1", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: {window: 168h, share: 1}\n",
			[]string{`p.yaml:5:36: rollout.analysis.history.share: 1 is out of range (0 < share < 1`}},
		{"history share of 0", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: {window: 168h, share: 0}\n",
			[]string{`rollout.analysis.history.share: 0 is out of range`}},
		{"history not a mapping", "gate: {}\nrollout:\n  steps: [10]\n  analysis:\n    history: 168h\n",
			[]string{`p.yaml:5:14: rollout.analysis.history: want a mapping`}},
		{"history with a shadow", "gate: {}\nrollout:\n  strategy: shadow\n  analysis:\n    history: {window: 168h}\n",
			[]string{`rollout.analysis.history: goes with strategy canary, not shadow`}},
		{"errorShare not a number", "gate: {}\nrollout:\n  strategy: direct\n  analysis: {errorShare: most}\n", []string{"rollout.analysis.errorShare"}},
		{"bad slo", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {error_rate: '< x'}\n", []string{`rollout.analysis.slos.error_rate: threshold "< x"`}},
		// A limit the analysis cannot take would turn its guard off (0) or
		// fail every tick of the rollout (out of range): refused at load.
		{"error_rate slo of 0", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {error_rate: '<= 0'}\n",
			[]string{`p.yaml:5:24: rollout.analysis.slos.error_rate: "<= 0": the limit is a share of requests, above 0 and at most 1 (e.g. "<= 0.01" for 1%)`}},
		{"error_rate slo above 1", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {error_rate: '<= 2'}\n",
			[]string{`rollout.analysis.slos.error_rate: "<= 2": the limit is a share of requests`}},
		{"latency slo of 0", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {latency_p95_ms: '<= 0'}\n",
			[]string{`p.yaml:5:28: rollout.analysis.slos.latency_p95_ms: "<= 0": want a positive number of milliseconds, at least 0.000001 (a nanosecond), e.g. "<= 150"`}},
		{"negative latency slo", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {latency_p95_ms: '< -5'}\n",
			[]string{`rollout.analysis.slos.latency_p95_ms: "< -5": want a positive number of milliseconds`}},
		{"latency slo below a nanosecond", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {latency_p95_ms: '<= 0.0000001'}\n",
			[]string{`rollout.analysis.slos.latency_p95_ms: "<= 0.0000001": want a positive number of milliseconds`}},
		{"latency slo past a duration", "gate: {}\nrollout:\n  strategy: direct\n  analysis:\n    slos: {latency_p95_ms: '<= 1e300'}\n",
			[]string{`rollout.analysis.slos.latency_p95_ms: "<= 1e300": too long a limit`}},
		{"bad trigger", "gate: {}\nrollout:\n  strategy: direct\n  rollback: {when: [errors]}\n", []string{`"errors" is not one of slo_breach, regression, no_data, query_errors`}},
		{"env key typo", "apiVersion: promote.dev/v1\nkind: Policy\nenvironments:\n  prod:\n    gates: {}\n", []string{`environments.prod: unknown key "gates" (did you mean "gate"?)`}},
		{"severity on child", "gate:\n  rules:\n    - any:\n        - metric: a\n          threshold: '> 1'\n          severity: warn\n", []string{"severity belongs on the group"}},
		{"child typo", "gate:\n  rules:\n    - any:\n        - metirc: a\n", []string{`unknown key "metirc" (did you mean "metric"?)`}},
		{"second document", "gate:\n  metrics:\n    a: '> 1'\n---\ngate:\n  metrics:\n    a: '> 2'\n", []string{"p.yaml:5:1: a second document begins here"}},
		{"trailing text", `{"gate": {"metrics": {"a": "> 1"}}}{"gate": {"metrics": {"a": "> 2"}}}`, []string{"content after the first document"}},
		{"many problems at once", "gate:\n  metrcs: {}\n  approvals: {min: -1}\nrollout: {steps: [0]}\n", []string{`unknown key "metrcs"`, "min: -1 is out of range", "rollout.steps[0]: 0 is out of range (1 to 100)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("p.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Load(%q) = nil error, want %q", tt.src, tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("Load(%q) error =\n%s\nwant it to contain %q", tt.src, msg, w)
				}
				msg = msg[i+len(w):]
			}
		})
	}
}

func TestLoadSeedFormat(t *testing.T) {
	p := loadPolicyFile(t, "seed-minimal.yaml")
	g, err := p.Gate("prod")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range g.Rules {
		got = append(got, r.Name+":"+string(r.Kind)+":"+r.Threshold.String())
	}
	want := "tests_passed:require: artifact_signed:require: accuracy_delta:metric:>= 0 latency_p95_ms:metric:<= 180 approvals:approvals:>= 1"
	if strings.Join(got, " ") != want {
		t.Errorf("rules = %s\nwant %s", strings.Join(got, " "), want)
	}
	if g.Approvals.AllowSelfApproval {
		t.Error("self-approval allowed by default, want forbidden")
	}
	if g.NoBaseline != NoBaselineFail {
		t.Errorf("NoBaseline = %q, want fail", g.NoBaseline)
	}
}

func TestEnvironmentSelection(t *testing.T) {
	p := loadPolicyFile(t, "exercise1.yaml")
	if _, err := p.Gate(""); err == nil || !strings.Contains(err.Error(), "name one with --env") {
		t.Errorf("Gate(\"\") error = %v, want a request for --env", err)
	}
	if _, err := p.Gate("qa"); err == nil || !strings.Contains(err.Error(), `no environment "qa" (it has staging, prod)`) {
		t.Errorf("Gate(qa) error = %v", err)
	}
	r := p.Rollout("prod")
	if r == nil || r.Strategy != StrategyCanary || len(r.Steps) != 3 || r.Steps[0].Weight != 10 || r.Steps[1].Weight != 50 || r.Steps[2].Weight != 100 {
		t.Fatalf("Rollout(prod) = %+v, want canary 10/50/100", r)
	}
	if !r.Rollback.Automatic || len(r.Analysis.SLOs) != 2 || r.Analysis.Alpha != 0.01 {
		t.Errorf("Rollout(prod) rollback/analysis = %+v %+v", r.Rollback, r.Analysis)
	}
	if p.Rollout("staging") != nil {
		t.Errorf("Rollout(staging) = %+v, want none", p.Rollout("staging"))
	}
}

// TestStepsShortOf100 reads the seed's "canary rollout with two steps (10%
// → 50%)" as Argo Rollouts and Flagger read such steps: after the last, the
// new version takes all traffic, a step of 100 with no minimum.
func TestStepsShortOf100(t *testing.T) {
	for _, src := range []string{
		"gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps: [10, 50]\n",
		"gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps:\n    - {weight: 10, minDuration: 5m}\n    - {weight: 50, minRequests: 200}\n",
	} {
		p, err := Load("p.yaml", []byte(src))
		if err != nil {
			t.Fatalf("Load(%q): %v", src, err)
		}
		r := p.Rollout("")
		if r == nil || r.Strategy != StrategyCanary {
			t.Fatalf("Load(%q).Rollout = %+v, want a canary", src, r)
		}
		var weights []int
		for _, s := range r.Steps {
			weights = append(weights, s.Weight)
		}
		if diff := cmp.Diff([]int{10, 50, 100}, weights); diff != "" {
			t.Errorf("Load(%q) weights (-want +got):\n%s", src, diff)
		}
		if last := r.Steps[len(r.Steps)-1]; last.MinDuration != 0 || last.MinRequests != 0 {
			t.Errorf("Load(%q): the added step %+v has a minimum", src, last)
		}
	}
}

// TestStepConfirm reads a long-form step's confirm, which holds the
// rollout at the step for a person; short-form steps and the added step
// of 100 never wait.
func TestStepConfirm(t *testing.T) {
	src := "gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps:\n    - 10\n    - {weight: 50, minDuration: 5m, confirm: true}\n    - {weight: 80, confirm: false}\n"
	p, err := Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load(%q): %v", src, err)
	}
	want := []Step{{Weight: 10}, {Weight: 50, MinDuration: 5 * time.Minute, Confirm: true}, {Weight: 80}, {Weight: 100}}
	if diff := cmp.Diff(want, p.Rollout("").Steps); diff != "" {
		t.Errorf("Load(%q) steps (-want +got):\n%s", src, diff)
	}
}

func TestTrafficCandidateHeader(t *testing.T) {
	src := "gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps: [10, 100]\n  traffic: {candidateHeader: X-Promote-Candidate, stickyHeader: X-User}\n"
	p, err := Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load(%q): %v", src, err)
	}
	if diff := cmp.Diff(Traffic{CandidateHeader: "X-Promote-Candidate", StickyHeader: "X-User"}, p.Rollout("").Traffic); diff != "" {
		t.Errorf("Load(%q) traffic (-want +got):\n%s", src, diff)
	}
}

func TestAnalysisErrorShare(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want float64
	}{
		{"gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  strategy: direct\n", 0}, // the analysis's default
		{"gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  strategy: direct\n  analysis: {errorShare: 0.5}\n", 0.5},
	} {
		p, err := Load("p.yaml", []byte(tt.src))
		if err != nil {
			t.Fatalf("Load(%q): %v", tt.src, err)
		}
		if got := p.Rollout("").Analysis.ErrorShare; got != tt.want {
			t.Errorf("Load(%q): errorShare = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestAnalysisHistory(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      *History
	}{
		{"none", "gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps: [10]\n", nil},
		{"window alone", "gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps: [10]\n  analysis:\n    history: {window: 168h}\n", &History{Window: 168 * time.Hour}},
		{"window and share", "gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  steps: [10]\n  analysis:\n    history:\n      window: 1h\n      share: 0.5\n",
			&History{Window: time.Hour, Share: 0.5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load("p.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, p.Rollout("").Analysis.History); diff != "" {
				t.Errorf("Load(%q) history (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}

// Unset, maxNoData and maxQueryErrors are 0, so that the server's flags
// apply (--rollout-no-data, --rollout-error-budget).
func TestAnalysisLimitsUnsetLeaveTheServers(t *testing.T) {
	for _, tt := range []struct {
		src     string
		noData  time.Duration
		errors  int
		problem string
	}{
		{src: "{}"},
		{src: "{maxNoData: 10m, maxQueryErrors: 5}", noData: 10 * time.Minute, errors: 5},
		{src: "{maxQueryErrors: 0}", problem: "rollout.analysis.maxQueryErrors"},
	} {
		p, err := Load("p.yaml", []byte("gate:\n  metrics: {accuracy: '>= 0.9'}\nrollout:\n  strategy: direct\n  analysis: "+tt.src+"\n"))
		switch {
		case tt.problem != "":
			if err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("analysis %s: error %v, want one naming %s", tt.src, err, tt.problem)
			}
		case err != nil:
			t.Errorf("analysis %s: %v", tt.src, err)
		default:
			if a := p.Rollout("").Analysis; a.MaxNoData != tt.noData || a.MaxQueryErrors != tt.errors {
				t.Errorf("analysis %s: maxNoData %s, maxQueryErrors %d; want %s, %d", tt.src, a.MaxNoData, a.MaxQueryErrors, tt.noData, tt.errors)
			}
		}
	}
}

// An environment's rule replaces the common rule of the same name.
func TestEnvironmentOverride(t *testing.T) {
	src := `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  metrics:
    latency_p95_ms: "<= 180"
  approvals: {min: 1}
environments:
  dev:
    gate:
      approvals: {min: 0}
  prod:
    gate:
      require: [artifact_signed]
      metrics:
        latency_p95_ms: "<= 150"
      approvals: {min: 2, roles: [ml-lead]}
`
	p, err := Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	summary := func(env string) string {
		g, err := p.Gate(env)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range g.Rules {
			s = append(s, r.Name+" "+r.Threshold.String())
		}
		return strings.Join(s, ", ")
	}
	if got, want := summary("dev"), "tests_passed , latency_p95_ms <= 180"; got != want {
		t.Errorf("dev rules = %q, want %q", got, want)
	}
	if got, want := summary("prod"), "tests_passed , artifact_signed , latency_p95_ms <= 150, approvals >= 2"; got != want {
		t.Errorf("prod rules = %q, want %q", got, want)
	}
}

func TestRolloutTraffic(t *testing.T) {
	p, err := Load("p.yaml", []byte("gate: {require: [tests_passed]}\nrollout:\n  strategy: shadow\n  shadow: {compareBodies: true}\n  traffic: {stickyHeader: X-User, stickyCookie: promote-track, healthPath: /healthz}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rollout("")
	want := Traffic{StickyHeader: "X-User", StickyCookie: "promote-track", HealthPath: "/healthz"}
	if r.Traffic != want || !r.Shadow.CompareBodies {
		t.Errorf("traffic %+v, compareBodies %v; want %+v, true", r.Traffic, r.Shadow.CompareBodies, want)
	}
}

// A common rule is compiled once for each environment; a problem in it is
// still one problem, listed once.
func TestLoadErrorsListedOnce(t *testing.T) {
	src := "gate:\n  require: [tests_passed]\n  rules:\n    - name: x\n      expr: candidate.f1 > 1\n    - name: tests_passed\n      metric: f1\n      threshold: '>= 0.5'\n" +
		"environments:\n  dev: {}\n  staging: {}\n  prod: {}\n"
	_, err := Load("p.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Load(%q) = nil error, want the expression's and the name's problems", src)
	}
	for _, w := range []string{`rule "x": expr`, `rule "tests_passed" has the name of a required check`} {
		if n := strings.Count(err.Error(), w); n != 1 {
			t.Errorf("Load(%q) error =\n%s\nlists %q %d times, want once", src, err, w, n)
		}
	}
}
