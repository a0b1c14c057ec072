package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/promote"
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

// promote audit export --after SEQ exports the events after SEQ, to the
// newest, and the export verifies offline from a head kept for SEQ: not
// without it, nor from another hash, and a negative --after is a usage
// error.
func TestAuditExportAfterKeptHead(t *testing.T) {
	cli, must, ci := threeModels(t)
	whole := filepath.Join(t.TempDir(), "audit.jsonl")
	must(0, ci, "audit", "export", "-f", whole)
	b, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 4 {
		t.Fatalf("the export holds %d events, want 4 or more", len(lines))
	}
	var kept struct {
		Seq  int64  `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &kept); err != nil || kept.Seq != 2 {
		t.Fatalf("line 2 of the export = %+v, %v", kept, err)
	}
	part := filepath.Join(t.TempDir(), "part.jsonl")
	must(0, ci, "audit", "export", "--after", "2", "-f", part)
	got, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(lines[2:], "\n") + "\n"; string(got) != want {
		t.Fatalf("audit export --after 2 = %q, want the whole export's lines from event 3: %q", got, want)
	}
	head := fmt.Sprintf("2:%s", kept.Hash)
	if code, out, errOut := cli(ci, "audit", "verify", "--export", part, "--head", head); code != 0 ||
		!strings.HasPrefix(out, fmt.Sprintf("OK: %d events, 3 to %d, continuing the head you kept for event 2", len(lines)-2, len(lines))) {
		t.Errorf("audit verify --export part --head %s: exit %d, %q %q; want OK from event 3", head, code, out, errOut)
	}
	if code, out, _ := cli(ci, "audit", "verify", "--export", part); code != ExitBlocked || !strings.Contains(out, "deleted") || !strings.Contains(out, "--head 2:HASH") {
		t.Errorf("audit verify --export part (no kept head): exit %d, %q; want %d, deleted, naming --head 2:HASH", code, out, ExitBlocked)
	}
	other := fmt.Sprintf("2:%s", strings.Repeat("0", 63)+"1")
	if code, out, _ := cli(ci, "audit", "verify", "--export", part, "--head", other); code != ExitBlocked || !strings.Contains(out, "rewritten") {
		t.Errorf("audit verify --export part --head (another hash): exit %d, %q; want %d, rewritten", code, out, ExitBlocked)
	}
	if code, _, errOut := cli(ci, "audit", "export", "--after", "-1"); code != ExitUsage || !strings.Contains(errOut, "--after") {
		t.Errorf("audit export --after -1: exit %d, %q; want %d naming --after", code, errOut, ExitUsage)
	}
}

// parseAuditTime reads --since and --until with audit.ParseTimeBound
// (tested there) and names the flag and the value when it cannot.
func TestParseAuditTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	if got, err := parseAuditTime("--since", "7d", now); err != nil || !got.Equal(time.Date(2026, 11, 19, 14, 4, 5, 0, time.UTC)) {
		t.Errorf("parseAuditTime(7d) = %v, %v; want a week before now, in UTC", got, err)
	}
	if got, err := parseAuditTime("--since", "", now); err != nil || !got.IsZero() {
		t.Errorf("parseAuditTime(\"\") = %v, %v; want no bound", got, err)
	}
	want := `--since "yesterday": ` + audit.TimeBoundHelp
	if _, err := parseAuditTime("--since", " yesterday ", now); err == nil || err.Error() != want {
		t.Errorf("parseAuditTime(yesterday) = %v, want %q", err, want)
	}
}

// promote audit list --since and --until reach the server, since
// inclusive and until exclusive; a malformed time, or a range that ends
// before it starts, is a usage error (exit 2) that names what was given.
func TestAuditListTimeRange(t *testing.T) {
	cli, must, ci := threeModels(t)
	type event struct {
		Seq  int64     `json:"seq"`
		Time time.Time `json:"time"`
	}
	list := func(args ...string) []int64 {
		var evs []event
		out := must(0, ci, append([]string{"audit", "list", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("audit list %v: %v", args, err)
		}
		seqs := []int64{}
		for _, e := range evs {
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	var all []event
	if err := json.Unmarshal([]byte(must(0, ci, "audit", "list", "-o", "json")), &all); err != nil || len(all) < 3 {
		t.Fatalf("audit list = %+v (%v), want at least 3 events", all, err)
	}
	since, until := all[2].Time, all[0].Time
	want := []int64{}
	for _, e := range all {
		if !e.Time.Before(since) && e.Time.Before(until) {
			want = append(want, e.Seq)
		}
	}
	if got := list("--since", since.Format(time.RFC3339Nano), "--until", until.Format(time.RFC3339Nano)); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("audit list --since %v --until %v = %v, want %v", since, until, got, want)
	}
	if got := list("--since", "1h"); len(got) != len(all) {
		t.Errorf("audit list --since 1h = %v, want every event (%d)", got, len(all))
	}
	if got := list("--until", "2000-01-01"); len(got) != 0 {
		t.Errorf("audit list --until 2000-01-01 = %v, want none", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "last week"}, `--since "last week": want an RFC 3339 time`},
		{[]string{"--until", "2026-13-01"}, `--until "2026-13-01"`},
		{[]string{"--since", "2026-11-02", "--until", "2026-11-01"}, "--since 2026-11-02 (2026-11-02T00:00:00Z) is after --until 2026-11-01 (2026-11-01T00:00:00Z)"},
	} {
		if code, _, errOut := cli(ci, append([]string{"audit", "list"}, c.args...)...); code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("audit list %v: exit %d, %q; want %d naming %q", c.args, code, errOut, ExitUsage, c.want)
		}
	}
}

// promote audit list --all lists every matching event, newest first and
// each once, across more than one page of the API (pages hold at most
// httpapi.MaxLimit events): as JSON Lines with -o json, as one table
// otherwise, from --before down to --after; with --limit it is a usage
// error, and without --all the listing is the page it always was.
func TestAuditListAll(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	// The log, written into the store before the server starts: the
	// token's creation, then 2,105 events, every seventh by carol.
	const extra = 2*httpapi.MaxLimit + 105
	db, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(t.Context(), func(tx promote.Tx) error {
		for i := range extra {
			actor := "ci"
			if i%7 == 0 {
				actor = "carol"
			}
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Actor: actor,
				Action: promote.ActionHoldCleared, Model: "m", Decision: "cleared"}); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile)
	cli, must := clientOf(t, server)
	const total = extra + 1
	// down returns the sequence numbers from hi down to lo that keep.
	down := func(hi, lo int64, keep func(seq int64) bool) []int64 {
		var out []int64
		for seq := hi; seq >= lo; seq-- {
			if keep(seq) {
				out = append(out, seq)
			}
		}
		return out
	}
	every := func(int64) bool { return true }
	// The events appended are seq 2 to total; the i-th is seq i+2.
	byCarol := func(seq int64) bool { return seq >= 2 && (seq-2)%7 == 0 }

	jsonLines := func(t *testing.T, args ...string) []int64 {
		t.Helper()
		code, out, errOut := cli(ci, append([]string{"audit", "list", "--all", "-o", "json"}, args...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("audit list --all -o json %v: exit %d, stderr %q", args, code, errOut)
		}
		var seqs []int64
		for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if line == "" {
				continue
			}
			var e struct {
				Seq  int64  `json:"seq"`
				Hash string `json:"hash"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil || e.Hash == "" {
				t.Fatalf("audit list --all -o json %v: line %d is not one event's JSON (%v): %.200s", args, i+1, err, line)
			}
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	table := func(t *testing.T, args ...string) []int64 {
		t.Helper()
		code, out, errOut := cli(ci, append([]string{"audit", "list", "--all"}, args...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("audit list --all %v: exit %d, stderr %q", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "SEQ ") || slices.ContainsFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, "SEQ ") }) {
			t.Fatalf("audit list --all %v: want one header line first, got %q…", args, lines[:min(3, len(lines))])
		}
		var seqs []int64
		for _, l := range lines[1:] {
			var seq int64
			if _, err := fmt.Sscan(l, &seq); err != nil {
				t.Fatalf("audit list --all %v: row %q: %v", args, l, err)
			}
			seqs = append(seqs, seq)
		}
		return seqs
	}
	for _, c := range []struct {
		name string
		got  func(t *testing.T) []int64
		want []int64
	}{
		{"json", func(t *testing.T) []int64 { return jsonLines(t) }, down(total, 1, every)},
		{"table", func(t *testing.T) []int64 { return table(t) }, down(total, 1, every)},
		{"json --actor carol", func(t *testing.T) []int64 { return jsonLines(t, "--actor", "carol") }, down(total, 1, byCarol)},
		{"table --actor carol", func(t *testing.T) []int64 { return table(t, "--actor", "carol") }, down(total, 1, byCarol)},
		{"json --before 2001 --after 3", func(t *testing.T) []int64 { return jsonLines(t, "--before", "2001", "--after", "3") }, down(2000, 4, every)},
		{"json --after 1000", func(t *testing.T) []int64 { return jsonLines(t, "--after", "1000") }, down(total, 1001, every)},
		{"table --actor carol --before 1500", func(t *testing.T) []int64 { return table(t, "--actor", "carol", "--before", "1500") }, down(1499, 1, byCarol)},
		{"json --actor nobody", func(t *testing.T) []int64 { return jsonLines(t, "--actor", "nobody") }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.got(t)
			if !slices.Equal(got, c.want) {
				t.Errorf("audit list --all %s = %d events %v…, want %d events %v…", c.name, len(got), got[:min(5, len(got))], len(c.want), c.want[:min(5, len(c.want))])
			}
		})
	}
	if code, _, errOut := cli(ci, "audit", "list", "--all", "--limit", "5"); code != ExitUsage || !strings.Contains(errOut, "--limit") {
		t.Errorf("audit list --all --limit 5: exit %d, %q; want %d naming --limit", code, errOut, ExitUsage)
	}
	// Without --all: one page, as an indented JSON array.
	var page []json.RawMessage
	if out := must(0, ci, "audit", "list", "-o", "json"); !strings.HasPrefix(out, "[\n") || json.Unmarshal([]byte(out), &page) != nil || len(page) != promote.DefaultLimit {
		t.Errorf("audit list -o json = %d events (%.40q…), want a JSON array of %d", len(page), out, promote.DefaultLimit)
	}
}

// promote audit list --token-id lists the events made with one token,
// which each records; --token stays the token the command authenticates
// with, and a secret given as the ID is a usage error that does not
// repeat it.
func TestAuditListTokenID(t *testing.T) {
	cli, must, ci := threeModels(t)
	type event struct {
		Actor   string `json:"actor"`
		Action  string `json:"action"`
		Model   string `json:"model"`
		TokenID string `json:"token_id"`
	}
	list := func(args ...string) []event {
		var evs []event
		out := must(0, ci, append([]string{"audit", "list", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("audit list %v: %v", args, err)
		}
		return evs
	}
	all := list()
	id := ""
	for _, e := range all {
		if e.Action == promote.ActionModelCreated {
			id = e.TokenID
		}
	}
	if !strings.HasPrefix(id, "tok_") {
		t.Fatalf("audit list = %+v: the models' creation records no token ID", all)
	}
	got := list("--token-id", id, "--token", ci)
	want := []event{{"ci", promote.ActionModelCreated, "churn", id}, {"ci", promote.ActionModelCreated, "fraud", id},
		{"ci", promote.ActionModelCreated, "credit-risk", id}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit list --token-id %s (-want +got):\n%s", id, diff)
	}
	if out := must(0, ci, "audit", "list", "--token-id", id); !regexp.MustCompile(`(?m)^SEQ .* TOKEN$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)model\.created .* `+id+`$`).MatchString(out) {
		t.Errorf("audit list's table does not show the token ID %s in a TOKEN column:\n%s", id, out)
	}
	if out := must(0, ci, "audit", "show", "2"); !regexp.MustCompile(`(?m)^Token ID +` + id + `$`).MatchString(out) {
		t.Errorf("audit show 2 (a model created by ci) does not show the token ID %s:\n%s", id, out)
	}
	if got := list("--token-id", "tok_0000000000000000"); len(got) != 0 {
		t.Errorf("audit list --token-id <another token> = %+v, want none", got)
	}
	for _, c := range []struct{ value, want string }{
		{"ci", `--token-id: token ID "ci": want tok_ and 16 hex digits`},
		{ci, "--token-id: that is a token's secret, not its ID"},
	} {
		code, out, errOut := cli(ci, "audit", "list", "--token-id", c.value)
		if code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("audit list --token-id %q: exit %d, %q; want %d naming %q", c.value, code, errOut, ExitUsage, c.want)
		}
		if c.value == ci && strings.Contains(out+errOut, ci) {
			t.Errorf("audit list --token-id <a secret> repeats the secret: %s%s", out, errOut)
		}
	}
}

// promote audit show names the policy that decided a gated promotion, by
// its file as the pipeline names it and its digest, as the event records.
func TestAuditShowPolicy(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", filepath.Join(examples, "model.bin"),
		"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", filepath.Join(examples, "candidate.json"))
	must(0, ci, "request", "credit-risk", "1", "--to", "dev")
	var events []promote.AuditEvent
	if err := json.Unmarshal([]byte(must(0, ci, "audit", "list", "--action", "promotion.state", "-o", "json")), &events); err != nil {
		t.Fatal(err)
	}
	var gated *promote.AuditEvent
	for i := range events {
		if events[i].Decision == string(promote.StateGated) {
			gated = &events[i]
		}
	}
	if gated == nil || gated.Policy == nil || gated.Policy.File == "" || !strings.HasPrefix(gated.Policy.Digest, "sha256:") {
		t.Fatalf("the gated event = %+v, want one naming its policy", gated)
	}
	out := must(0, ci, "audit", "show", fmt.Sprint(gated.Seq))
	if want := regexp.MustCompile(`\nPolicy +` + regexp.QuoteMeta(gated.Policy.File+" "+gated.Policy.Digest) + `\n`); !want.MatchString(out) {
		t.Errorf("audit show %d =\n%s\nwant a line matching %q", gated.Seq, out, want)
	}
}

// promote audit metrics-digest gives, for a version's metrics file, the
// digest that the events of its gate record for the metrics judged, the
// candidate's and the baseline's: from a YAML file, which the command line
// re-encodes as JSON before it sends it, as from the JSON file as it was
// sent. promote audit show prints both.
func TestAuditMetricsDigest(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	var doc map[string]any
	raw, err := os.ReadFile(filepath.Join(examples, "candidate.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	yml, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	candidate := filepath.Join(t.TempDir(), "metrics.yaml")
	if err := os.WriteFile(candidate, yml, 0o644); err != nil {
		t.Fatal(err)
	}
	baseline := filepath.Join(examples, "baseline.json")

	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	cli, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	for v, metrics := range map[string]string{"1": baseline, "2": candidate} {
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", filepath.Join(examples, "model.bin"),
			"--signature", filepath.Join(examples, "model.bin.sig"), "--metrics", metrics)
	}
	must(0, ci, "request", "credit-risk", "1", "--to", "dev")
	must(0, ci, "request", "credit-risk", "2", "--to", "dev")

	var digests []metricsDigest
	if err := json.Unmarshal([]byte(must(0, "", "audit", "metrics-digest", "-o", "json", candidate, baseline)), &digests); err != nil {
		t.Fatal(err)
	}
	want := &promote.AuditMetrics{Candidate: digests[0].Digest, Baseline: digests[1].Digest}
	var events []promote.AuditEvent
	if err := json.Unmarshal([]byte(must(0, ci, "audit", "list", "--model", "credit-risk", "--version", "2", "--action", "promotion.state", "-o", "json")), &events); err != nil {
		t.Fatal(err)
	}
	var gated *promote.AuditEvent
	for i := range events {
		if events[i].Decision == string(promote.StateGated) {
			gated = &events[i]
		}
	}
	if gated == nil {
		t.Fatalf("no gated event for version 2 in %+v", events)
	}
	if diff := cmp.Diff(want, gated.Metrics); diff != "" {
		t.Errorf("event %d's metrics differ from promote audit metrics-digest's (-want +got):\n%s", gated.Seq, diff)
	}
	out := must(0, "", "audit", "metrics-digest", candidate)
	if want := digests[0].Digest + "  " + candidate + "\n"; out != want {
		t.Errorf("audit metrics-digest %s = %q, want %q", candidate, out, want)
	}
	out = must(0, ci, "audit", "show", fmt.Sprint(gated.Seq))
	for _, line := range []string{"Candidate metrics +" + want.Candidate, "Baseline metrics +" + want.Baseline} {
		if !regexp.MustCompile(`\n` + line + `\n`).MatchString(out) {
			t.Errorf("audit show %d =\n%s\nwant a line matching %q", gated.Seq, out, line)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{\n  \"accuracy\": \"high\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli("", "audit", "metrics-digest", candidate, bad)
	if wantErr := bad + ":2:15: accuracy: want a number"; code != ExitUsage || out != "" || !strings.Contains(errOut, wantErr) {
		t.Errorf("audit metrics-digest with a bad file = exit %d, %q, %q; want exit %d, nothing out, an error with %q", code, out, errOut, ExitUsage, wantErr)
	}
}
