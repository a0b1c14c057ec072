package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// promote audit show SEQ shows the event SEQ, the first and the last
// included, and refuses one the log does not have.
func TestAuditShowEveryEvent(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile)
	cli, must := clientOf(t, server)
	for _, m := range []string{"credit-risk", "fraud", "churn"} {
		must(0, ci, "models", "create", m)
	}
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
	if code, _, errOut := cli(ci, "audit", "show", fmt.Sprint(head+1)); code != ExitUsage || !strings.Contains(errOut, fmt.Sprintf("audit event %d not found", head+1)) {
		t.Errorf("audit show %d: exit %d, %q; want %d, not found", head+1, code, errOut, ExitUsage)
	}
}
