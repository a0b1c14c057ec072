package registry

import (
	"testing"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// The record of an approval is written into the hash-chained audit log
// and read back by the notifications: its bytes stay as they were, the
// comment and the gate's messages HTML-escaped, no gate when the approval
// leaves nothing waiting, and roles null rather than left out.
func TestApprovalJSON(t *testing.T) {
	two := 2.0
	waiting := []policy.Result{{Rule: "approvals", Kind: "approvals", Status: policy.StatusFail, Actual: &two,
		Threshold: ">= 3", Message: "2 of 3 <distinct> approvers (lena & omar)"}}
	tests := []struct {
		name    string
		a       promote.Approval
		waiting []policy.Result
		want    string
	}{
		{"approved", promote.Approval{Roles: []string{"approver", "ml-lead"}, Comment: "metrics <ok> & signed"}, nil,
			`{"roles":["approver","ml-lead"],"comment":"metrics \u003cok\u003e \u0026 signed"}`},
		{"no roles, no comment", promote.Approval{}, []policy.Result{},
			`{"roles":null}`},
		{"waiting for more", promote.Approval{Roles: []string{"approver"}}, waiting,
			`{"roles":["approver"],"gate":[{"rule":"approvals","kind":"approvals","status":"fail","candidate":null,"baseline":null,` +
				`"actual":2,"threshold":"\u003e= 3","message":"2 of 3 \u003cdistinct\u003e approvers (lena \u0026 omar)"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(approvalJSON(tt.a, tt.waiting)); got != tt.want {
				t.Errorf("approvalJSON(%+v, %d results) = %s, want %s", tt.a, len(tt.waiting), got, tt.want)
			}
		})
	}
}
