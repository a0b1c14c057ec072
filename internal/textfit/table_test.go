package textfit

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A table whose last column alone makes it too wide wraps that column
// within itself; one whose other columns do not fit either is written as
// records; lines without tabs pass as they are when they fit, and wrap
// when they do not; a page without a header takes the last one's.
func TestTableWidths(t *testing.T) {
	const reason = "rolled back to 2 by rollout: the canary analysis failed: error_rate above stable's"
	tests := []struct {
		name  string
		width int
		in    []string // Flushed after each
		want  string
	}{
		{"not a terminal", 0, []string{"HOLD\tENV\tREASON\n1\tprod\t" + reason + "\n"},
			"HOLD  ENV   REASON\n1     prod  " + reason + "\n"},
		{"the last column wraps", 40, []string{"Promotion pr_1\nHOLD\tENV\tREASON\n1\tprod\t" + reason + "\n"},
			"Promotion pr_1\nHOLD  ENV   REASON\n" +
				"1     prod  rolled back to 2 by\n" +
				"            rollout: the canary\n" +
				"            analysis failed: error_rate\n" +
				"            above stable's\n"},
		{"records, a page without a header", 30, []string{"ID\tMODEL\tVERSION\tSTATE\tREASON\npr_1\tcredit-risk\t3\trolled_back\t" + reason + "\n", "pr_2\tfraud\t1\tsucceeded\tok\n"},
			"ID       pr_1\nMODEL    credit-risk\nVERSION  3\nSTATE    rolled_back\n" +
				"REASON   rolled back to 2 by\n         rollout: the canary\n         analysis failed:\n         error_rate above\n         stable's\n" +
				"\nID       pr_2\nMODEL    fraud\nVERSION  1\nSTATE    succeeded\nREASON   ok\n"},
		{"a line between tables wraps", 30, []string{"Promotion pr_0123456789abcdef: credit-risk 2 → prod\nA\tB\n1\t2\n\nAWAITING APPROVAL: 0 of 2 approvers\n"},
			"Promotion\npr_0123456789abcdef:\ncredit-risk 2 → prod\nA  B\n1  2\n\nAWAITING APPROVAL: 0 of 2\napprovers\n"},
		{"records keep a cell's indent", 30, []string{"RULE\tACTUAL\tTHRESHOLD\tVERDICT\nfairness\t-\tany of\tfail\n  dp_diff\t0.12\t<= 0.1\tfail\n"},
			"RULE       fairness\nACTUAL     -\nTHRESHOLD  any of\nVERDICT    fail\n" +
				"\nRULE         dp_diff\nACTUAL     0.12\nTHRESHOLD  <= 0.1\nVERDICT    fail\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tw := &Table{W: &out, Width: tt.width}
			for _, in := range tt.in {
				tw.Write([]byte(in))
				if err := tw.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("table in %d columns (-want +got):\n%s", tt.width, diff)
			}
		})
	}
}

// A reason wraps under its rule's name; a word longer than the width is
// kept whole on a line of its own.
func TestHanging(t *testing.T) {
	tests := []struct {
		name, prefix, s string
		width           int
		want            string
	}{
		{"fits", "  FAIL ", "accuracy: 0.91 is not >= 0.93", 60, "  FAIL accuracy: 0.91 is not >= 0.93\n"},
		{"wraps", "  FAIL ", "approvals: 0 of 1 distinct approvers (none); bob requested this promotion", 40,
			"  FAIL approvals: 0 of 1 distinct\n" +
				"       approvers (none); bob requested\n" +
				"       this promotion\n"},
		{"a long word whole", "", "digest sha256:0123456789abcdef0123456789abcdef ok", 24,
			"digest\nsha256:0123456789abcdef0123456789abcdef\nok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Hanging(tt.prefix, tt.s, tt.width)); diff != "" {
				t.Errorf("Hanging(%q, %q, %d) (-want +got):\n%s", tt.prefix, tt.s, tt.width, diff)
			}
		})
	}
}
