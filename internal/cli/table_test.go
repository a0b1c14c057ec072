//go:build linux

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// In a terminal narrower than a table, each row of promote audit list
// would wrap across the next lines, its IDs cut in two. The table is then
// written as records, one field a line, every line within the terminal and
// every ID whole; in a wide terminal and through a pipe it stays one row a
// line.
func TestTableFitsTerminal(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile)
	for _, m := range []string{"credit-risk", "fraud-detection-model-with-a-long-name"} {
		if code, _, errOut := run(t, "", "models", "create", m, "--server", server, "--token", ci); code != ExitOK {
			t.Fatalf("models create %s: exit %d: %s", m, code, errOut)
		}
	}
	list := []string{"audit", "list", "--server", server, "--token", ci}
	_, js, _ := run(t, "", append(list, "-o", "json")...)
	var events []struct {
		Seq     int64  `json:"seq"`
		Action  string `json:"action"`
		TokenID string `json:"token_id"`
	}
	if err := json.Unmarshal([]byte(js), &events); err != nil || len(events) < 2 {
		t.Fatalf("audit list -o json = %s (%v), want 2 events or more", js, err)
	}
	tableIn := func(t *testing.T, cols int) string {
		tty, output := openPTY(t, cols)
		var errOut bytes.Buffer
		if code := Main(t.Context(), list, strings.NewReader(""), tty, &errOut); code != ExitOK {
			t.Fatalf("audit list in %d columns: exit %d: %s", cols, code, errOut.String())
		}
		return output()
	}

	for _, cols := range []int{60, 80} {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			out := tableIn(t, cols)
			for _, l := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(l); n > cols {
					t.Errorf("a line of %d characters in %d columns: %q", n, cols, l)
				}
			}
			var got []string
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) == 2 && (f[0] == "SEQ" || f[0] == "ACTION" || f[0] == "TOKEN") {
					got = append(got, f[0]+" "+f[1])
				}
			}
			var want []string
			for _, e := range events {
				token := e.TokenID
				if token == "" {
					token = "-"
				}
				want = append(want, fmt.Sprintf("SEQ %d", e.Seq), "ACTION "+e.Action, "TOKEN "+token)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records in %d columns (-want +got):\n%s\n%s", cols, diff, out)
			}
		})
	}
	// Wide enough, and through a pipe: a header and one line a row.
	wide := tableIn(t, 250)
	_, piped, _ := run(t, "", list...)
	for name, out := range map[string]string{"250 columns": wide, "a pipe": piped} {
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(events)+1 || !strings.HasPrefix(lines[0], "SEQ  TIME") {
			t.Errorf("audit list in %s: %d lines, want a header and %d rows:\n%s", name, len(lines), len(events), out)
		}
	}
}

// The gate's results table is 63 columns wide and its reasons longer: in
// a narrower terminal, each row would wrap across the next lines. Its
// rows are then shown as records and its reasons wrap under their rule's
// name (a hanging indent), every line within the terminal and nothing
// cut; through a pipe, a row and a reason stay one line each.
func TestGateFitsTerminal(t *testing.T) {
	t.Chdir("testdata/gate")
	args := []string{"gate", "--policy", "policy.yaml", "--candidate", "bad.json", "--baseline", "baseline.json",
		"--approved-by", "bob", "--requested-by", "bob"}
	_, js, _ := run(t, "", append(args, "-o", "json")...)
	var d struct {
		Results []struct{ Rule, Status, Message string }
	}
	if err := json.Unmarshal([]byte(js), &d); err != nil || len(d.Results) < 2 {
		t.Fatalf("gate -o json = %s (%v), want 2 results or more", js, err)
	}
	var rules, reasons []string
	for _, r := range d.Results {
		rules = append(rules, r.Rule)
		if r.Status != "pass" {
			reasons = append(reasons, "FAIL "+r.Rule+": "+r.Message)
		}
	}
	gateIn := func(t *testing.T, cols int) string {
		tty, output := openPTY(t, cols)
		var errOut bytes.Buffer
		if code := Main(t.Context(), args, strings.NewReader(""), tty, &errOut); code != ExitBlocked {
			t.Fatalf("gate in %d columns: exit %d, want %d: %s", code, cols, ExitBlocked, errOut.String())
		}
		return output()
	}
	// shown returns the rules of the table, whether as rows or as
	// records, and the reasons, their lines joined.
	shown := func(t *testing.T, out string) (rules, reasons []string) {
		t.Helper()
		const hang = "       " // as wide as "  FAIL "
		rows := false          // in the table, written as rows
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			switch {
			case strings.HasPrefix(l, "  FAIL "):
				reasons = append(reasons, strings.TrimSpace(l))
			case len(reasons) > 0 && strings.HasPrefix(l, hang) && l[len(hang)] != ' ':
				reasons[len(reasons)-1] += " " + l[len(hang):]
			case len(reasons) > 0 || len(f) == 0:
				rows = false
			case len(f) == 6 && f[0] == "RULE":
				rows = true
			case rows:
				rules = append(rules, f[0])
			case len(f) == 2 && f[0] == "RULE":
				rules = append(rules, f[1])
			}
		}
		return rules, reasons
	}
	for _, tc := range []struct {
		cols    int
		records bool
	}{{60, true}, {80, false}} {
		t.Run(fmt.Sprint(tc.cols), func(t *testing.T) {
			out := gateIn(t, tc.cols)
			lines := strings.Split(out, "\n")
			for _, l := range lines {
				if n := utf8.RuneCountInString(l); n > tc.cols {
					t.Errorf("a line of %d characters in %d columns: %q", n, tc.cols, l)
				}
			}
			gotRules, gotReasons := shown(t, out)
			if diff := cmp.Diff(rules, gotRules); diff != "" {
				t.Errorf("rules in %d columns (-want +got):\n%s\n%s", tc.cols, diff, out)
			}
			if diff := cmp.Diff(reasons, gotReasons); diff != "" {
				t.Errorf("reasons in %d columns (-want +got):\n%s\n%s", tc.cols, diff, out)
			}
			records := slices.ContainsFunc(lines, func(l string) bool { return slices.Equal(strings.Fields(l), []string{"RULE", rules[0]}) })
			if records != tc.records {
				t.Errorf("rules as records in %d columns = %v, want %v:\n%s", tc.cols, records, tc.records, out)
			}
		})
	}
	_, piped, _ := run(t, "", args...)
	gotRules, gotReasons := shown(t, piped)
	if diff := cmp.Diff(rules, gotRules); diff != "" {
		t.Errorf("rules through a pipe (-want +got):\n%s\n%s", diff, piped)
	}
	if diff := cmp.Diff(reasons, gotReasons); diff != "" {
		t.Errorf("reasons through a pipe (-want +got):\n%s\n%s", diff, piped)
	}
	for _, r := range reasons {
		if !strings.Contains(piped, "\n  "+r+"\n") {
			t.Errorf("through a pipe, reason %q is not one line:\n%s", r, piped)
		}
	}
}
