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
	"syscall"
	"testing"

	"github.com/promote-ml/promote/internal/httpapi"
)

// threeModels starts a server whose log holds the creation of three
// models, and returns its client, the must helper and a submitter token.
func threeModels(t *testing.T) (cliFunc, mustFunc, string) {
	t.Helper()
	_, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile)
	cli, must := clientOf(t, server)
	for _, m := range []string{"credit-risk", "fraud", "churn"} {
		must(0, ci, "models", "create", m)
	}
	return cli, must, ci
}

// promote audit show SEQ shows the event SEQ, the first and the last
// included, and refuses one the log does not have.
func TestAuditShowEveryEvent(t *testing.T) {
	cli, must, ci := threeModels(t)
	var events []struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal([]byte(must(0, ci, "audit", "list", "-o", "json")), &events); err != nil || len(events) < 3 {
		t.Fatalf("audit list = %+v (%v), want at least 3 events", events, err)
	}
	head := events[0].Seq
	for _, seq := range []int64{1, 2, head} {
		var shown struct {
			Seq int64 `json:"seq"`
		}
		out := must(0, ci, "audit", "show", fmt.Sprint(seq), "-o", "json")
		if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Seq != seq {
			t.Errorf("audit show %d -o json = %s (%v), want event %d", seq, out, err, seq)
		}
	}
	// --version reaches the server: no version of credit-risk has events.
	for _, c := range []struct {
		args []string
		want int
	}{{nil, 1}, {[]string{"--version", "1"}, 0}} {
		var got []json.RawMessage
		out := must(0, ci, append([]string{"audit", "list", "--model", "credit-risk", "-o", "json"}, c.args...)...)
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != c.want {
			t.Errorf("audit list --model credit-risk %v = %d events (%v), want %d", c.args, len(got), err, c.want)
		}
	}
	if code, _, errOut := cli(ci, "audit", "show", fmt.Sprint(head+1)); code != ExitUsage || !strings.Contains(errOut, fmt.Sprintf("audit event %d not found", head+1)) {
		t.Errorf("audit show %d: exit %d, %q; want %d, not found", head+1, code, errOut, ExitUsage)
	}
}

// An export that breaks off leaves no file behind, and keeps the one it
// would have replaced: the events that did arrive form a valid chain,
// which verifies as whole (a cut end is what the chain cannot show), so a
// partial file would pass for the log.
func TestAuditExportCutOffWritesNoFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", httpapi.EventsTrailer)
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, "{\"seq\":1}\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	dir := t.TempDir()
	fresh, kept := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "yesterday.jsonl")
	if err := os.WriteFile(kept, []byte("yesterday's export\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fresh, kept} {
		code, _, stderr := run(t, "", "audit", "export", "-f", path, "--server", srv.URL, "--token", "prm_x")
		if code == 0 || !strings.Contains(stderr, "broke off after 1 events") {
			t.Errorf("audit export -f %s of a cut stream = %d, %q; want an error", filepath.Base(path), code, stderr)
		}
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("audit export -f audit.jsonl cut off left the file (stat: %v), want none", err)
	}
	if b, err := os.ReadFile(kept); err != nil || string(b) != "yesterday's export\n" {
		t.Errorf("audit export -f yesterday.jsonl cut off: the file holds %q (%v), want the old export unchanged", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files after the failed exports, want 1 (no temporary file left)", len(entries))
	}
}

// promote audit verify --head checks the log against a head kept from an
// earlier verification, on the server's log and on an export: the head it
// printed holds, another hash for that event is a rewritten log, an event
// past the end a truncated one, and a malformed head is a usage error.
func TestAuditVerifyKeptHead(t *testing.T) {
	cli, must, ci := threeModels(t)
	var res struct {
		OK       bool   `json:"ok"`
		HeadSeq  int64  `json:"head_seq"`
		HeadHash string `json:"head_hash"`
	}
	if err := json.Unmarshal([]byte(must(0, ci, "audit", "verify", "-o", "json")), &res); err != nil || !res.OK || res.HeadSeq < 3 {
		t.Fatalf("audit verify -o json = %+v, %v", res, err)
	}
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	must(0, ci, "audit", "export", "-f", export)
	other := strings.Repeat("0", 63) + "1"
	for _, mode := range [][]string{nil, {"--export", export}} {
		verify := func(head string) (int, string, string) {
			return cli(ci, append([]string{"audit", "verify", "--head", head}, mode...)...)
		}
		if code, out, errOut := verify(fmt.Sprintf("%d:%s", res.HeadSeq, res.HeadHash)); code != 0 || !strings.HasPrefix(out, "OK: ") {
			t.Errorf("audit verify %v --head (the head it printed): exit %d, %q %q", mode, code, out, errOut)
		}
		if code, out, _ := verify(fmt.Sprintf("%d:%s", res.HeadSeq, other)); code != ExitBlocked || !strings.Contains(out, "rewritten") || !strings.Contains(out, "the head you kept") {
			t.Errorf("audit verify %v --head (another hash): exit %d, %q; want %d, rewritten", mode, code, out, ExitBlocked)
		}
		if code, out, _ := verify(fmt.Sprintf("%d:%s", res.HeadSeq+5, res.HeadHash)); code != ExitBlocked || !strings.Contains(out, "truncated") {
			t.Errorf("audit verify %v --head (past the end): exit %d, %q; want %d, truncated", mode, code, out, ExitBlocked)
		}
		if code, _, errOut := verify("head"); code != ExitUsage || !strings.Contains(errOut, "--head") {
			t.Errorf("audit verify %v --head head: exit %d, %q; want %d naming --head", mode, code, errOut, ExitUsage)
		}
	}
}

// audit export -f creates its file as a shell's redirection would, with
// the permissions the umask leaves (an audit log may be for few eyes), and
// keeps those of a file it replaces.
func TestAuditExportFilePermissions(t *testing.T) {
	_, must, ci := threeModels(t)
	dir := t.TempDir()
	fresh, kept := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "kept.jsonl")
	if err := os.WriteFile(kept, []byte("yesterday's export\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o640); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o077)
	must(0, ci, "audit", "export", "-f", fresh)
	syscall.Umask(0o022)
	must(0, ci, "audit", "export", "-f", kept)
	syscall.Umask(old)
	for path, want := range map[string]os.FileMode{fresh: 0o600, kept: 0o640} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("audit export -f %s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
}
