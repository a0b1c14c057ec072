package demo

import (
	"crypto/sha256"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// Applicant is one loan application of the demo's credit-risk data: the
// fields a model may read, the group of the sensitive attribute (used for
// fairness, never as a feature) and whether the loan defaulted.
type Applicant struct {
	Income       float64  `json:"income"`                         // thousands a year
	DebtRatio    float64  `json:"debt_ratio"`                     // monthly debt over monthly income
	LatePayments float64  `json:"late_payments"`                  // in the last two years
	History      *float64 `json:"credit_history_years,omitempty"` // nil: a thin file, no credit history on record
	LoanAmount   float64  `json:"loan_amount"`                    // thousands
	Group        string   `json:"-"`
	Default      bool     `json:"-"`
}

// Groups are the values of the sensitive attribute, in the order reports
// list them.
var Groups = []string{"female", "male"}

// Dataset is a seeded synthetic credit-risk data set split into a training
// and a test set.
type Dataset struct {
	Seed        uint64
	Train, Test []Applicant
}

// defaultProbability is the ground truth the synthetic labels are drawn
// from: the risk rises with the debt ratio, late payments and the loan, and
// falls with income and a longer credit history. The debt ratio and the
// loan interact (a large loan weighs more on an indebted applicant), which
// a linear model sees only when it is given their product.
func defaultProbability(a Applicant, history float64) float64 {
	z := -2.0 - 1.6*math.Log(a.Income/55) + 5.5*(a.DebtRatio-0.32) - 0.13*(history-8) +
		0.9*a.LatePayments + 0.04*(a.LoanAmount-18) + 0.6*(a.DebtRatio-0.32)*(a.LoanAmount-18)
	return 1 / (1 + math.Exp(-z))
}

// drawApplicant draws one application. thinFile is the chance that it has
// no credit history on record.
func drawApplicant(r *rand.Rand, thinFile float64) Applicant {
	a := Applicant{
		Group:      Groups[r.IntN(len(Groups))],
		Income:     clamp(math.Exp(math.Log(55)+0.45*r.NormFloat64()), 12, 400),
		DebtRatio:  clamp(0.32+0.14*r.NormFloat64(), 0.01, 0.95),
		LoanAmount: clamp(18+8*r.NormFloat64(), 2, 60),
	}
	a.LatePayments = float64(poisson(r, 0.8))
	history := clamp(r.ExpFloat64()*8, 0, 40)
	a.Default = r.Float64() < defaultProbability(a, history)
	if r.Float64() >= thinFile {
		h := round(history, 1)
		a.History = &h
	}
	a.Income, a.DebtRatio, a.LoanAmount = round(a.Income, 1), round(a.DebtRatio, 3), round(a.LoanAmount, 1)
	return a
}

// NewDataset draws n complete applications from seed and splits them 70/30
// into training and test sets. Offline data is clean: every application
// has a credit history on record.
func NewDataset(seed uint64, n int) *Dataset {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	all := make([]Applicant, n)
	for i := range all {
		all[i] = drawApplicant(r, 0)
	}
	cut := n * 7 / 10
	return &Dataset{Seed: seed, Train: all[:cut], Test: all[cut:]}
}

// LiveTraffic draws n applications as they arrive in production: like the
// offline data, except that thinFile of them (a share) have no credit
// history on record.
func LiveTraffic(seed uint64, n int, thinFile float64) []Applicant {
	r := rand.New(rand.NewPCG(seed, 0xbf58476d1ce4e5b9))
	out := make([]Applicant, n)
	for i := range out {
		out[i] = drawApplicant(r, thinFile)
	}
	return out
}

// WriteCSV writes the data set, training rows then test rows, with a split
// column, and returns its sha256 digest ("sha256:<hex>"), the lineage's
// dataset digest.
func (d *Dataset) WriteCSV(w io.Writer) (string, error) {
	h := sha256.New()
	cw := csv.NewWriter(io.MultiWriter(w, h))
	_ = cw.Write([]string{"split", "income", "debt_ratio", "late_payments", "credit_history_years", "loan_amount", "group", "default"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, part := range []struct {
		name string
		rows []Applicant
	}{{"train", d.Train}, {"test", d.Test}} {
		for _, a := range part.rows {
			history := ""
			if a.History != nil {
				history = f(*a.History)
			}
			_ = cw.Write([]string{part.name, f(a.Income), f(a.DebtRatio), f(a.LatePayments), history, f(a.LoanAmount), a.Group, strconv.FormatBool(a.Default)})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return "", fmt.Errorf("write the data set: %w", err)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), nil
}

// poisson draws from a Poisson distribution with mean lambda (Knuth's
// multiplication method; fine for a small lambda).
func poisson(r *rand.Rand, lambda float64) int {
	limit, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}

func clamp(v, lo, hi float64) float64 { return math.Min(hi, math.Max(lo, v)) }

// round rounds v to n decimals.
func round(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}
