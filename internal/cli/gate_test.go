package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// run runs the promote command line in dir and returns its exit code and
// output streams.
func run(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}

var goldenDir, _ = filepath.Abs(filepath.Join("testdata", "golden"))

func TestGateGolden(t *testing.T) {
	allowed := []string{"gate", "--policy", "policy.yaml", "--candidate", "good.json", "--baseline", "baseline.json",
		"--artifact", "model.bin", "--signature", "model.bin.sig", "--key", "cosign.pub",
		"--approved-by", "alice", "--requested-by", "bob"}
	blocked := []string{"gate", "--policy", "policy.yaml", "--candidate", "bad.json", "--baseline", "baseline.json",
		"--approved-by", "bob", "--requested-by", "bob"}
	for _, format := range []string{"text", "json", "junit", "github"} {
		for _, tc := range []struct {
			name string
			args []string
			code int
		}{{"allowed", allowed, ExitOK}, {"blocked", blocked, ExitBlocked}} {
			t.Run(tc.name+"-"+format, func(t *testing.T) {
				code, out, errOut := run(t, "testdata/gate", append(tc.args, "--output", format)...)
				if code != tc.code {
					t.Fatalf("exit code = %d, want %d; stderr: %s", code, tc.code, errOut)
				}
				if errOut != "" {
					t.Errorf("stderr = %q, want nothing", errOut)
				}
				golden(t, "gate-"+tc.name+"."+format, out)
			})
		}
	}
}

func TestGateExitCodes(t *testing.T) {
	base := []string{"gate", "--policy", "policy.yaml", "--candidate", "good.json", "--baseline", "baseline.json", "--approved-by", "alice"}
	sig := []string{"--artifact", "model.bin", "--key", "cosign.pub"}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut string // in stdout
		wantErr string // in stderr
	}{
		{"signature verifies", append(append(base, sig...), "--signature", "model.bin.sig"), ExitOK, "ALLOWED", ""},
		{"bundle verifies", append(append(base, sig...), "--bundle", "model.bin.sigstore.json"), ExitOK, "ALLOWED", ""},
		{"no signature: blocked", base, ExitBlocked, "artifact_signed: no signature was verified", ""},
		{"signature by another key: blocked", append(append(base, sig...), "--signature", "model.bin.othersig"), ExitBlocked, "does not verify with key cosign.pub", ""},
		{"signature over another file: blocked", []string{"gate", "--policy", "policy.yaml", "--candidate", "good.json", "--baseline", "baseline.json", "--approved-by", "alice", "--artifact", "good.json", "--key", "cosign.pub", "--signature", "model.bin.sig"}, ExitBlocked, "does not verify", ""},
		{"garbage signature: blocked", append(append(base, sig...), "--signature", "policy.yaml"), ExitBlocked, "does not verify", ""},
		{"signature without key", append(base, "--artifact", "model.bin", "--signature", "model.bin.sig"), ExitUsage, "", "--key is needed"},
		{"signature and bundle", append(append(base, sig...), "--signature", "model.bin.sig", "--bundle", "model.bin.sigstore.json"), ExitUsage, "", "not both"},
		{"key is not a key", append(append([]string{}, base...), "--artifact", "model.bin", "--key", "policy.yaml", "--signature", "model.bin.sig"), ExitUsage, "", "key policy.yaml:"},
		{"artifact missing", append(append([]string{}, base...), "--artifact", "nope.bin", "--key", "cosign.pub", "--signature", "model.bin.sig"), ExitUsage, "", "artifact: nope.bin: no such file or directory"},
		{"missing --policy", []string{"gate", "--candidate", "good.json"}, ExitUsage, "", `required flag(s) "policy" not set`},
		{"unknown flag", append(base, "--polcy", "x"), ExitUsage, "", "unknown flag: --polcy"},
		{"bad output", append(base, "--output", "xml"), ExitUsage, "", `--output "xml": want one of text, json, junit, github`},
		{"policy missing", []string{"gate", "--policy", "nope.yaml", "--candidate", "good.json"}, ExitUsage, "", "policy: nope.yaml: no such file or directory"},
		{"policy is a directory", []string{"gate", "--policy", ".", "--candidate", "good.json"}, ExitUsage, "", "is a directory"},
		{"broken policy: every problem", []string{"gate", "--policy", "broken.yaml", "--candidate", "good.json"}, ExitUsage, "",
			"broken.yaml:3:3: gate: unknown key \"metrcs\" (did you mean \"metrics\"?)\nbroken.yaml:9:10: gate.approvals.min: want a whole number, got \"one\"\nbroken.yaml:7:56: rule \"tradeoff\""},
		{"NaN metric", []string{"gate", "--policy", "policy.yaml", "--candidate", "nan.json"}, ExitUsage, "", "nan.json:2:15: accuracy: NaN is not a finite number"},
		{"unknown environment", []string{"gate", "--policy", "exercise1.yaml", "--env", "qa", "--candidate", "good.json"}, ExitUsage, "", `no environment "qa" (it has staging, prod)`},
		{"environment needed", []string{"gate", "--policy", "exercise1.yaml", "--candidate", "good.json"}, ExitUsage, "", "name one with --env"},
		{"approver without name", append(base, "--approved-by", ":lead"), ExitUsage, "", "an approver needs a name"},
		{"drift merged", []string{"gate", "--policy", "drift-policy.yaml", "--candidate", "good.json", "--drift", "drift.json"}, ExitOK, "drift_psi_max", ""},
		{"drift conflicts with candidate", []string{"gate", "--policy", "drift-policy.yaml", "--candidate", "drift.json", "--drift", "drift.json"}, ExitUsage, "", "metric drift_psi"},
		{"drift report without metrics", []string{"gate", "--policy", "drift-policy.yaml", "--candidate", "good.json", "--drift", "drift-empty.json"}, ExitUsage, "", "drift report drift-empty.json has no metrics"},
		{"drift report with groups", []string{"gate", "--policy", "drift-policy.yaml", "--candidate", "good.json", "--drift", "drift-groups.json"}, ExitUsage, "", `drift report drift-groups.json has "groups"`},
		{"drift report missing", []string{"gate", "--policy", "drift-policy.yaml", "--candidate", "good.json", "--drift", "nope.json"}, ExitUsage, "", "drift report: nope.json"},
		{"exercise 1 prod section allows a good candidate", []string{"gate", "--policy", "exercise1.yaml", "--env", "prod", "--candidate", "good.json", "--baseline", "baseline.json", "--approved-by", "alice"}, ExitOK, "ALLOWED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "testdata/gate", tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.wantErr)
			}
		})
	}
}

func TestGateJUnitFile(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "gate.xml")
	code, out, errOut := run(t, "testdata/gate", "gate", "--policy", "policy.yaml", "--candidate", "bad.json", "--baseline", "baseline.json", "--junit-file", junit)
	if code != ExitBlocked {
		t.Fatalf("exit = %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "BLOCKED") {
		t.Errorf("stdout = %q, want the text table", out)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `<testsuite name="promote gate" tests="5" failures="5" errors="0"`) {
		t.Errorf("junit file = %s", data)
	}
}

// A report that cannot be written is exit 2 (a broken pipeline), not 1
// (blocked), even when the candidate is allowed.
func TestGateUnwritableReport(t *testing.T) {
	dir := t.TempDir()
	allowed := []string{"gate", "--policy", "policy.yaml", "--candidate", "good.json", "--baseline", "baseline.json",
		"--artifact", "model.bin", "--signature", "model.bin.sig", "--key", "cosign.pub", "--approved-by", "alice"}
	t.Run("junit file", func(t *testing.T) {
		code, out, errOut := run(t, "testdata/gate", append(allowed, "--junit-file", filepath.Join(dir, "no", "such", "gate.xml"))...)
		if code != ExitUsage || !strings.Contains(errOut, "junit file:") || !strings.Contains(out, "ALLOWED") {
			t.Errorf("exit = %d, want %d\nstdout: %s\nstderr: %s", code, ExitUsage, out, errOut)
		}
	})
	t.Run("job summary", func(t *testing.T) {
		t.Setenv("GITHUB_STEP_SUMMARY", dir)
		code, _, errOut := run(t, "testdata/gate", append(allowed, "--output", "github")...)
		if code != ExitUsage || !strings.Contains(errOut, "job summary:") {
			t.Errorf("exit = %d, want %d\nstderr: %s", code, ExitUsage, errOut)
		}
	})
}

// Bad input reaches machine readers in their own format too.
func TestGateBadInputFormats(t *testing.T) {
	tests := []struct{ format, want string }{
		{"json", `"allowed": false`},
		{"json", `"file": "broken.yaml",
      "line": 3,
      "column": 3,
      "message": "gate: unknown key \"metrcs\" (did you mean \"metrics\"?)"`},
		{"github", "::error file=broken.yaml,line=3,col=3,title=promote gate%3A bad input::gate: unknown key \"metrcs\" (did you mean \"metrics\"?)\n"},
		{"junit", `<error message="bad input" type="input">broken.yaml:3:3: gate: unknown key`},
		{"text", ""},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			code, out, errOut := run(t, "testdata/gate", "gate", "--policy", "broken.yaml", "--candidate", "good.json", "--output", tt.format)
			if code != ExitUsage || !strings.Contains(errOut, "broken.yaml:3:3") {
				t.Fatalf("exit = %d, stderr %q", code, errOut)
			}
			if !strings.Contains(out, tt.want) || (tt.want == "" && out != "") {
				t.Errorf("stdout = %s\nwant it to contain %q", out, tt.want)
			}
		})
	}
}

func TestGateGitHubJobSummary(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	code, _, errOut := run(t, "testdata/gate", "gate", "--policy", "policy.yaml", "--candidate", "bad.json", "--baseline", "baseline.json", "--output", "github")
	if code != ExitBlocked {
		t.Fatalf("exit = %d, stderr %s", code, errOut)
	}
	data, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"promote gate: BLOCKED: 0 passed, 5 failed", "| accuracy_delta | 0.899 | 0.905 | -0.006 | &gt;= 0 | fail |"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("job summary = %s\nwant it to contain %q", data, want)
		}
	}
}

func TestVersionAndCompletion(t *testing.T) {
	code, out, _ := run(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "promote ") {
		t.Errorf("version = %d %q", code, out)
	}
	code, out, _ = run(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_promote") {
		t.Errorf("completion bash = %d, %d bytes", code, len(out))
	}
	code, _, errOut := run(t, "", "frobnicate")
	if code != ExitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command = %d %q", code, errOut)
	}
}

// A required flag left out is bad input that machine readers get in their
// format too, as docs/ci.md says of every exit 2: a CI step that parses
// the JSON got nothing at all.
func TestGateMissingFlagFormats(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{"json", `"error": "required flag(s) \"policy\" not set"`},
		{"github", "::error title=promote gate%3A bad input::required flag(s) \"policy\" not set\n"},
		{"junit", `required flag(s) &#34;policy&#34; not set`},
		{"text", ""},
	} {
		t.Run(tt.format, func(t *testing.T) {
			code, out, errOut := run(t, "testdata/gate", "gate", "--candidate", "good.json", "--output", tt.format)
			if code != ExitUsage || !strings.Contains(errOut, `promote: required flag(s) "policy" not set`) {
				t.Fatalf("exit = %d, stderr %q; want %d naming --policy", code, errOut, ExitUsage)
			}
			if !strings.Contains(out, tt.want) || (tt.want == "" && out != "") {
				t.Errorf("stdout = %s\nwant it to contain %q", out, tt.want)
			}
		})
	}
	code, out, errOut := run(t, "testdata/gate", "gate", "--output", "json")
	if code != ExitUsage || !strings.Contains(out, `required flag(s) \"policy\", \"candidate\" not set`) || !strings.Contains(errOut, `"policy", "candidate"`) {
		t.Errorf("no --policy nor --candidate: exit %d, stdout %s, stderr %q; want both named", code, out, errOut)
	}
}

// A fault inside a policy's CEL expression is reported at the file's line
// and column of the fault, wherever the file holds the expression verbatim:
// on one line, plain or quoted, or in a literal block ("|", with chomping or
// an indentation indicator), whose lines are the file's. A folded block, a
// multi-line flow scalar or one with escapes is reported where the
// expression's text starts: its first content line for a block, not the
// line of the "|" or ">".
func TestGateExprPosition(t *testing.T) {
	const rule = "gate:\n  rules:\n    - name: tradeoff\n      expr: "
	tests := []struct {
		name, expr string
		want       string // file:line:column
	}{
		{"plain", "delta.accuracy >= -0.005 && candidat.f1 > 0.5\n", "p.yaml:4:41:"},
		{"double-quoted", "\"delta.accuracy >= -0.005 && candidat.f1 > 0.5\"\n", "p.yaml:4:42:"},
		{"single-quoted with an escape", "'candidate.f1 > 0.5 && candidat.name == ''x'''\n", "p.yaml:4:14:"},
		{"plain over two lines", "delta.accuracy >= -0.005 &&\n        candidat.f1 > 0.5\n", "p.yaml:4:13:"},
		{"literal", "|\n        delta.accuracy >= -0.005 &&\n          candidat.f1 > 0.5\n", "p.yaml:6:11:"},
		{"literal, strip", "|-\n        delta.accuracy >= -0.005\n        && candidat.f1 > 0.5\n", "p.yaml:6:12:"},
		{"literal, keep, a blank line first", "|+\n\n        delta.accuracy >= -0.005 &&\n        candidat.f1 > 0.5\n\n", "p.yaml:7:9:"},
		{"literal, indentation indicator", "|2-\n            delta.accuracy >= -0.005 &&\n          candidat.f1 > 0.5\n", "p.yaml:6:11:"},
		{"literal, comment on the header", "| # the trade-off\n        delta.accuracy >= -0.005 && candidat.f1 > 0.5\n", "p.yaml:5:37:"},
		{"literal, yields a number", "|\n\n        candidate.f1 + 1.0\n", "p.yaml:6:9:"},
		{"folded", ">\n        delta.accuracy >= -0.005 &&\n        candidat.f1 > 0.5\n", "p.yaml:5:9:"},
		{"folded, strip, a blank line first", ">-\n\n        delta.accuracy >= -0.005 &&\n        candidat.f1 > 0.5\n", "p.yaml:6:9:"},
	}
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "gate", "good.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good.json"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(rule+tt.expr), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := run(t, dir, "gate", "--policy", "p.yaml", "--candidate", "good.json")
			if code != ExitUsage || !strings.HasPrefix(errOut, "promote: "+tt.want+` rule "tradeoff": expr `) {
				t.Errorf("gate with expr: %s\nexit %d, stderr %q, want 2 and an error at %s\nstdout: %s", tt.expr, code, errOut, tt.want, out)
			}
		})
	}
}
