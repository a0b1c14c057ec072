package audit

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// rawReasonsMax is how many bytes of reasons of an unknown shape
// ReasonsText keeps: enough to recognise them, short enough for a table
// cell or a chat line.
const rawReasonsMax = 300

// ReasonsText returns an audit event's reasons in words, for the pages
// and the notifications, which show them next to the event's decision and
// so do not repeat it. The shapes are those of docs/audit.md:
//
//   - a person's reasons and Promote's own messages (an array of strings):
//     joined with "; ";
//   - a gate's results (an array of policy results, by rule): the rules that
//     blocked as "rule: message", as the promotion's reason words them, or,
//     when none blocked, each rule and its status;
//   - a rollout record (an object with step and weight, on rollout.step and
//     rollout.finished): its reason. A step's decision says the step, and
//     the reason of a failed analysis its failing tests and where the canary
//     was; the verdict's counts stay in the record for promote audit show;
//   - an approval (an object with roles, on promotion.approval): the roles
//     the person held and their comment, a rejection's reason.
//
// Anything else (a shape this version does not know, or bytes that are not
// JSON) is shown as it is stored, cut after 300 bytes, rather than hidden.
func ReasonsText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "; ")
	}
	if s, ok := resultsText(raw); ok {
		return s
	}
	if s, ok := rolloutRecordText(raw); ok {
		return s
	}
	if s, ok := approvalText(raw); ok {
		return s
	}
	return cut(string(raw), rawReasonsMax)
}

// resultsText words a gate's results (policy.Result, of which it reads
// only the rule, status and message, so that a result recorded by another
// version of the policy package still reads).
func resultsText(raw json.RawMessage) (string, bool) {
	var results []struct {
		Rule    string `json:"rule"`
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &results) != nil || len(results) == 0 || results[0].Rule == "" {
		return "", false
	}
	var blocking, all []string
	for _, r := range results {
		all = append(all, r.Rule+" "+r.Status)
		// A failing or erring rule blocks; a warn-only rule's failure is
		// recorded as warn (policy.Status).
		if r.Status == "fail" || r.Status == "error" {
			blocking = append(blocking, r.Rule+": "+r.Message)
		}
	}
	if len(blocking) > 0 {
		return strings.Join(blocking, "; "), true
	}
	return strings.Join(all, ", "), true
}

// rolloutRecordText words a rollout record (docs/audit.md, "Rollout
// records").
func rolloutRecordText(raw json.RawMessage) (string, bool) {
	var rec struct {
		Step   *int     `json:"step"`
		Weight *float64 `json:"weight"`
		Reason string   `json:"reason"`
	}
	if json.Unmarshal(raw, &rec) != nil || rec.Step == nil || rec.Weight == nil {
		return "", false
	}
	return rec.Reason, true
}

// approvalText words the record of a promotion.approval event.
func approvalText(raw json.RawMessage) (string, bool) {
	var rec struct {
		Roles   *[]string `json:"roles"`
		Comment string    `json:"comment"`
	}
	if json.Unmarshal(raw, &rec) != nil || rec.Roles == nil {
		return "", false
	}
	s := "as " + strings.Join(*rec.Roles, ", ")
	if rec.Comment != "" {
		s += ": " + rec.Comment
	}
	return s, true
}

// cut shortens s to at most n bytes, on a character boundary, marking the
// cut with an ellipsis.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
