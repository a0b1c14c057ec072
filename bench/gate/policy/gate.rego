# The ten rules of bench/gate/testdata/policy.yaml written for conftest, so
# that run.sh can time both tools on the same decision. The input document is
# testdata/conftest-input.json: {candidate, baseline, approvers, requested_by},
# where candidate and baseline are the metrics files Promote reads.
#
# Each message starts with the name of the rule, as Promote reports it, so
# that run.sh can check that both tools fail the same rules. Like Promote,
# the policy fails closed: a metric missing from either side is a denial.
package main

cand := input.candidate.metrics

base := input.baseline.metrics

# delta and change_pct are Promote's NAME_delta and NAME_change: the
# difference against the baseline, and the relative change in percent.
delta(m) := cand[m] - base[m]

change_pct(m) := ((cand[m] - base[m]) / abs(base[m])) * 100

# The metrics each side must give for the rules below to be judged.
needed := {
	"candidate": {"accuracy", "latency_p95_ms", "f1", "auc", "cost_per_1k"},
	"baseline": {"latency_p95_ms", "f1", "accuracy", "auc", "cost_per_1k"},
}

# A helper, because `not is_number(x)` is never true when x is undefined.
has_metric(side, m) if is_number(input[side].metrics[m])

deny contains msg if {
	some side, names in needed
	some m in names
	not has_metric(side, m)
	msg := sprintf("%s: the %s has no metric %s", [m, side, m])
}

# Rules 1 and 2: required checks.
deny contains msg if {
	some check in ["tests_passed", "data_validated"]
	not input.candidate.checks[check] == true
	msg := sprintf("%s: check is not true", [check])
}

# Rules 3 and 4: absolute thresholds.
deny contains msg if {
	cand.accuracy < 0.85
	msg := sprintf("accuracy: %v is not >= 0.85", [cand.accuracy])
}

deny contains msg if {
	cand.latency_p95_ms > 150
	msg := sprintf("latency_p95_ms: %v is not <= 150", [cand.latency_p95_ms])
}

# Rule 5: a delta.
deny contains msg if {
	d := delta("f1")
	d < -0.01
	msg := sprintf("f1-regression: f1_delta %v is not >= -0.01", [d])
}

# Rule 6: a relative change, a warning only.
warn contains msg if {
	c := change_pct("latency_p95_ms")
	c > 10
	msg := sprintf("latency-creep: latency_p95_ms_change %v%% is not <= 10%%", [c])
}

# Rule 7: demographic parity difference, the widest gap in selection rate
# between groups, given directly or derived from the groups as Promote does.
selection_rates := [g.selection_rate | some g in input.candidate.groups]

parity_gap := v if {
	v := cand.demographic_parity_difference
} else := v if {
	count(selection_rates) >= 2
	count(selection_rates) == count(input.candidate.groups)
	v := max(selection_rates) - min(selection_rates)
}

parity_gap_known if is_number(parity_gap)

deny contains msg if {
	not parity_gap_known
	msg := "fairness-gap: demographic_parity_difference cannot be computed from the groups"
}

deny contains msg if {
	parity_gap > 0.05
	msg := sprintf("fairness-gap: demographic_parity_difference %v is not <= 0.05", [parity_gap])
}

# Rule 8: any of (accuracy_delta >= 0) or all of (accuracy_delta >= -0.005,
# latency_p95_ms_change <= -10%).
accuracy_for_latency if delta("accuracy") >= 0

accuracy_for_latency if {
	delta("accuracy") >= -0.005
	change_pct("latency_p95_ms") <= -10
}

deny contains msg if {
	not accuracy_for_latency
	msg := "accuracy-for-latency: neither accuracy_delta >= 0 nor (accuracy_delta >= -0.005 and latency_p95_ms_change <= -10%)"
}

# Rule 9: the CEL rule change.cost_per_1k <= 0.05 || delta.auc >= 0.01.
cost_for_quality if change_pct("cost_per_1k") <= 5

cost_for_quality if delta("auc") >= 0.01

deny contains msg if {
	not cost_for_quality
	msg := "cost-for-quality: expression is false"
}

# Rule 10: one distinct approver holding ml-lead, not the requester.
requester := lower(trim_space(object.get(input, "requested_by", "")))

approvers contains name if {
	some a in input.approvers
	name := lower(trim_space(a.name))
	name != ""
	name != requester
	some role in a.roles
	lower(role) == "ml-lead"
}

deny contains msg if {
	count(approvers) < 1
	msg := sprintf("approvals: %d of 1 distinct approvers", [count(approvers)])
}
