package cli

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// TestPromotionViewFitsTerminal: in a terminal, promotions show fits every
// line of a promotion awaiting approval within the width, its AWAITING
// APPROVAL line included (it ran on at the terminal's edge, mid-word);
// through a pipe (width 0) that line is one line, as scripts read it.
func TestPromotionViewFitsTerminal(t *testing.T) {
	one := 1.0
	v := registry.PromotionView{
		Promotion: promote.Promotion{ID: "pr_0123456789abcdef", Model: "credit-risk", Version: "2", Environment: "prod",
			State: promote.StateAwaitingApproval, Digest: "sha256:" + strings.Repeat("ab", 32), RequestedBy: "ci",
			Reason: "awaiting approval: 0 of 2 distinct approvers with role ml-lead; the requester may not approve"},
		Gate: &policy.Decision{Results: []policy.Result{
			{Rule: "tests_passed", Kind: policy.KindRequire, Status: policy.StatusPass, Actual: true, Threshold: "== true", Message: "tests_passed holds"},
			{Rule: "approvals", Kind: policy.KindApprovals, Status: policy.StatusFail, Actual: 0.0, Candidate: &one, Threshold: ">= 2",
				Message: "0 of 2 distinct approvers with role ml-lead; the requester may not approve"},
		}},
	}
	const width = 48
	var out bytes.Buffer
	tw := &table{W: printable{&out}, Width: width}
	promotionView(&out, tw, v)
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "AWAITING APPROVAL: every other rule holds; 0 of\n") {
		t.Errorf("the AWAITING APPROVAL line is not wrapped at %d columns:\n%s", width, text)
	}
	for _, l := range strings.Split(text, "\n") {
		// A word longer than the width (the digest) has a line of its own.
		if n := utf8.RuneCountInString(l); n > width && strings.Contains(l, " ") && !strings.Contains(l, "sha256:") {
			t.Errorf("line of %d columns at width %d: %q", n, width, l)
		}
	}

	out.Reset()
	tw = &table{W: printable{&out}, Width: 0}
	promotionView(&out, tw, v)
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "\nAWAITING APPROVAL: every other rule holds; 0 of 2 distinct approvers with role ml-lead; the requester may not approve\n"; !strings.Contains(out.String(), want) {
		t.Errorf("through a pipe, the AWAITING APPROVAL line is not one line:\n%s", out.String())
	}
}
