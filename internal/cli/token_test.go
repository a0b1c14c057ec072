package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// The first admin token is made on the store alone, as docs/concepts.md
// says: no pipeline file is needed (there is none yet where an operator
// starts), and none is read.
func TestTokenCreateNeedsNoPipeline(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PROMOTE_PIPELINE", "")
	code, out, errOut := run(t, dir, "token", "create", "--name", "ada", "--role", "admin", "--quiet", "--data", filepath.Join(dir, "data"))
	if code != ExitOK || !strings.HasPrefix(out, "prm_") || errOut != "" {
		t.Fatalf("token create without a pipeline = exit %d, stdout %q, stderr %q; want 0 and a secret", code, out, errOut)
	}
	// A pipeline file given, even a broken one, changes nothing.
	code, out, errOut = run(t, dir, "token", "create", "--name", "lena", "--role", "approver", "--quiet", "--data", filepath.Join(dir, "data"),
		"--pipeline", filepath.Join(dir, "nope.yaml"))
	if code != ExitOK || !strings.HasPrefix(out, "prm_") {
		t.Errorf("token create with a missing pipeline file = exit %d, stdout %q, stderr %q; want 0", code, out, errOut)
	}
	if code, _, errOut := run(t, dir, "token", "create", "--name", "x", "--role", "viewr", "--data", filepath.Join(dir, "data")); code != ExitUsage || !strings.Contains(errOut, `role "viewr"`) {
		t.Errorf("token create with a wrong role = exit %d, %q; want %d naming it", code, errOut, ExitUsage)
	}
}

// The command serve's help gives for the first token works as written.
func TestServeHelpFirstTokenCommandRuns(t *testing.T) {
	long := newServeCmd(&streams{}).Long
	m := regexp.MustCompile(`'promote (token create[^']*)'`).FindStringSubmatch(long)
	if m == nil {
		t.Fatalf("serve's help names no 'promote token create …' command:\n%s", long)
	}
	dir := t.TempDir()
	args := append(strings.Fields(m[1]), "--quiet", "--data", filepath.Join(dir, "data"))
	if code, out, errOut := run(t, dir, args...); code != ExitOK || !strings.HasPrefix(out, "prm_") {
		t.Errorf("promote %s (from serve's help) = exit %d, stdout %q, stderr %q; want 0 and a secret", m[1], code, out, errOut)
	}
}

// A data directory or database file this user cannot write is bad input
// to the commands that open the store themselves: exit 2, naming the path
// and the reason, and nothing created. Root passes permission checks, so
// as root the test runs as another user.
func TestLocalStoreNotWritable(t *testing.T) {
	if !testtool.Unprivileged(t) {
		return
	}
	dir := t.TempDir()
	t.Setenv("PROMOTE_PIPELINE", "")
	if code, _, errOut := run(t, dir, "init", "repo"); code != ExitOK {
		t.Fatalf("init = exit %d: %s", code, errOut)
	}
	closed := filepath.Join(dir, "closed") // a directory this user may not write
	if err := os.Mkdir(closed, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(closed, 0o700) })
	readOnly := filepath.Join(dir, "read-only") // a store whose file this user may not write
	if code, _, errOut := run(t, dir, "token", "create", "--name", "ada", "--role", "admin", "--data", readOnly); code != ExitOK {
		t.Fatalf("token create = exit %d: %s", code, errOut)
	}
	db := filepath.Join(readOnly, sqlite.FileName)
	if err := os.Chmod(db, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  []string
		fault string
	}{
		{"token create in a closed directory", []string{"token", "create", "--name", "lena", "--role", "admin", "--data", closed}, closed},
		{"token create under a closed directory", []string{"token", "create", "--name", "lena", "--role", "admin", "--data", filepath.Join(closed, "data")}, closed},

		{"token create with a read-only database", []string{"token", "create", "--name", "lena", "--role", "admin", "--data", readOnly}, db},
		{"serve with a read-only database", []string{"serve", "--data", readOnly, "--pipeline", filepath.Join(dir, "repo", "promote.yaml"), "--addr", "127.0.0.1:0"}, db},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			code, _, errOut := run(t, dir, c.args...)
			if code != ExitUsage || !strings.Contains(errOut, c.fault+" is not writable by this user") || !strings.Contains(errOut, "permission denied") {
				t.Errorf("%s = exit %d, %q; want %d naming %s as not writable", strings.Join(c.args, " "), code, errOut, ExitUsage, c.fault)
			}
			if entries, err := os.ReadDir(closed); err != nil || len(entries) != 0 {
				t.Errorf("%s after %s holds %v (%v); want nothing", closed, c.name, entries, err)
			}
			if after, err := os.ReadFile(db); err != nil || string(after) != string(before) {
				t.Errorf("%s changed (%v)", db, err)
			}
		})
	}
}

// A data directory whose path runs through a file is bad input, for root
// too.
func TestLocalStoreUnderAFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "promote-data")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROMOTE_PIPELINE", "")
	code, _, errOut := run(t, dir, "token", "create", "--name", "ada", "--role", "admin", "--data", filepath.Join(file, "data"))
	if code != ExitUsage || !strings.Contains(errOut, file+" is a file, not a directory") {
		t.Errorf("token create under a file = exit %d, %q; want %d naming %s", code, errOut, ExitUsage, file)
	}
}

// Tokens made under a name reserved since (a system actor's, in any case)
// keep working: serve names each one not revoked, by ID and name, in one
// warning at start that says to revoke them, and token list marks them.
func TestServeWarnsOfReservedTokenNames(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	admin := createToken(t, data, pipelineFile, "ada", "admin")
	// Written straight into the store, as a server from before the names
	// were reserved did.
	db, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	err = db.Update(t.Context(), func(tx promote.Tx) error {
		for _, tok := range []promote.Token{
			{ID: "tok_00000000000000a1", Name: "gitops", Role: promote.RoleAdmin, Hash: registry.HashToken("prm_a1"), CreatedBy: "ada", CreatedAt: at},
			{ID: "tok_00000000000000a2", Name: "Auto-Promote", Role: promote.RoleSubmitter, Hash: registry.HashToken("prm_a2"), CreatedBy: "ada", CreatedAt: at},
			{ID: "tok_00000000000000a3", Name: "rollout", Role: promote.RoleApprover, Hash: registry.HashToken("prm_a3"), CreatedBy: "ada", CreatedAt: at},
			{ID: "tok_00000000000000a4", Name: "gitops-bot", Role: promote.RoleViewer, Hash: registry.HashToken("prm_a4"), CreatedBy: "ada", CreatedAt: at},
		} {
			if err := tx.CreateToken(tok); err != nil {
				return err
			}
		}
		return tx.RevokeToken("tok_00000000000000a3", at.Add(time.Hour))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile)
	var warnings []string
	for _, line := range strings.Split(serveErr.String(), "\n") {
		if strings.Contains(line, "tok_00000000000000a") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("serve logged %d lines naming the tokens, want one:\n%s", len(warnings), serveErr.String())
	}
	w := warnings[0]
	for _, want := range []string{"WARN", "tok_00000000000000a1 (gitops)", "tok_00000000000000a2 (Auto-Promote)", "revoke"} {
		if !strings.Contains(w, want) {
			t.Errorf("serve's warning %q does not say %q", w, want)
		}
	}
	for _, not := range []string{"tok_00000000000000a3", "tok_00000000000000a4"} {
		if strings.Contains(w, not) {
			t.Errorf("serve's warning %q names %s: revoked, or not a reserved name", w, not)
		}
	}

	_, must := clientOf(t, server)
	out := must(0, admin, "token", "list")
	for _, line := range strings.Split(out, "\n") {
		marked := strings.Contains(line, "reserved name: revoke it")
		want := strings.Contains(line, "tok_00000000000000a1") || strings.Contains(line, "tok_00000000000000a2")
		if marked != want {
			t.Errorf("token list line %q: marked %v, want %v", line, marked, want)
		}
	}
}
