package demo

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Algorithm is the only kind of model the demo trains.
const Algorithm = "logistic_regression"

// features are the inputs a model may use, each computed from the fields of
// an application.
var features = map[string]struct {
	fields []string
	value  func(f map[string]float64) float64
}{
	"log_income":           {[]string{"income"}, func(f map[string]float64) float64 { return math.Log(math.Max(f["income"], 1)) }},
	"debt_ratio":           {[]string{"debt_ratio"}, func(f map[string]float64) float64 { return f["debt_ratio"] }},
	"late_payments":        {[]string{"late_payments"}, func(f map[string]float64) float64 { return f["late_payments"] }},
	"credit_history_years": {[]string{"credit_history_years"}, func(f map[string]float64) float64 { return f["credit_history_years"] }},
	"loan_amount":          {[]string{"loan_amount"}, func(f map[string]float64) float64 { return f["loan_amount"] }},
	"debt_ratio_x_loan": {[]string{"debt_ratio", "loan_amount"}, func(f map[string]float64) float64 {
		return f["debt_ratio"] * f["loan_amount"]
	}},
}

// Model is a trained logistic regression and the artifact the demo signs,
// registers and serves: JSON, so that anyone can read what was deployed.
type Model struct {
	Model     string   `json:"model"`
	Version   string   `json:"version"`
	Algorithm string   `json:"algorithm"`
	Features  []string `json:"features"`
	// Mean and Std standardize each feature before the weights apply.
	Mean    []float64 `json:"mean"`
	Std     []float64 `json:"std"`
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
	// Threshold turns the probability of default into a decision: at or
	// above it the application is declined (the positive class).
	Threshold float64 `json:"threshold"`
	// Impute holds the value used for an input field that an application
	// lacks (the training median); a field without one cannot be scored.
	Impute   map[string]float64 `json:"impute,omitempty"`
	Training Training           `json:"training"`
}

// Training records how a model was trained.
type Training struct {
	Dataset      string  `json:"dataset"` // the data set's digest
	Seed         uint64  `json:"seed"`
	Rows         int     `json:"rows"`
	Epochs       int     `json:"epochs"`
	LearningRate float64 `json:"learning_rate"`
	L2           float64 `json:"l2"`
}

// Spec says how to train one version.
type Spec struct {
	Version  string
	Features []string
	Epochs   int
	// Impute exports the imputation of missing inputs with the model;
	// without it, the model cannot score an application that lacks one.
	Impute bool
	// Story is what changed in this version, for the narration.
	Story string
}

// MissingInputError is a model's failure on an application without an
// input it needs and cannot impute.
type MissingInputError struct{ Field string }

func (e *MissingInputError) Error() string {
	return fmt.Sprintf("input %s is missing and the model has no imputation for it", e.Field)
}

// Train fits a logistic regression to the training set by full-batch
// gradient descent on the L2-regularized log loss, with standardized
// features, and picks the decision threshold that maximizes F1 on the
// training set.
func Train(model string, spec Spec, d *Dataset, datasetDigest string) (*Model, error) {
	for _, f := range spec.Features {
		if _, ok := features[f]; !ok {
			return nil, fmt.Errorf("train %s: unknown feature %q", spec.Version, f)
		}
	}
	const lr, l2 = 0.5, 1e-4
	m := &Model{Model: model, Version: spec.Version, Algorithm: Algorithm, Features: slices.Clone(spec.Features),
		Training: Training{Dataset: datasetDigest, Seed: d.Seed, Rows: len(d.Train), Epochs: spec.Epochs, LearningRate: lr, L2: l2}}
	if spec.Impute {
		m.Impute = map[string]float64{}
		for _, f := range spec.Features {
			for _, field := range features[f].fields {
				m.Impute[field] = median(d.Train, field)
			}
		}
	}
	n, k := len(d.Train), len(spec.Features)
	x := make([][]float64, n)
	y := make([]float64, n)
	for i, a := range d.Train {
		row, err := m.raw(fieldsOf(a))
		if err != nil {
			return nil, err
		}
		x[i] = row
		if a.Default {
			y[i] = 1
		}
	}
	m.Mean, m.Std = make([]float64, k), make([]float64, k)
	for j := range k {
		var sum, sq float64
		for i := range n {
			sum += x[i][j]
		}
		m.Mean[j] = sum / float64(n)
		for i := range n {
			sq += (x[i][j] - m.Mean[j]) * (x[i][j] - m.Mean[j])
		}
		m.Std[j] = math.Sqrt(sq / float64(n))
		if m.Std[j] == 0 {
			m.Std[j] = 1
		}
		for i := range n {
			x[i][j] = (x[i][j] - m.Mean[j]) / m.Std[j]
		}
	}
	m.Weights = make([]float64, k)
	grad := make([]float64, k)
	for range spec.Epochs {
		clear(grad)
		var gb float64
		for i := range n {
			z := m.Bias
			for j, w := range m.Weights {
				z += w * x[i][j]
			}
			e := sigmoid(z) - y[i]
			for j := range k {
				grad[j] += e * x[i][j]
			}
			gb += e
		}
		for j := range k {
			m.Weights[j] -= lr * (grad[j]/float64(n) + l2*m.Weights[j])
		}
		m.Bias -= lr * gb / float64(n)
	}
	scores := make([]float64, n)
	for i := range n {
		z := m.Bias
		for j, w := range m.Weights {
			z += w * x[i][j]
		}
		scores[i] = sigmoid(z)
	}
	best := -1.0
	for t := 0.10; t < 0.70; t += 0.01 {
		var tp, fp, fn float64
		for i, s := range scores {
			switch pred := s >= t; {
			case pred && y[i] == 1:
				tp++
			case pred:
				fp++
			case y[i] == 1:
				fn++
			}
		}
		if f1 := 2 * tp / (2*tp + fp + fn); f1 > best {
			best, m.Threshold = f1, round(t, 2)
		}
	}
	return m, nil
}

// raw computes the model's features, unstandardized, from fields; a field
// that is missing is imputed or is a MissingInputError.
func (m *Model) raw(fields map[string]*float64) ([]float64, error) {
	vals := map[string]float64{}
	out := make([]float64, len(m.Features))
	for j, f := range m.Features {
		def := features[f]
		for _, field := range def.fields {
			if v := fields[field]; v != nil {
				vals[field] = *v
			} else if v, ok := m.Impute[field]; ok {
				vals[field] = v
			} else {
				return nil, &MissingInputError{Field: field}
			}
		}
		out[j] = def.value(vals)
	}
	return out, nil
}

// Score returns the probability of default of an application given by its
// fields (nil or absent: missing).
func (m *Model) Score(fields map[string]*float64) (float64, error) {
	x, err := m.raw(fields)
	if err != nil {
		return 0, err
	}
	z := m.Bias
	for j, w := range m.Weights {
		z += w * (x[j] - m.Mean[j]) / m.Std[j]
	}
	return sigmoid(z), nil
}

// Validate checks an artifact read from a file before it is served.
func (m *Model) Validate() error {
	k := len(m.Features)
	if m.Algorithm != Algorithm {
		return fmt.Errorf("algorithm %q: want %s", m.Algorithm, Algorithm)
	}
	if k == 0 || len(m.Mean) != k || len(m.Std) != k || len(m.Weights) != k {
		return fmt.Errorf("want as many means, deviations and weights as the %d features", k)
	}
	for _, f := range m.Features {
		if _, ok := features[f]; !ok {
			return fmt.Errorf("unknown feature %q", f)
		}
	}
	return nil
}

// ParseModel reads an artifact.
func ParseModel(data []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("model artifact: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("model artifact: %w", err)
	}
	return &m, nil
}

// fieldsOf returns an application's fields as a model reads them.
func fieldsOf(a Applicant) map[string]*float64 {
	return map[string]*float64{
		"income": &a.Income, "debt_ratio": &a.DebtRatio, "late_payments": &a.LatePayments,
		"credit_history_years": a.History, "loan_amount": &a.LoanAmount,
	}
}

func median(rows []Applicant, field string) float64 {
	var vs []float64
	for _, a := range rows {
		if v := fieldsOf(a)[field]; v != nil {
			vs = append(vs, *v)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
