package policy

import (
	"fmt"
	"math"

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
