package policy

import (
	"fmt"
	"math"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/strictyaml"
	"github.com/promote-ml/promote/promote"
)

// Evidence is what a candidate or a baseline brings to the gate: metrics,
// named checks and per-group statistics, as read from a metrics.json.
type Evidence struct {
	File    string                        `json:"-"`
	Metrics map[string]float64            `json:"metrics"`
	Checks  map[string]bool               `json:"checks,omitempty"`
	Groups  map[string]map[string]float64 `json:"groups,omitempty"`

	// unavailable says why a derived metric (a fairness difference) could
	// not be computed, so that a rule asking for it can say so.
	unavailable map[string]string
	// sources names the file of each metric and check Merge added
	// ("metric NAME", "check NAME"), for its errors.
	sources map[string]string
	// merged lists the files Merge added, in order.
	merged []string
}

// evidenceMetadata are top-level keys of a metrics file that carry
// information for people and other tools; the gate reads none of them.
var evidenceMetadata = []string{"metadata", "params", "tags", "drift"}

// Group statistic names with a fixed meaning.
const (
	StatSelectionRate = "selection_rate"
	StatTPR           = "tpr"
	StatFPR           = "fpr"
	StatCount         = "count"
)

// ParseEvidence reads a metrics file: top-level numbers are metrics, and so
// are the numbers in a nested "metrics" object (MLflow's layout); "checks"
// holds named booleans; "groups" holds per-group statistics from which the
// fairness metrics are computed. JSON and YAML are both accepted. NaN,
// infinities, strings where numbers belong, and a metric given twice are
// errors naming the field, with file:line.
func ParseEvidence(file string, data []byte) (*Evidence, error) {
	d := newDecoder(file)
	root := d.Parse(data)
	if root == nil {
		return nil, d.Err()
	}
	e := d.evidence(root, file)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

// DecodeEvidence reads evidence written inline in another YAML file (a
// policy test case's candidate), as ParseEvidence reads a metrics file:
// its problems go to d with their positions in that file, each after what
// names the evidence there (`case "a".candidate: f1: want a number`).
// name stands for the evidence's file in the gate's messages ("in
// prod_test.yaml:12"). It returns nil when d has problems.
func DecodeEvidence(d *strictyaml.Decoder, n *yaml.Node, what, name string) *Evidence {
	before := len(d.Problems)
	e := (&decoder{Decoder: d}).evidence(n, name)
	if len(d.Problems) > before {
		for i := range d.Problems[before:] {
			p := &d.Problems[before+i]
			p.Msg = what + ": " + p.Msg
		}
		return nil
	}
	return e
}

// evidence reads the metrics file whose root is root; the problems it
// finds are d's.
func (d *decoder) evidence(root *yaml.Node, file string) *Evidence {
	before := len(d.Problems)
	e := &Evidence{File: file, Metrics: map[string]float64{}, Checks: map[string]bool{}}
	metricAt := map[string]int{}
	addMetric := func(k, v *yaml.Node, what string) {
		if !strictyaml.ValidName(k.Value) {
			d.Errorf(k, "%s: %q is not a valid metric name (letters, digits, _ . - only, starting with a letter)", what, k.Value)
			return
		}
		if ref := parseMetricRef(k.Value); ref.mode != modeValue {
			d.Errorf(k, "%s: a metric may not end in _delta or _change: the gate derives those from the baseline", what)
			return
		}
		x, ok := d.Number(v, what)
		if !ok {
			return
		}
		if line, dup := metricAt[k.Value]; dup {
			d.Errorf(k, "%s: metric given twice (first at line %d)", what, line)
			return
		}
		metricAt[k.Value] = k.Line
		e.Metrics[k.Value] = x
	}
	d.Mapping(root, "metrics file", nil, func(key string, k, v *yaml.Node) {
		switch {
		case key == "metrics":
			d.Mapping(v, "metrics", nil, func(name string, k, v *yaml.Node) {
				addMetric(k, v, "metrics."+name)
			})
		case key == "checks":
			d.Mapping(v, "checks", nil, func(name string, k, v *yaml.Node) {
				if !strictyaml.ValidName(name) {
					d.Errorf(k, "checks: %q is not a valid check name", name)
					return
				}
				if b, ok := d.Boolean(v, "checks."+name); ok {
					e.Checks[name] = b
				}
			})
		case key == "groups":
			e.Groups = d.groups(v)
		case strictyaml.Contains(evidenceMetadata, key):
			// Information for people; not evidence.
		case v.Kind == yaml.ScalarNode && v.Tag == "!!bool":
			d.Errorf(k, "%s: a boolean at the top level is not a metric; put named booleans under \"checks\"", key)
		case v.Kind == yaml.ScalarNode:
			addMetric(k, v, key)
		default:
			d.Errorf(k, "%s: want a number (a metric) or one of metrics, checks, groups, %s; got %s", key, strings.Join(evidenceMetadata, ", "), strictyaml.KindName(v))
		}
	})
	if len(d.Problems) > before {
		return e
	}
	e.deriveFairness(d, root)
	return e
}

// Digest returns the digest of the evidence as the gate judges it: its
// metrics (with the fairness metrics its groups give), checks and groups,
// by promote.MetricsDigest. The audit events of a gate's decision record
// it for the candidate and the baseline, so that a metrics file's Digest
// shows whether the file holds the metrics that were judged, whatever its
// layout, order or spacing.
func (e *Evidence) Digest() (string, error) {
	return promote.MetricsDigest(e.Metrics, e.Checks, e.Groups)
}

func (d *decoder) groups(n *yaml.Node) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	d.Mapping(n, "groups", nil, func(group string, k, v *yaml.Node) {
		stats := map[string]float64{}
		what := "groups." + group
		d.Mapping(v, what, nil, func(stat string, k, v *yaml.Node) {
			x, ok := d.Number(v, what+"."+stat)
			if !ok {
				return
			}
			switch stat {
			case StatSelectionRate, StatTPR, StatFPR:
				if x < 0 || x > 1 {
					d.Errorf(v, "%s.%s: %v is not a rate between 0 and 1", what, stat, x)
					return
				}
			case StatCount:
				if x < 0 || x != math.Trunc(x) {
					d.Errorf(v, "%s.%s: %v is not a whole number of examples", what, stat, x)
					return
				}
			}
			stats[stat] = x
		})
		out[group] = stats
	})
	return out
}

// The fairness metrics derived from groups.
const (
	MetricDemographicParity = "demographic_parity_difference"
	MetricEqualOpportunity  = "equal_opportunity_difference"
	MetricEqualizedOdds     = "equalized_odds_difference"
)

// deriveFairness adds the fairness metrics that the groups support. A
// metric the file also gives directly must agree with the groups.
func (e *Evidence) deriveFairness(d *decoder, root *yaml.Node) {
	if len(e.Groups) == 0 {
		return
	}
	derived := map[string]func(map[string]map[string]float64) (float64, error){
		MetricDemographicParity: DemographicParityDifference,
		MetricEqualOpportunity:  EqualOpportunityDifference,
		MetricEqualizedOdds:     EqualizedOddsDifference,
	}
	for _, name := range strictyaml.SortedKeys(derived) {
		v, err := derived[name](e.Groups)
		if err != nil {
			if e.unavailable == nil {
				e.unavailable = map[string]string{}
			}
			e.unavailable[name] = err.Error()
			continue
		}
		if given, ok := e.Metrics[name]; ok {
			if math.Abs(given-v) > 1e-9 {
				d.Errorf(root, "%s: the file gives %v but its groups give %v", name, given, v)
			}
			continue
		}
		e.Metrics[name] = v
	}
}

// Merge adds other's metrics and checks to e. A metric or check present in
// both is an error naming it and the files that give it (the one merged
// into e earlier, when it came from there): evidence is never silently
// overwritten, and a refused Merge changes nothing.
func (e *Evidence) Merge(other *Evidence) error {
	for k := range other.Metrics {
		if _, dup := e.Metrics[k]; dup {
			return fmt.Errorf("metric %s is in both %s and %s", k, e.source("metric "+k), other.File)
		}
	}
	for k := range other.Checks {
		if _, dup := e.Checks[k]; dup {
			return fmt.Errorf("check %s is in both %s and %s", k, e.source("check "+k), other.File)
		}
	}
	if e.sources == nil {
		e.sources = map[string]string{}
	}
	if e.Metrics == nil && len(other.Metrics) > 0 {
		e.Metrics = map[string]float64{}
	}
	for k, v := range other.Metrics {
		e.Metrics[k] = v
		e.sources["metric "+k] = other.source("metric " + k)
	}
	if e.Checks == nil && len(other.Checks) > 0 {
		e.Checks = map[string]bool{}
	}
	for k, v := range other.Checks {
		e.Checks[k] = v
		e.sources["check "+k] = other.source("check " + k)
	}
	e.merged = append(e.merged, other.files()...)
	return nil
}

// files names the files e was read from: its own, then those merged in.
func (e *Evidence) files() []string {
	var out []string
	for _, f := range append([]string{e.File}, e.merged...) {
		if f != "" && !strictyaml.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// source returns the file that gave e's metric or check key ("metric f1"):
// the file merged into e that carried it, or e's own.
func (e *Evidence) source(key string) string {
	if f, ok := e.sources[key]; ok {
		return f
	}
	return e.File
}
