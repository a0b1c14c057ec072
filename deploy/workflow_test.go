package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/cli"
)

// workflow is the part of a GitHub Actions workflow these tests read.
type workflow struct {
	On   map[string]any `yaml:"on"`
	Env  map[string]string
	Jobs map[string]struct {
		Steps []step `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Run  string            `yaml:"run"`
	Uses string            `yaml:"uses"`
	Env  map[string]string `yaml:"env"`
}

const workflowFile = "examples/github-actions/promote-gate.yml"

func readWorkflow(t *testing.T) (workflow, []step) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, workflowFile))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("%s: %v", workflowFile, err)
	}
	job, ok := wf.Jobs["gate"]
	if !ok || len(wf.Jobs) != 1 {
		t.Fatalf("%s: jobs %v, want one job named gate", workflowFile, len(wf.Jobs))
	}
	return wf, job.Steps
}

func stepByID(t *testing.T, steps []step, id string) step {
	t.Helper()
	for _, s := range steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("%s: no step with id %s", workflowFile, id)
	return step{}
}

// gateCommand returns the promote gate command of a script as shell words:
// its continuation lines joined, up to the || that records its exit code.
func gateCommand(t *testing.T, script string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(script, "promote gate")
	if !ok {
		t.Fatalf("%s: the gate step does not run promote gate", workflowFile)
	}
	var line strings.Builder
	line.WriteString("promote gate")
	for l := range strings.SplitSeq(rest, "\n") {
		body, cont := strings.CutSuffix(strings.TrimRight(l, " "), "\\")
		line.WriteString(" " + body)
		if !cont {
			break
		}
	}
	cmd, _, _ := strings.Cut(line.String(), "||")
	return shellWords(t, cmd)
}

// TestWorkflowGateFlags checks the workflow's promote gate line against
// the CLI: every flag it passes is one promote gate has.
func TestWorkflowGateFlags(t *testing.T) {
	wf, steps := readWorkflow(t)
	if _, ok := wf.On["pull_request"]; !ok {
		t.Errorf("%s runs on %v, want pull_request", workflowFile, wf.On)
	}

	modData, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(modData)
	install := ""
	for _, s := range steps {
		if strings.Contains(s.Run, "go install") {
			install = s.Run
		}
	}
	if module == nil || !strings.Contains(install, "go install \""+string(module[1])+"/cmd/promote@${PROMOTE_VERSION}\"") || wf.Env["PROMOTE_VERSION"] == "" {
		t.Errorf("%s installs promote with %q (PROMOTE_VERSION %q), want go install of %s/cmd/promote at a version", workflowFile, install, wf.Env["PROMOTE_VERSION"], module[1])
	}

	gate := stepByID(t, steps, "gate")
	if strings.Contains(gate.Run, "${{") {
		t.Errorf("the gate step's script contains ${{ }}: values must reach it through env, not be pasted into it")
	}
	words := gateCommand(t, gate.Run)

	var help, errOut bytes.Buffer
	if code := cli.Main(context.Background(), []string{"gate", "--help"}, strings.NewReader(""), &help, &errOut); code != 0 {
		t.Fatalf("promote gate --help = exit %d: %s", code, errOut.String())
	}
	flags := map[string]bool{}
	for _, w := range words[2:] {
		if strings.HasPrefix(w, "--") {
			name, _, _ := strings.Cut(w, "=")
			flags[name] = true
			if !regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(name) + `\b`).MatchString(help.String()) {
				t.Errorf("%s passes %s, which promote gate --help does not list", workflowFile, name)
			}
		}
	}
	for _, want := range []string{"--policy", "--candidate", "--baseline", "--output"} {
		if !flags[want] {
			t.Errorf("%s: promote gate without %s", workflowFile, want)
		}
	}
	if i := indexOf(words, "--output"); i < 0 || i+1 >= len(words) || words[i+1] != "github" {
		t.Errorf("%s: promote gate %q, want --output github (annotations)", workflowFile, words[2:])
	}
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// promoteOnPath builds promote once for the package's tests and returns
// the directory that holds it.
func promoteOnPath(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "promote-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "promote"), "../cmd/promote").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/promote: %v", buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestWorkflowGateStep runs the gate step's script as GitHub Actions runs
// it (bash -e -o pipefail), with the real promote, in a repository laid out
// as the workflow expects, filled with the repository's examples: the job
// passes when the gate allows and fails when it blocks or when the policy is
// broken, and says which in the step's output.
func TestWorkflowGateStep(t *testing.T) {
	_, steps := readWorkflow(t)
	gate := stepByID(t, steps, "gate")
	for _, name := range []string{"APPROVED_BY", "REQUESTED_BY"} {
		if !strings.Contains(gate.Env[name], "${{") {
			t.Errorf("gate step env %s = %q, want it set from the workflow's context", name, gate.Env[name])
		}
	}
	bin := promoteOnPath(t)

	examples := filepath.Join(root, "examples")
	layout := map[string]string{ // the workflow's paths, from the examples
		"deploy/policy.yaml":         "policy.yaml",
		"model/metrics.json":         "candidate.json",
		"deploy/baselines/prod.json": "baseline.json",
		"model/model.bin":            "model.bin",
		"model/model.bin.sig":        "model.bin.sig",
		"deploy/cosign.pub":          "cosign.pub",
	}
	words := gateCommand(t, gate.Run)
	for i, w := range words {
		if strings.HasPrefix(w, "--") && i+1 < len(words) && regexp.MustCompile(`^[\w./-]+\.(yaml|json|bin|sig|pub)$`).MatchString(words[i+1]) && w != "--junit-file" {
			if _, ok := layout[words[i+1]]; !ok {
				t.Fatalf("%s %s: not in this test's repository layout %v; add it", w, words[i+1], layout)
			}
		}
	}

	tests := []struct {
		name        string
		approvedBy  string
		requestedBy string
		policy      string // replaces deploy/policy.yaml when set
		wantExit    int
		wantOut     string
	}{
		{"allowed", "alice", "bob", "", 0, "::notice title=promote gate::ALLOWED: 5 passed, 0 failed"},
		{"no approvals", "", "bob", "", 1, "::error title=promote gate::BLOCKED: 4 passed, 1 failed"},
		{"self-approval", "bob", "bob", "", 1, "bob requested this promotion and may not approve it"},
		{"broken policy", "alice", "bob", "gate:\n  metrics:\n    accuracy_delta: \"about right\"\n", 2, "::error title=promote gate::bad input or usage (exit 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := t.TempDir()
			for dst, src := range layout {
				data, err := os.ReadFile(filepath.Join(examples, src))
				if err != nil {
					t.Fatal(err)
				}
				if dst == "deploy/policy.yaml" && tt.policy != "" {
					data = []byte(tt.policy)
				}
				if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(dst)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(repo, dst), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			runner := t.TempDir()
			script := filepath.Join(runner, "step.sh")
			if err := os.WriteFile(script, []byte(gate.Run), 0o644); err != nil {
				t.Fatal(err)
			}
			output := filepath.Join(runner, "output")
			cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
			cmd.Dir = repo
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+filepath.Join(runner, "summary"),
				"APPROVED_BY="+tt.approvedBy, "REQUESTED_BY="+tt.requestedBy)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantExit || !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("gate step = exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and output containing %q", code, stdout.String(), stderr.String(), tt.wantExit, tt.wantOut)
			}
			out, _ := os.ReadFile(output)
			if want := "exit-code=" + string(rune('0'+tt.wantExit)) + "\n"; string(out) != want {
				t.Errorf("step outputs = %q, want %q", out, want)
			}
			// The JUnit report is there for the upload step, a load error included.
			report, err := os.ReadFile(filepath.Join(repo, "promote-gate.xml"))
			if err != nil {
				t.Fatalf("the JUnit report: %v", err)
			}
			wantCase := `<testcase name="approvals"`
			if tt.wantExit == 2 {
				wantCase = `<error message="bad input"`
			}
			if !strings.Contains(string(report), wantCase) {
				t.Errorf("promote-gate.xml = %s\nwant it to contain %s", report, wantCase)
			}
		})
	}
}
