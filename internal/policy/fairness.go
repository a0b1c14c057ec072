package policy

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/promote-ml/promote/internal/strictyaml"
)

// Fairness metrics computed from per-group statistics. The definitions
// follow Fairlearn's metrics module (Bird et al., "Fairlearn: A toolkit for
// assessing and improving fairness in AI", Microsoft, 2020), which in turn
// follow Hardt, Price and Srebro, "Equality of Opportunity in Supervised
// Learning", NeurIPS 2016 (equal opportunity and equalized odds). Each is a
// "between groups" difference: the largest value of a rate across groups
// minus the smallest, so 0 is parity and 1 the widest gap.

// DemographicParityDifference is max − min of the groups' selection rates
// (the share of each group that receives the positive prediction).
func DemographicParityDifference(groups map[string]map[string]float64) (float64, error) {
	return rateGap(groups, StatSelectionRate)
}

// EqualOpportunityDifference is max − min of the groups' true positive
// rates (Hardt et al., 2016, section 2).
func EqualOpportunityDifference(groups map[string]map[string]float64) (float64, error) {
	return rateGap(groups, StatTPR)
}

// EqualizedOddsDifference is the larger of the true positive rate gap and
// the false positive rate gap across groups (Hardt et al., 2016,
// section 2, measured as in Fairlearn's equalized_odds_difference).
func EqualizedOddsDifference(groups map[string]map[string]float64) (float64, error) {
	tpr, err := rateGap(groups, StatTPR)
	if err != nil {
		return 0, err
	}
	fpr, err := rateGap(groups, StatFPR)
	if err != nil {
		return 0, err
	}
	return math.Max(tpr, fpr), nil
}

// rateGap returns max − min of stat across the groups. Every group must have
// the statistic, and there must be two groups to compare.
func rateGap(groups map[string]map[string]float64, stat string) (float64, error) {
	if len(groups) < 2 {
		return 0, fmt.Errorf("needs at least two groups, the evidence has %d", len(groups))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, name := range strictyaml.SortedKeys(groups) {
		v, ok := groups[name][stat]
		if !ok {
			return 0, fmt.Errorf("group %q has no %s", name, stat)
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return roundSig(hi - lo), nil
}

// fairnessMetrics are the metrics derived from a file's groups.
var fairnessMetrics = []string{MetricDemographicParity, MetricEqualOpportunity, MetricEqualizedOdds}

// incomparableGroups says why the candidate's and the baseline's values of a
// fairness metric cannot be compared: each is a gap over its own file's
// groups, and a group in one file only makes them gaps over different
// populations. A group the candidate lost (filtered out, mislabelled) would
// otherwise read as a fairness improvement. Empty when the metric is not a
// fairness metric, when the groups are the same, or when a file has no
// groups (it gives the metric directly).
func incomparableGroups(metric string, candidate, baseline *Evidence) string {
	if candidate == nil || baseline == nil || len(candidate.Groups) == 0 || len(baseline.Groups) == 0 || !strictyaml.Contains(fairnessMetrics, metric) {
		return ""
	}
	var parts []string
	for _, side := range []struct {
		e, other *Evidence
		name     string
	}{{candidate, baseline, "candidate"}, {baseline, candidate, "baseline"}} {
		var only []string
		for _, g := range strictyaml.SortedKeys(side.e.Groups) {
			if _, ok := side.other.Groups[g]; !ok {
				only = append(only, strconv.Quote(g))
			}
		}
		if len(only) > 0 {
			parts = append(parts, fmt.Sprintf("%s only in the %s (%s)", strings.Join(only, ", "), side.name, side.e.File))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%s is a gap over different groups in the candidate and the baseline: %s; compare evidence over the same groups", metric, strings.Join(parts, ", "))
}

// uncoveredGroups says why the candidate's value of a fairness metric is
// not judged: it is a gap over the candidate's groups, and they leave out a
// group the metric must cover, the policy's fairnessGroups or, when it lists
// none, the baseline's groups. A gap over fewer groups is never larger (max
// − min over a subset), so a candidate that lost its worst group (filtered
// out for a small count, mislabelled) would pass a threshold its whole
// population fails. Empty when metric is not a fairness metric, when the
// candidate has it over every required group, or when there is nothing to
// require: no list and no baseline with groups, or no list and a candidate
// that gives the metric directly, without groups.
func (ev *evaluation) uncoveredGroups(metric string) string {
	if !strictyaml.Contains(fairnessMetrics, metric) {
		return ""
	}
	if _, ok := ev.in.Candidate.Metrics[metric]; !ok {
		return ""
	}
	if why := ev.coverage(); why != "" {
		return metric + why
	}
	return ""
}

// coverage works out, once per evaluation, which required groups the
// candidate's groups leave out, as the end of a message that begins with
// the metric's name; empty when none.
func (ev *evaluation) coverage() string {
	if ev.uncoveredDone {
		return ev.uncovered
	}
	ev.uncoveredDone = true
	cand, policyList := ev.in.Candidate, ev.gate.FairnessGroups
	switch {
	case policyList != nil:
		if len(cand.Groups) == 0 {
			ev.uncovered = fmt.Sprintf(" does not cover the groups fairnessGroups requires: %s gives it without groups", describeFile("the candidate", cand.File))
			return ev.uncovered
		}
		if missing := lacking(cand.Groups, policyList); missing != "" {
			ev.uncovered = fmt.Sprintf(" does not cover the groups fairnessGroups requires: %s lacks %s", describeFile("the candidate", cand.File), missing)
		}
	case ev.in.Baseline != nil && len(ev.in.Baseline.Groups) > 0 && len(cand.Groups) > 0:
		var missing string
		for g := range ev.in.Baseline.Groups {
			if _, ok := cand.Groups[g]; !ok {
				missing = lacking(cand.Groups, strictyaml.SortedKeys(ev.in.Baseline.Groups))
				break
			}
		}
		if missing != "" {
			ev.uncovered = fmt.Sprintf(" is a gap over fewer groups than the baseline's: %s lacks %s, which %s has, and a gap over fewer groups is never larger; evaluate the candidate over the baseline's groups, or list the groups the gate requires in fairnessGroups",
				describeFile("the candidate", cand.File), missing, describeFile("the baseline", ev.in.Baseline.File))
		}
	}
	return ev.uncovered
}

// lacking lists the groups of want that have is without, quoted, each with
// a group of have's that is spelled alike (a likely relabelling).
func lacking(have map[string]map[string]float64, want []string) string {
	var others []string
	for g := range have {
		if !slices.Contains(want, g) {
			others = append(others, g)
		}
	}
	slices.Sort(others)
	var parts []string
	for _, g := range want {
		if _, ok := have[g]; ok {
			continue
		}
		part := strconv.Quote(g)
		if s := strictyaml.Suggest(g, others); s != "" {
			part += " (it has " + strconv.Quote(s) + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// describeFile is "the candidate (cand.json)", or "the candidate" when the
// evidence has no file name.
func describeFile(side, file string) string {
	if file == "" {
		return side
	}
	return side + " (" + file + ")"
}
