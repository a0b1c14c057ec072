//go:build linux

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
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
