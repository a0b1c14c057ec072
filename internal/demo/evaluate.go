package demo

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// Confusion counts a model's decisions against the truth; positive means
// predicted (or actual) default.
type Confusion struct {
	TP, FP, TN, FN int
}

func (c *Confusion) add(pred, actual bool) {
	switch {
	case pred && actual:
		c.TP++
	case pred:
		c.FP++
	case actual:
		c.FN++
	default:
		c.TN++
	}
}

// Count is the number of examples counted.
func (c Confusion) Count() int { return c.TP + c.FP + c.TN + c.FN }

// SelectionRate is P(Ŷ = 1).
func (c Confusion) SelectionRate() float64 { return ratio(c.TP+c.FP, c.Count()) }

// TPR is P(Ŷ = 1 | Y = 1).
func (c Confusion) TPR() float64 { return ratio(c.TP, c.TP+c.FN) }

// FPR is P(Ŷ = 1 | Y = 0).
func (c Confusion) FPR() float64 { return ratio(c.FP, c.FP+c.TN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Evaluation is a model's offline quality on the test set.
type Evaluation struct {
	Accuracy, Precision, Recall, F1, AUC float64
	// Groups are the confusion counts per group of the sensitive
	// attribute, from which the gate computes the fairness metrics.
	Groups map[string]Confusion
}

// DemographicParityDifference is the largest gap between the groups'
// selection rates, as the gate computes it.
func (e Evaluation) DemographicParityDifference() float64 {
	var rates []float64
	for _, c := range e.Groups {
		rates = append(rates, round(c.SelectionRate(), 4))
	}
	if len(rates) < 2 {
		return 0
	}
	return slices.Max(rates) - slices.Min(rates)
}

// Evaluate scores the test set with m.
func Evaluate(m *Model, test []Applicant) (Evaluation, error) {
	ev := Evaluation{Groups: map[string]Confusion{}}
	var all Confusion
	scores := make([]float64, len(test))
	for i, a := range test {
		p, err := m.Score(fieldsOf(a))
		if err != nil {
			return Evaluation{}, fmt.Errorf("evaluate %s: %w", m.Version, err)
		}
		scores[i] = p
		pred := p >= m.Threshold
		all.add(pred, a.Default)
		g := ev.Groups[a.Group]
		g.add(pred, a.Default)
		ev.Groups[a.Group] = g
	}
	ev.Accuracy = ratio(all.TP+all.TN, all.Count())
	ev.Precision = ratio(all.TP, all.TP+all.FP)
	ev.Recall = all.TPR()
	ev.F1 = ratio(2*all.TP, 2*all.TP+all.FP+all.FN)
	ev.AUC = auc(scores, test)
	return ev, nil
}

// auc is the area under the ROC curve: the Mann–Whitney U statistic over
// the positives' ranks among all scores, ties counted as half (Hanley &
// McNeil, Radiology 1982).
func auc(scores []float64, test []Applicant) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum float64
	pos := 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1..j share their mean
		for _, k := range idx[i:j] {
			if test[k].Default {
				rankSum += rank
				pos++
			}
		}
		i = j
	}
	neg := len(scores) - pos
	if pos == 0 || neg == 0 {
		return 0
	}
	return (rankSum - float64(pos*(pos+1))/2) / float64(pos*neg)
}

// groupStats is one group in metrics.json: the statistics the gate reads
// (selection_rate, tpr, fpr, count) and the confusion counts behind them.
type groupStats struct {
	SelectionRate float64 `json:"selection_rate"`
	TPR           float64 `json:"tpr"`
	FPR           float64 `json:"fpr"`
	Count         int     `json:"count"`
	TP            int     `json:"tp"`
	FP            int     `json:"fp"`
	TN            int     `json:"tn"`
	FN            int     `json:"fn"`
}

// metricsDoc is a version's metrics.json, in the format the gate reads.
type metricsDoc struct {
	Accuracy     float64               `json:"accuracy"`
	Precision    float64               `json:"precision"`
	Recall       float64               `json:"recall"`
	F1           float64               `json:"f1"`
	AUC          float64               `json:"auc"`
	LatencyP95Ms float64               `json:"latency_p95_ms"`
	Checks       map[string]bool       `json:"checks"`
	Groups       map[string]groupStats `json:"groups"`
	Metadata     map[string]any        `json:"metadata"`
}

// MetricsJSON is the metrics.json document of a version: its evaluation,
// the p95 latency measured at its endpoint, and the checks its tests
// produced.
func MetricsJSON(m *Model, ev Evaluation, latencyP95Ms float64, checks map[string]bool) ([]byte, error) {
	doc := metricsDoc{
		Accuracy: round(ev.Accuracy, 4), Precision: round(ev.Precision, 4), Recall: round(ev.Recall, 4),
		F1: round(ev.F1, 4), AUC: round(ev.AUC, 4), LatencyP95Ms: round(latencyP95Ms, 3),
		Checks: checks, Groups: map[string]groupStats{},
		Metadata: map[string]any{"model": m.Model, "version": m.Version, "algorithm": m.Algorithm, "features": m.Features,
			"threshold": m.Threshold, "dataset": m.Training.Dataset, "seed": m.Training.Seed},
	}
	for g, c := range ev.Groups {
		doc.Groups[g] = groupStats{SelectionRate: round(c.SelectionRate(), 4), TPR: round(c.TPR(), 4), FPR: round(c.FPR(), 4),
			Count: c.Count(), TP: c.TP, FP: c.FP, TN: c.TN, FN: c.FN}
	}
	return json.MarshalIndent(doc, "", "  ")
}
