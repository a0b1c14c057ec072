package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/report"
)

var examplesDir, _ = filepath.Abs(filepath.Join("..", "..", "examples"))

// policyTestDir returns a new directory holding the repository's example
// policy, artifact, signature and key, and the files given (name to
// content).
func policyTestDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"policy.yaml", "model.bin", "model.bin.sig", "cosign.pub"} {
		data, err := os.ReadFile(filepath.Join(examplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// seedTests are cases for the seed's minimal gate (examples/policy.yaml),
// in a directory below the policy.
const seedTests = `policy: ../policy.yaml
cases:
  - name: signed and approved is allowed
    candidate:
      accuracy: 0.912
      latency_p95_ms: 142
      checks: {tests_passed: true}
    baseline: ../baseline.json
    artifact: ../model.bin
    signature: ../model.bin.sig
    key: ../cosign.pub
    approvedBy: [alice]
    requestedBy: bob
    expect:
      verdict: allowed
      pass: [artifact_signed, accuracy_delta, approvals]
  - name: a claimed signature is blocked
    candidate:
      accuracy: 0.912
      latency_p95_ms: 142
      checks: {tests_passed: true, artifact_signed: true}
    baseline: ../baseline.json
    approvedBy: [bob]
    requestedBy: Bob
    expect:
      verdict: blocked
      fail: [artifact_signed, approvals]
      pass: [latency_p95_ms]
`

const seedBaseline = `{"accuracy": 0.905, "latency_p95_ms": 158}`

func TestPolicyTestPasses(t *testing.T) {
	dir := policyTestDir(t, map[string]string{"tests/seed_test.yaml": seedTests, "baseline.json": seedBaseline,
		"tests/notes.yaml": "not: a test file\n"})
	code, out, errOut := run(t, dir, "policy", "test")
	if code != ExitOK {
		t.Fatalf("policy test: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	want := `PASS  tests/seed_test.yaml:3: signed and approved is allowed
PASS  tests/seed_test.yaml:17: a claimed signature is blocked
ok: 2 passed, 0 failed (1 test file)
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("policy test (-want +got):\n%s", diff)
	}
}

func TestPolicyTestFails(t *testing.T) {
	wrong := strings.NewReplacer(
		"verdict: allowed\n      pass: [artifact_signed, accuracy_delta, approvals]", "verdict: blocked",
		"pass: [latency_p95_ms]", "pass: [latency_p95_ms, approvals]\n      warn: [accuracy_delta]",
		"fail: [artifact_signed, approvals]", "fail: [artifact_signed]",
	).Replace(seedTests)
	dir := policyTestDir(t, map[string]string{"tests/seed_test.yaml": wrong, "baseline.json": seedBaseline})
	code, out, errOut := run(t, dir, "policy", "test", "tests")
	if code != ExitBlocked || errOut != "" {
		t.Fatalf("policy test: exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	want := `FAIL  tests/seed_test.yaml:3: signed and approved is allowed
      verdict: want blocked, got allowed (5 passed, 0 failed, 0 warnings, 0 errors)
FAIL  tests/seed_test.yaml:16: a claimed signature is blocked
      approvals: want pass, got fail (actual 0, threshold >= 1): 0 of 1 distinct approvers (none); bob requested this promotion and may not approve it
      accuracy_delta: want warn, got pass (actual 0.007, threshold >= 0): accuracy_delta 0.007 >= 0
FAIL: 0 passed, 2 failed (1 test file)
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("policy test (-want +got):\n%s", diff)
	}

	// A case expecting allowed that the gate blocks says what blocked it.
	blocked := strings.Replace(seedTests, "verdict: blocked\n      fail: [artifact_signed, approvals]", "verdict: allowed", 1)
	dir = policyTestDir(t, map[string]string{"tests/seed_test.yaml": blocked, "baseline.json": seedBaseline})
	code, out, _ = run(t, dir, "policy", "test", "--run", "claimed")
	want = `FAIL  tests/seed_test.yaml:17: a claimed signature is blocked
      verdict: want allowed, got blocked (3 passed, 2 failed, 0 warnings, 0 errors)
      artifact_signed blocks: fail (actual false, threshold required): no signature was verified: give the artifact, its signature (or bundle) and the public key; the evidence's own artifact_signed claim is not taken
      approvals blocks: fail (actual 0, threshold >= 1): 0 of 1 distinct approvers (none); bob requested this promotion and may not approve it
FAIL: 0 passed, 1 failed (1 test file)
`
	if code != ExitBlocked {
		t.Errorf("policy test: exit %d, want 1", code)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("policy test --run claimed (-want +got):\n%s", diff)
	}
}

func TestPolicyTestRun(t *testing.T) {
	dir := policyTestDir(t, map[string]string{"seed_test.yaml": strings.ReplaceAll(seedTests, "../", ""), "baseline.json": seedBaseline})
	code, out, _ := run(t, dir, "policy", "test", "--run", "^signed")
	if code != ExitOK || out != "PASS  seed_test.yaml:3: signed and approved is allowed\nok: 1 passed, 0 failed (1 test file)\n" {
		t.Errorf("policy test --run ^signed: exit %d, stdout %q", code, out)
	}
	code, out, errOut := run(t, dir, "policy", "test", "--run", "nothing")
	if code != ExitUsage || out != "" || !strings.Contains(errOut, `--run "nothing" matches none of the 2 cases`) {
		t.Errorf("policy test --run nothing: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = run(t, dir, "policy", "test", "--run", "(")
	if code != ExitUsage || !strings.Contains(errOut, `--run "("`) {
		t.Errorf("policy test --run (: exit %d, stderr %q", code, errOut)
	}
}

func TestPolicyTestOutputs(t *testing.T) {
	tests := strings.NewReplacer("pass: [latency_p95_ms]", "pass: [latency_p95_ms, approvals]",
		"fail: [artifact_signed, approvals]", "fail: [artifact_signed]").Replace(seedTests)
	dir := policyTestDir(t, map[string]string{"tests/seed_test.yaml": tests, "baseline.json": seedBaseline})

	code, out, errOut := run(t, dir, "policy", "test", "-o", "json")
	if code != ExitBlocked {
		t.Fatalf("policy test -o json: exit %d, want 1; stderr %s", code, errOut)
	}
	var got report.TestRun
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("policy test -o json: %v\n%s", err, out)
	}
	if got.Passed || got.Summary != (report.TestSummary{Pass: 1, Fail: 1, Files: 1}) || len(got.Cases) != 2 {
		t.Fatalf("policy test -o json = passed %v, summary %+v, %d cases", got.Passed, got.Summary, len(got.Cases))
	}
	c := got.Cases[1]
	if c.Passed || c.Verdict != "blocked" || c.Expected != "blocked" || c.Line != 17 || c.PolicyFile != "policy.yaml" ||
		len(c.Decision.Results) != 5 || len(c.Differences) != 1 || !strings.HasPrefix(c.Differences[0], "approvals: want pass, got fail") {
		t.Errorf("case 2 = %+v", c)
	}

	code, out, _ = run(t, dir, "policy", "test", "-o", "junit")
	if code != ExitBlocked {
		t.Fatalf("policy test -o junit: exit %d, want 1", code)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Line    int    `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("policy test -o junit: %v\n%s", err, out)
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 || doc.Suites[0].Name != "tests/seed_test.yaml" || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("policy test -o junit = %+v", doc)
	}
	if f := doc.Suites[0].Cases[1].Failure; f == nil || !strings.HasPrefix(f.Message, "approvals: want pass, got fail") || doc.Suites[0].Cases[0].Failure != nil {
		t.Errorf("junit cases = %+v", doc.Suites[0].Cases)
	}

	// Bad input is written in the format asked for, too.
	dir = policyTestDir(t, map[string]string{"x_test.yaml": "policy: policy.yaml\ncases:\n  - name: a\n    candidate: {f1: 1}\n    expct: {verdict: allowed}\n"})
	code, out, _ = run(t, dir, "policy", "test", "-o", "json")
	var bad struct {
		Problems []struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &bad); err != nil || code != ExitUsage || len(bad.Problems) != 2 ||
		bad.Problems[0].File != "x_test.yaml" || bad.Problems[0].Line != 5 || !strings.Contains(bad.Problems[0].Message, `unknown key "expct" (did you mean "expect"?)`) {
		t.Errorf("policy test -o json on bad input: exit %d, %v, %s", code, err, out)
	}
}

func TestPolicyTestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // standard error, exactly
	}{
		{"unknown key", map[string]string{"x_test.yaml": "policy: policy.yaml\ncases:\n  - name: a\n    candidate: {accuracy: 0.9}\n    approvers: [alice]\n    expect: {verdict: blocked}\n"},
			"promote: x_test.yaml:5:5: case \"a\": unknown key \"approvers\" (known keys: name, env, candidate, baseline, drift, approvedBy, requestedBy, artifact, signature, bundle, key, expect)\n"},
		{"missing policy", map[string]string{"x_test.yaml": "policy: nothere.yaml\ncases:\n  - name: a\n    candidate: {accuracy: 0.9}\n    expect: {verdict: blocked}\n"},
			"promote: x_test.yaml:1:9: policy: nothere.yaml: no such file or directory\n"},
		{"policy with a CEL error", map[string]string{
			"cel.yaml":    "gate:\n  rules:\n    - name: speed\n      expr: candidate.latency_p95_ms <= 150\n",
			"x_test.yaml": "policy: cel.yaml\ncases:\n  - name: a\n    candidate: {latency_p95_ms: 140}\n    expect: {verdict: allowed}\n"},
			"promote: cel.yaml:4:38: rule \"speed\": expr \"candidate.latency_p95_ms <= 150\": 1:26: found no matching overload for '_<=_' applied to '(double, int)'\n"},
		{"a policy that does not load, and expect sections with mistakes", map[string]string{
			"cel.yaml": "gate:\n  rules:\n    - name: speed\n      expr: candidate.latency_p95_ms <= 150\n",
			"x_test.yaml": "policy: cel.yaml\ncases:\n  - name: a\n    candidate: {latency_p95_ms: 140}\n    expect: {verdict: allowed, fail: [speed]}\n" +
				"  - name: b\n    candidate: {latency_p95_ms: 140}\n    expect: {fail: [speed], pas: [speed]}\n"},
			"promote: cel.yaml:4:38: rule \"speed\": expr \"candidate.latency_p95_ms <= 150\": 1:26: found no matching overload for '_<=_' applied to '(double, int)'\n" +
				"x_test.yaml:5:13: case \"a\".expect: speed is to fail, which blocks, so the verdict cannot be allowed\n" +
				"x_test.yaml:8:29: case \"b\".expect: unknown key \"pas\" (did you mean \"pass\"?)\n" +
				"x_test.yaml:8:13: case \"b\".expect: verdict is missing (allowed or blocked)\n"},
		{"an env the policy lacks, and an expect section with a mistake", map[string]string{
			"envs.yaml":   "apiVersion: promote.dev/v1\nkind: Policy\ngate:\n  metrics: {f1: \">= 0.8\"}\nenvironments:\n  prod: {}\n",
			"x_test.yaml": "policy: envs.yaml\ncases:\n  - name: a\n    env: prd\n    candidate: {f1: 0.9}\n    expect: {verdict: allowed, error: [f1]}\n"},
			"promote: x_test.yaml:4:10: case \"a\": env \"prd\": policy envs.yaml has no such environment (it has prod); did you mean \"prod\"?\n" +
				"x_test.yaml:6:13: case \"a\".expect: f1 is to error, which blocks, so the verdict cannot be allowed\n"},
		{"a verdict misspelt, and one that is no verdict", map[string]string{"x_test.yaml": "policy: policy.yaml\ncases:\n" +
			"  - name: a\n    candidate: {accuracy: 0.9}\n    expect: {verdict: blokced}\n" +
			"  - name: b\n    candidate: {accuracy: 0.9}\n    expect: {verdict: maybe, fail: [accuracy_delta]}\n"},
			"promote: x_test.yaml:5:23: case \"a\".expect.verdict: \"blokced\" is not one of allowed, blocked (did you mean \"blocked\"?)\n" +
				"x_test.yaml:8:23: case \"b\".expect.verdict: \"maybe\" is not one of allowed, blocked\n"},
		{"rule the gate lacks", map[string]string{"x_test.yaml": "policy: policy.yaml\ncases:\n  - name: a\n    candidate: {accuracy: 0.9}\n    expect: {verdict: blocked, fail: [latncy_p95_ms]}\n"},
			"promote: x_test.yaml:5:39: case \"a\".expect.fail: \"latncy_p95_ms\" is no rule of the policy's gate (did you mean \"latency_p95_ms\"?)\n"},
		{"no verdict, a partial signature", map[string]string{"x_test.yaml": "policy: policy.yaml\ncases:\n  - name: a\n    candidate: {accuracy: 0.9}\n    artifact: model.bin\n    key: cosign.pub\n    expect: {fail: [accuracy_delta]}\n"},
			"promote: x_test.yaml:3:5: case \"a\": signature or bundle is missing: the artifact's signature to verify\nx_test.yaml:7:13: case \"a\".expect: verdict is missing (allowed or blocked)\n"},
		{"malformed inline evidence", map[string]string{"x_test.yaml": "policy: policy.yaml\ncases:\n" +
			"  - name: a\n    candidate: {accuracy: 0.9, checks: {tests_passed: yes}}\n    baseline: {accuracy: \"0.8\"}\n    expect: {verdict: blocked}\n" +
			"  - candidate: {accuracy: 0.9}\n    drift: [{psi: 0.1}, {psi: .nan}]\n    expect: {verdict: blocked}\n" +
			"  - name: c\n    candidate: {accuracy: 0.9}\n    baseline: nothere.json\n    expect: {verdict: blocked}\n"},
			"promote: x_test.yaml:4:55: case \"a\".candidate: checks.tests_passed: want true or false, got \"yes\"\n" +
				"x_test.yaml:5:26: case \"a\".baseline: accuracy: want a number, got the string \"0.8\"\n" +
				"x_test.yaml:8:31: cases[1].drift[1]: psi: .nan is not a finite number\n" +
				"x_test.yaml:7:5: cases[1]: name is missing\n" +
				"x_test.yaml:12:15: case \"c\": baseline: nothere.json: no such file or directory\n"},
		{"a bad metrics file that two cases name", map[string]string{
			"base.json": "{\"accuracy\": \"0.9\"}\n",
			"x_test.yaml": "policy: policy.yaml\ncases:\n" +
				"  - name: a\n    candidate: {accuracy: 0.9}\n    baseline: base.json\n    expect: {verdict: blocked}\n" +
				"  - name: b\n    candidate: {accuracy: 0.9}\n    baseline: base.json\n    expect: {verdict: blocked}\n"},
			"promote: base.json:1:14: accuracy: want a number, got the string \"0.9\"\n"},
		{"no test files", map[string]string{"policy_tests.yaml": "policy: policy.yaml\n"},
			"promote: . has no policy test files (*_test.yaml)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := policyTestDir(t, tc.files)
			code, out, errOut := run(t, dir, "policy", "test")
			if code != ExitUsage || out != "" {
				t.Errorf("policy test: exit %d, stdout %q; want 2 and nothing", code, out)
			}
			if diff := cmp.Diff(tc.want, errOut); diff != "" {
				t.Errorf("policy test stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	dir := policyTestDir(t, map[string]string{
		"v1.yaml": `apiVersion: promote.dev/v1
kind: Policy
metadata:
  name: credit-risk
gate:
  require: [tests_passed]
  metrics:
    latency_p95_ms: "<= 200"
environments:
  dev: {}
  prod:
    gate:
      require: [artifact_signed]
      rules:
        - name: fast-enough
          expr: candidate.latency_p95_ms <= 150.0
      approvals: {min: 2, roles: [ml-lead]}
    rollout:
      strategy: canary
      steps: [10, 50]
`,
		"broken.yaml": "gate:\n  requires: [tests_passed]\n",
	})
	code, out, errOut := run(t, dir, "policy", "check", "policy.yaml", "v1.yaml")
	want := `ok  policy.yaml
    every environment:  2 rules (accuracy_delta, latency_p95_ms); requires tests_passed, artifact_signed; 1 approval; no rollout section
ok  v1.yaml (credit-risk)
    dev:   1 rule (latency_p95_ms); requires tests_passed; no approvals; no rollout section
    prod:  2 rules (latency_p95_ms, fast-enough); requires tests_passed, artifact_signed; 2 approvals (roles ml-lead); rollout canary 10% -> 50% -> 100%
`
	if code != ExitOK || errOut != "" {
		t.Errorf("policy check: exit %d, stderr %q", code, errOut)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("policy check (-want +got):\n%s", diff)
	}

	code, out, errOut = run(t, dir, "policy", "check", "broken.yaml", "v1.yaml")
	if code != ExitUsage || !strings.HasPrefix(out, "ok  v1.yaml") ||
		errOut != "promote: broken.yaml:2:3: gate: unknown key \"requires\" (did you mean \"require\"?)\n"+
			"broken.yaml:2:1: the policy has an empty gate: no rule, requirement or approval, so it would allow anything; add at least one\n" {
		t.Errorf("policy check broken.yaml v1.yaml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, _ = run(t, dir, "policy", "check", "-o", "json", "v1.yaml", "broken.yaml")
	var got struct {
		OK       bool `json:"ok"`
		Policies []struct {
			File         string `json:"file"`
			OK           bool   `json:"ok"`
			Environments []struct {
				Environment string   `json:"environment"`
				Require     []string `json:"require"`
				Approvals   int      `json:"approvals"`
				Steps       []int    `json:"steps"`
			} `json:"environments"`
			Problems []struct {
				Line int `json:"line"`
			} `json:"problems"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != ExitUsage || got.OK || len(got.Policies) != 2 {
		t.Fatalf("policy check -o json: exit %d, %v, %s", code, err, out)
	}
	prod := got.Policies[0].Environments[1]
	if !got.Policies[0].OK || prod.Environment != "prod" || prod.Approvals != 2 || !cmp.Equal(prod.Steps, []int{10, 50, 100}) ||
		!cmp.Equal(prod.Require, []string{"tests_passed", "artifact_signed"}) {
		t.Errorf("policy check -o json: v1.yaml = %+v", got.Policies[0])
	}
	if got.Policies[1].OK || len(got.Policies[1].Problems) != 2 || got.Policies[1].Problems[0].Line != 2 {
		t.Errorf("policy check -o json: broken.yaml = %+v", got.Policies[1])
	}
}

// TestPolicyCheckSkipsTests: policies/*.yaml names the test files promote
// init writes beside the policies; check skips them, saying so, and
// refuses a list of test files alone.
func TestPolicyCheckSkipsTests(t *testing.T) {
	dir := policyTestDir(t, map[string]string{"policy_test.yaml": seedTests})
	code, out, errOut := run(t, dir, "policy", "check", "policy.yaml", "policy_test.yaml")
	want := `ok  policy.yaml
    every environment:  2 rules (accuracy_delta, latency_p95_ms); requires tests_passed, artifact_signed; 1 approval; no rollout section
skip  policy_test.yaml (a policy test file: promote policy test runs it)
`
	if code != ExitOK || errOut != "" {
		t.Errorf("policy check policy.yaml policy_test.yaml: exit %d, stderr %q", code, errOut)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("policy check (-want +got):\n%s", diff)
	}
	code, out, errOut = run(t, dir, "policy", "check", "policy_test.yaml")
	if code != ExitUsage || out != "" || !strings.Contains(errOut, "no policy to check: policy_test.yaml") ||
		!strings.Contains(errOut, "promote policy test policy_test.yaml") {
		t.Errorf("policy check policy_test.yaml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// groupPolicy has a group with a nested group, as the mini challenge's
// trade-off, and a rule named apart from its metric.
const groupPolicy = `gate:
  rules:
    - name: accuracy-for-latency
      any:
        - accuracy_delta: ">= 0"
        - all:
            - accuracy_delta: ">= -0.005"
            - latency_p95_ms_change: "<= -10%"
    - name: f1-regression
      metric: f1_delta
      threshold: ">= -0.01"
`

// TestPolicyTestGroupMembers: expect names a group's member by its path,
// GROUP/MEMBER; a member may fail in an allowed case, and a name that is
// a member's or a metric's alone is refused with the rule meant.
func TestPolicyTestGroupMembers(t *testing.T) {
	const evidence = "    candidate: {accuracy: 0.898, latency_p95_ms: 100, f1: 0.9}\n    baseline: {accuracy: 0.9, latency_p95_ms: 120, f1: 0.9}\n"
	passing := "policy: g.yaml\ncases:\n  - name: trade\n" + evidence + `    expect:
      verdict: allowed
      pass: [accuracy-for-latency, accuracy-for-latency/all-2, accuracy-for-latency/all-2/latency_p95_ms_change]
      fail: [accuracy-for-latency/accuracy_delta]
`
	dir := policyTestDir(t, map[string]string{"g.yaml": groupPolicy, "g_test.yaml": passing})
	code, out, errOut := run(t, dir, "policy", "test")
	if code != ExitOK || out != "PASS  g_test.yaml:3: trade\nok: 1 passed, 0 failed (1 test file)\n" {
		t.Errorf("policy test: exit %d, stdout %q, stderr %q; want the case to pass", code, out, errOut)
	}

	failing := strings.Replace(passing, "fail: [accuracy-for-latency/accuracy_delta]", "warn: [accuracy-for-latency/accuracy_delta]", 1)
	dir = policyTestDir(t, map[string]string{"g.yaml": groupPolicy, "g_test.yaml": failing})
	code, out, _ = run(t, dir, "policy", "test")
	want := `FAIL  g_test.yaml:3: trade
      accuracy-for-latency/accuracy_delta: want warn, got fail (actual -0.002, threshold >= 0): accuracy_delta -0.002 is not >= 0
FAIL: 0 passed, 1 failed (1 test file)
`
	if code != ExitBlocked {
		t.Errorf("policy test: exit %d, want 1", code)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("policy test (-want +got):\n%s", diff)
	}

	bad := "policy: g.yaml\ncases:\n  - name: names\n" + evidence + `    expect:
      verdict: blocked
      pass: [latency_p95_ms_change, f1_delta, accuracy-for-latency/all-3, f1-regression/x, acuracy-for-latency/all-2, "a//b"]
`
	dir = policyTestDir(t, map[string]string{"g.yaml": groupPolicy, "g_test.yaml": bad})
	code, out, errOut = run(t, dir, "policy", "test")
	want = `promote: g_test.yaml:8:14: case "names".expect.pass: "latency_p95_ms_change" is no rule of the policy's gate (a group's member is named by its path: "accuracy-for-latency/all-2/latency_p95_ms_change")
g_test.yaml:8:37: case "names".expect.pass: "f1_delta" is no rule of the policy's gate (it is the metric of "f1-regression"; expect names rules)
g_test.yaml:8:47: case "names".expect.pass: "accuracy-for-latency/all-3": group accuracy-for-latency has no member all-3 (did you mean "all-2"?)
g_test.yaml:8:75: case "names".expect.pass: "f1-regression/x": f1-regression is not a group (any or all), so it has no members
g_test.yaml:8:92: case "names".expect.pass: "acuracy-for-latency/all-2": acuracy-for-latency is no rule of the policy's gate (did you mean "accuracy-for-latency"?)
g_test.yaml:8:119: case "names".expect.pass: "a//b" is not a rule's name (letters, digits, _ . - only, starting with a letter; a group's member as GROUP/MEMBER)
`
	if code != ExitUsage || out != "" {
		t.Errorf("policy test: exit %d, stdout %q; want 2 and nothing", code, out)
	}
	if diff := cmp.Diff(want, errOut); diff != "" {
		t.Errorf("policy test stderr (-want +got):\n%s", diff)
	}

	// Members of a group may share a name; a path to one of them is refused.
	twins := "gate:\n  rules:\n    - name: either\n      any:\n        - accuracy_delta: \">= 0\"\n        - accuracy_delta: \">= -0.01\"\n"
	dir = policyTestDir(t, map[string]string{"g.yaml": twins,
		"g_test.yaml": "policy: g.yaml\ncases:\n  - name: twins\n" + evidence + "    expect: {verdict: allowed, pass: [either/accuracy_delta]}\n"})
	code, _, errOut = run(t, dir, "policy", "test")
	want = "promote: g_test.yaml:6:39: case \"twins\".expect.pass: \"either/accuracy_delta\": group either has 2 members named accuracy_delta; give them distinct names (name: in the policy) to expect one\n"
	if code != ExitUsage || errOut != want {
		t.Errorf("policy test: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
}
