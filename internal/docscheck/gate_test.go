package docscheck

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/cli"
)

// shownCommand is a command a document shows in a console block, with the
// output it shows under it.
type shownCommand struct {
	line int      // the line of the command's "$ "
	args []string // the words after "promote"
	want []string // the output shown, "..." standing for any lines
	code int      // the exit code an "echo $?" after it shows, or -1
}

// consoleCommands returns the promote gate commands of a document's console
// blocks. A command may continue over lines ending in a backslash; its
// output runs to the next "$ " line or the end of the block, and an
// "echo $?" after it shows its exit code.
func consoleCommands(text string) []shownCommand {
	var out []shownCommand
	cur, echoed := -1, -1 // the command whose output or exit code is being read
	inConsole, continued := false, false
	for i, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inConsole = !inConsole && line == "```console"
			cur, echoed, continued = -1, -1, false
		case !inConsole:
		case continued:
			out[cur].args = append(out[cur].args, strings.Fields(strings.TrimSuffix(line, `\`))...)
			continued = strings.HasSuffix(line, `\`)
		case line == "$ echo $?":
			echoed, cur = cur, -1
		case strings.HasPrefix(line, "$ "):
			cur, echoed = -1, -1
			if args, ok := cutCommand(strings.Fields(strings.TrimSuffix(line[2:], `\`))); ok {
				out = append(out, shownCommand{line: i + 1, args: args, code: -1})
				cur, continued = len(out)-1, strings.HasSuffix(line, `\`)
			}
		case echoed >= 0:
			if n, err := strconv.Atoi(line); err == nil {
				out[echoed].code = n
			}
			echoed = -1
		case cur >= 0:
			out[cur].want = append(out[cur].want, line)
		}
	}
	return out
}

// cutCommand returns the words after "promote" (or "go run
// ./cmd/promote") of a gate or policy command (promote policy check,
// promote policy test), with "gate" or "policy" first.
func cutCommand(words []string) ([]string, bool) {
	if len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/promote" {
		words = words[3:]
	} else if len(words) > 0 && words[0] == "promote" {
		words = words[1:]
	} else {
		return nil, false
	}
	if len(words) == 0 || (words[0] != "gate" && words[0] != "policy") {
		return nil, false
	}
	return words, true
}

// heredoc is a file a document writes with cat > NAME <<'EOF'.
var heredoc = regexp.MustCompile(`(?m)^cat > (\S+) <<'EOF'\n((?:.*\n)*?)EOF$`)

// matchShown compares output with what a document shows, where a "..."
// line stands for any number of lines. Trailing spaces do not count.
func matchShown(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matchShown(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && strings.TrimRight(want[0], " ") == strings.TrimRight(got[0], " ") && matchShown(want[1:], got[1:])
}

// copyFiles copies the regular files of dir into dst.
func copyFiles(t *testing.T, dir, dst string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGateExamples runs every promote gate and promote policy command
// that the README, the
// quickstart and the policy reference show in a console block, and compares
// its output and exit code with what the page shows. The seed's minimal
// gate, Exercise 1 and the mini challenge are among them. Each page's
// commands run in a directory holding the repository's examples (also as
// examples/), the policies the policy tests run, the files the page writes
// with cat <<'EOF', and the evidence under testdata/gate/PAGE.
func TestGateExamples(t *testing.T) {
	rootAbs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	fixtures, err := filepath.Abs(filepath.Join("testdata", "gate"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, page := range []string{"README.md", "docs/quickstart.md", "docs/policy.md"} {
		t.Run(page, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(rootAbs, page))
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			dir := t.TempDir()
			copyFiles(t, filepath.Join(rootAbs, "examples"), dir)
			if err := os.Symlink(filepath.Join(rootAbs, "examples"), filepath.Join(dir, "examples")); err != nil {
				t.Fatal(err)
			}
			copyFiles(t, filepath.Join(rootAbs, "internal", "policy", "testdata", "policies"), dir)
			for _, m := range heredoc.FindAllStringSubmatch(text, -1) {
				if err := os.WriteFile(filepath.Join(dir, m[1]), []byte(m[2]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if own := filepath.Join(fixtures, filepath.Base(page)); dirExists(own) {
				copyFiles(t, own, dir)
			}
			t.Chdir(dir)
			for _, c := range consoleCommands(text) {
				checked++
				var out, errOut bytes.Buffer
				code := cli.Main(context.Background(), c.args, strings.NewReader(""), &out, &errOut)
				where := page + ":" + strconv.Itoa(c.line)
				if code == cli.ExitUsage {
					t.Errorf("%s: promote %s = exit %d, a usage error: %s", where, strings.Join(c.args, " "), code, errOut.String())
					continue
				}
				if c.code >= 0 && code != c.code {
					t.Errorf("%s: promote %s = exit %d, the page shows %d", where, strings.Join(c.args, " "), code, c.code)
				}
				if len(c.want) == 0 {
					continue
				}
				got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				if !matchShown(c.want, got) {
					t.Errorf("%s: promote %s prints other than the page shows (-page +printed):\n%s",
						where, strings.Join(c.args, " "), cmp.Diff(c.want, got))
				}
			}
		})
	}
	if checked < 7 {
		t.Errorf("checked %d promote gate commands, want 7 at least: is the console block parser broken?", checked)
	}
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// TestPolicyWorkedExamples checks that each policy of the policy
// reference's worked examples (the seed's minimal gate, Exercise 1 and the
// mini challenge) is, byte for byte, one the policy tests run from
// internal/policy/testdata/policies, so that the page shows what is tested,
// and that the mini challenge keeps the seed's limit of 40 lines.
func TestPolicyWorkedExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Worked examples\n")
	if !ok {
		t.Fatal("docs/policy.md has no section \"## Worked examples\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	dir := filepath.Join(root, "internal", "policy", "testdata", "policies")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		tested[string(b)] = f.Name()
	}
	var shown []string
	for _, block := range strings.Split(section, "```yaml\n")[1:] {
		policy, _, _ := strings.Cut(block, "```")
		name, ok := tested[policy]
		if !ok {
			first, _, _ := strings.Cut(policy, "\n")
			t.Errorf("docs/policy.md: the worked example starting %q is none of the policies in %s", first, dir)
			continue
		}
		shown = append(shown, name)
		if lines := strings.Count(policy, "\n"); strings.HasPrefix(name, "mini-challenge") && lines >= 40 {
			t.Errorf("%s has %d lines; the seed's mini challenge asks for under 40", name, lines)
		}
	}
	want := []string{"seed-minimal.yaml", "exercise1.yaml", "mini-challenge.yaml", "mini-challenge-cel.yaml"}
	if diff := cmp.Diff(want, shown); diff != "" {
		t.Errorf("docs/policy.md's worked examples show other policies (-want +got):\n%s", diff)
	}
}
