package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// completion is what `promote __complete ARGS` answered: the candidates
// (cobra's suggestions of required flags left out), their descriptions
// and the directive.
type completion struct {
	values, descs []string
	directive     cobra.ShellCompDirective
	stderr        string
}

// complete runs `promote __complete args...` as a shell does at a TAB and
// reads cobra's protocol strictly: candidates, one a line, then
// ":DIRECTIVE", and nothing else on standard output.
func complete(t *testing.T, args ...string) completion {
	t.Helper()
	c, err := completeIn(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// completeIn is complete that returns its error, for a goroutine.
func completeIn(ctx context.Context, args ...string) (completion, error) {
	var out, errOut bytes.Buffer
	code := Main(ctx, append([]string{"__complete"}, args...), strings.NewReader(""), &out, &errOut)
	if code != ExitOK {
		return completion{}, fmt.Errorf("promote __complete %s: exit %d, want 0; stderr:\n%s", strings.Join(args, " "), code, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		return completion{}, fmt.Errorf("promote __complete %s: last line %q, want :DIRECTIVE; stdout:\n%s", strings.Join(args, " "), last, out.String())
	}
	c := completion{directive: cobra.ShellCompDirective(d), stderr: errOut.String()}
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "-") {
			continue // a required flag cobra suggests
		}
		v, desc, _ := strings.Cut(l, "\t")
		c.values = append(c.values, v)
		c.descs = append(c.descs, desc)
	}
	return c, nil
}

const (
	ordered = cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	noFiles = cobra.ShellCompDirectiveNoFileComp
)

// TestCompletionFromServer runs promote serve on the example pipeline,
// with a webhook receiver that refuses every event, and checks what TAB
// offers for each argument and flag that names something on the server.
func TestCompletionFromServer(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	root := createToken(t, data, pipelineFile, "root", "admin")
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not today", http.StatusBadRequest) // failed for good at once
	}))
	t.Cleanup(rcv.Close)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("webhook-secret-0123456789"), 0o600)
	hooks := filepath.Join(dir, "webhooks.yaml")
	os.WriteFile(hooks, []byte(fmt.Sprintf("webhooks:\n  - name: ops\n    url: %s\n    secretFile: secret\n", rcv.URL)), 0o644)
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples, "--webhooks", hooks)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk", "--description", "Loan default classifier")
	must(0, ci, "models", "create", "churn")
	for _, v := range []string{"1", "2"} {
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", filepath.Join(examples, "model.bin"),
			"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	}
	var ids [3]string
	for i, env := range []string{"dev", "staging", "prod"} {
		var p struct{ ID string }
		json.Unmarshal([]byte(must(0, ci, "request", "credit-risk", "1", "--to", env, "-o", "json")), &p)
		ids[i] = p.ID
	}
	must(0, root, "holds", "set", "credit-risk", "2", "--env", "dev", "--reason", "flaky\ttests\non CI\x1b[2J")
	var tokens []struct{ ID, Name string }
	json.Unmarshal([]byte(must(0, root, "token", "list", "-o", "json")), &tokens)
	tokenIDs := map[string]string{}
	for _, tok := range tokens {
		tokenIDs[tok.Name] = tok.ID
	}
	// Every event's delivery fails for good, newest first; more may come
	// in while the test reads.
	failedDeliveries := func() []string {
		var ds []struct{ ID string }
		json.Unmarshal([]byte(must(0, root, "webhooks", "deliveries", "--status", "failed", "-o", "json")), &ds)
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		return ids
	}
	waitFor(t, 10*time.Second, "a failed webhook delivery", func() (bool, string) {
		return len(failedDeliveries()) > 0, ""
	})

	t.Setenv("PROMOTE_SERVER", server)
	t.Setenv("PROMOTE_TOKEN", root)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", ""}, []string{"churn", "credit-risk"}},
		{[]string{"status", "cr"}, []string{"credit-risk"}},
		{[]string{"status", "credit-risk", ""}, nil},
		{[]string{"models", "show", ""}, []string{"churn", "credit-risk"}},
		{[]string{"history", ""}, []string{"churn", "credit-risk"}},
		{[]string{"history", "credit-risk", "--env", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"versions", "list", ""}, []string{"churn", "credit-risk"}},
		{[]string{"versions", "show", "credit-risk", ""}, []string{"2", "1"}},
		{[]string{"versions", "show", "churn", ""}, nil},
		{[]string{"versions", "reject", "credit-risk", ""}, []string{"2", "1"}},
		{[]string{"versions", "register", "credit-risk", ""}, nil},
		{[]string{"request", ""}, []string{"churn", "credit-risk"}},
		{[]string{"request", "credit-risk", ""}, []string{"2", "1"}},
		{[]string{"request", "credit-risk", "2", "--env", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"request", "credit-risk", "2", "--env", "st"}, []string{"staging"}},
		{[]string{"request", "credit-risk", "2", "--to", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"request", "credit-risk", "2", "--to", "st"}, []string{"staging"}},
		{[]string{"approve", ""}, []string{ids[2]}},
		{[]string{"reject", ""}, []string{ids[2]}},
		{[]string{"cancel", ""}, []string{ids[2]}},
		{[]string{"approve", ids[2], ""}, nil},
		// Active first, then the newest.
		{[]string{"promotions", "show", ""}, []string{ids[2], ids[1], ids[0]}},
		{[]string{"promotions", "list", "--model", ""}, []string{"churn", "credit-risk"}},
		{[]string{"promotions", "list", "--env", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"promotions", "list", "--state", "a"}, []string{"awaiting_approval", "approved"}},
		{[]string{"holds", "clear", ""}, []string{"1"}},
		{[]string{"holds", "set", ""}, []string{"churn", "credit-risk"}},
		{[]string{"holds", "set", "credit-risk", "2", "--env", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"holds", "list", "--model", ""}, []string{"churn", "credit-risk"}},
		{[]string{"rollback", ""}, []string{"churn", "credit-risk"}},
		{[]string{"rollback", "credit-risk", "--env", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"rollback", "credit-risk", "--env", "prod", "--to", ""}, []string{"2", "1"}},
		{[]string{"rollout", "list", "--env", ""}, []string{"dev", "staging", "prod"}},
		{[]string{"token", "revoke", ""}, []string{tokenIDs["root"], tokenIDs["ci"]}},
		{[]string{"audit", "list", "--model", ""}, []string{"churn", "credit-risk"}},
		{[]string{"audit", "list", "--model", "credit-risk", "--version", ""}, []string{"2", "1"}},
		{[]string{"audit", "list", "--version", ""}, nil}, // of which model?
		{[]string{"audit", "list", "--env", "p"}, []string{"prod"}},
		{[]string{"audit", "list", "--promotion", ""}, []string{ids[2], ids[1], ids[0]}},
		{[]string{"audit", "list", "--token-id", ""}, []string{tokenIDs["root"], tokenIDs["ci"]}},
		{[]string{"audit", "list", "--action", "hold."}, []string{"hold.set", "hold.cleared"}},
		{[]string{"webhooks", "deliveries", "--endpoint", ""}, []string{"ops"}},
		{[]string{"webhooks", "deliveries", "--status", ""}, []string{"delivered", "retrying", "failed"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := complete(t, tt.args...)
			if diff := cmp.Diff(tt.want, got.values); diff != "" {
				t.Errorf("promote __complete %s: candidates (-want +got):\n%s\nstderr: %s", strings.Join(tt.args, " "), diff, got.stderr)
			}
			if got.directive&noFiles == 0 {
				t.Errorf("promote __complete %s: directive %d, want no file completion", strings.Join(tt.args, " "), got.directive)
			}
		})
	}

	t.Run("webhooks resend", func(t *testing.T) {
		waitFor(t, 10*time.Second, "the failed deliveries", func() (bool, string) {
			want := failedDeliveries()
			got := complete(t, "webhooks", "resend", "")
			return cmp.Equal(want, got.values), cmp.Diff(want, got.values)
		})
	})

	// What bash offers at TAB, through the script promote completion bash
	// writes, with this test binary as promote.
	t.Run("bash", func(t *testing.T) {
		got := bashComplete(t, "promote request credit-risk 1 --to ")
		if diff := cmp.Diff([]string{"dev", "staging", "prod"}, got); diff != "" {
			t.Errorf("bash: promote request credit-risk 1 --to <TAB> (-want +got):\n%s", diff)
		}
	})

	// Descriptions say what each is, on one line.
	descs := map[string]struct {
		args []string
		want []string
	}{
		"a promotion":  {[]string{"approve", ""}, []string{"credit-risk 1 → prod awaiting approval"}},
		"a hold":       {[]string{"holds", "clear", ""}, []string{"credit-risk 2 in dev: flaky tests on CI\\x1b[2J"}},
		"a model":      {[]string{"status", "cr"}, []string{"Loan default classifier"}},
		"a token":      {[]string{"token", "revoke", "tok"}, []string{"root (admin)", "ci (submitter)"}},
		"environments": {[]string{"request", "credit-risk", "2", "--to", ""}, []string{"first, direct", "after dev, direct", "after staging, canary"}},
	}
	for name, tt := range descs {
		t.Run("describes "+name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, complete(t, tt.args...).descs); diff != "" {
				t.Errorf("promote __complete %s: descriptions (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}

	// --server and --token on the command line win over the environment,
	// as for the command itself.
	t.Run("flags", func(t *testing.T) {
		t.Setenv("PROMOTE_SERVER", "http://"+freeAddr(t))
		t.Setenv("PROMOTE_TOKEN", "prm_wrong")
		got := complete(t, "versions", "show", "--server", server, "--token", ci, "credit-risk", "")
		if diff := cmp.Diff([]string{"2", "1"}, got.values); diff != "" {
			t.Errorf("completion with --server and --token: (-want +got):\n%s\nstderr: %s", diff, got.stderr)
		}
	})
	// A token the server refuses, or one that may not list tokens: nothing.
	for name, tok := range map[string]string{"a wrong token": "prm_wrong", "a submitter's token for admin's list": ci} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PROMOTE_TOKEN", tok)
			got := complete(t, "token", "revoke", "")
			if len(got.values) != 0 || got.directive != noFiles {
				t.Errorf("completion with %s = %q, directive %d; want none, %d", name, got.values, got.directive, noFiles)
			}
		})
	}
}

// Without a server to answer, TAB offers nothing, at once or after
// completionTimeout at most, and writes nothing but the directive.
func TestCompletionWithoutServer(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang); slow.Close() })
	for _, tt := range []struct {
		name, server, token string
	}{
		{"server down", "http://" + freeAddr(t), "prm_t"},
		{"server hanging", slow.URL, "prm_t"},
		{"not a URL", "127.0.0.1:8080", "prm_t"},
		{"no token", slow.URL, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PROMOTE_SERVER", tt.server)
			t.Setenv("PROMOTE_TOKEN", tt.token)
			type result struct {
				c   completion
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				c, err := completeIn(t.Context(), "request", "credit-risk", "")
				done <- result{c, err}
			}()
			select {
			case r := <-done:
				got := r.c
				if r.err != nil {
					t.Fatal(r.err)
				}
				if len(got.values) != 0 || got.directive != noFiles {
					t.Errorf("completion with %s = %q, directive %d; want none, %d", tt.name, got.values, got.directive, noFiles)
				}
				if d := time.Since(start); d > completionTimeout+3*time.Second {
					t.Errorf("completion with %s took %s, want at most about %s", tt.name, d, completionTimeout)
				}
			case <-time.After(completionTimeout + 10*time.Second):
				t.Fatalf("completion with %s still waits after %s", tt.name, time.Since(start))
			}
		})
	}
}

// promote completion SHELL writes a script for each shell that asks
// promote __complete; bash's parses.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			code, out, errOut := run(t, "", "completion", shell)
			if code != ExitOK || !strings.Contains(out, "__complete") {
				t.Fatalf("promote completion %s = exit %d, %d bytes; want 0 and a script calling __complete; stderr: %s", shell, code, len(out), errOut)
			}
			if shell == "powershell" {
				return
			}
			// bash, zsh and fish all check a script's syntax with -n.
			bin, err := exec.LookPath(shell)
			if err != nil {
				if shell == "bash" {
					t.Fatalf("no bash to check the script with: %v", err)
				}
				return // not installed here
			}
			script := filepath.Join(t.TempDir(), "promote."+shell)
			os.WriteFile(script, []byte(out), 0o644)
			if b, err := exec.Command(bin, "-n", script).CombinedOutput(); err != nil {
				t.Errorf("%s -n on promote completion %s: %v\n%s", shell, shell, err, b)
			}
		})
	}
}

// TestCompletionRollouts checks what TAB offers for a rollout in the
// middle of a canary: every command that takes one offers the active
// rollouts, and pause and resume only those they apply to.
func TestCompletionRollouts(t *testing.T) {
	c := newCanarySetup(t, slowCanaryPolicy)
	addr := freeAddr(t)
	c.args = append(c.args, "--addr", addr) // startStoppable keeps it
	_, _, cli, id2, _ := midCanary(t, c)
	var all []struct {
		PromotionID string `json:"promotion_id"`
	}
	_, out, _ := (*cli)(c.lead, "rollout", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 2 || all[0].PromotionID != id2 {
		t.Fatalf("rollout list = %v, %s; want two rollouts, %s first", err, out, id2)
	}
	id1 := all[1].PromotionID
	t.Setenv("PROMOTE_SERVER", "http://"+addr)
	t.Setenv("PROMOTE_TOKEN", c.lead)
	check := func(want map[string][]string) {
		t.Helper()
		for verb, ids := range want {
			args := []string{"rollout", verb, ""}
			got := complete(t, args...)
			if diff := cmp.Diff(ids, got.values); diff != "" {
				t.Errorf("promote __complete %s: (-want +got):\n%s\nstderr: %s", strings.Join(args, " "), diff, got.stderr)
			}
		}
	}
	check(map[string][]string{
		"show": {id2, id1}, "watch": {id2, id1}, "pause": {id2}, "resume": nil, "abort": {id2}, "promote": {id2},
	})
	if got := complete(t, "rollout", "pause", ""); len(got.descs) != 1 || got.descs[0] != "credit-risk 2 in prod running at 50%" {
		t.Errorf("promote __complete rollout pause: descriptions %q, want the model, version, environment, state and weight", got.descs)
	}
	if code, out, errOut := (*cli)(c.lead, "rollout", "pause", id2, "--reason", "a look at the dashboards"); code != 0 {
		t.Fatalf("rollout pause: exit %d\n%s%s", code, out, errOut)
	}
	check(map[string][]string{"pause": nil, "resume": {id2}, "abort": {id2}})
}

// bashComplete has bash complete line (which ends where TAB is pressed)
// with the script of promote completion bash, promote being this test
// binary, and returns what bash would offer. A two-line stand-in for
// bash-completion's _get_comp_words_by_ref, which the script uses when it
// is installed, splits the line as bash does here.
func bashComplete(t *testing.T, line string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "promote")); err != nil {
		t.Fatal(err)
	}
	code, script, errOut := run(t, "", "completion", "bash")
	if code != ExitOK {
		t.Fatalf("promote completion bash: exit %d: %s", code, errOut)
	}
	file := filepath.Join(bin, "promote.bash")
	os.WriteFile(file, []byte(script), 0o644)
	driver := `_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
source "$1"
COMP_LINE=$2; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
__start_promote
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", driver, "bash", file, line)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), childEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash completing %q: %v\n%s", line, err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			got = append(got, l)
		}
	}
	return got
}
