package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/strictyaml"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// gateSpec is one gate section as written, before the common section and an
// environment's section are merged.
type gateSpec struct {
	require    []string
	requireAt  map[string][2]int // where each required check is named: line, column
	rules      []*Rule
	approvals  *Approvals
	noBaseline NoBaseline
	// fairnessGroups, when the section lists them, replace the common
	// section's.
	fairnessGroups []string
	line           int
}

// Load parses, validates and compiles a policy. file names the source in
// error messages. Every problem found is reported at once in a *LoadError,
// each with file:line:column.
func Load(file string, data []byte) (*Policy, error) {
	d := newDecoder(file)
	d.lines = bytes.Split(data, []byte("\n"))
	root := d.Parse(data)
	if root == nil {
		return nil, d.Err()
	}
	p := &Policy{File: file, gates: map[string]*Gate{}, rollouts: map[string]*Rollout{}}
	var common *gateSpec
	envGates := map[string]*gateSpec{}
	sawGate := false
	var kindNode *yaml.Node
	d.Mapping(root, "policy", []string{"apiVersion", "kind", "metadata", "gate", "rollout", "environments"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "apiVersion":
			if s, ok := d.Str(v, "apiVersion"); ok {
				if s != APIVersion {
					d.Errorf(v, "apiVersion: %q is not supported (want %q)", s, APIVersion)
				}
				p.APIVersion = s
			}
		case "kind":
			kindNode = v
			if s, ok := d.Str(v, "kind"); ok && s != "Policy" {
				d.Errorf(v, "kind: %q is not supported (want \"Policy\")", s)
			}
		case "metadata":
			d.Mapping(v, "metadata", []string{"name", "description"}, func(key string, _, v *yaml.Node) {
				switch key {
				case "name":
					p.Name, _ = d.Name(v, "metadata.name")
				case "description":
					p.Description, _ = d.Str(v, "metadata.description")
				}
			})
		case "gate":
			sawGate = true
			common = d.gate(v, "gate")
		case "rollout":
			p.rollouts[""] = d.rollout(v, "rollout")
		case "environments":
			d.Mapping(v, "environments", nil, func(env string, k, v *yaml.Node) {
				if !strictyaml.ValidName(env) {
					d.Errorf(k, "environments: %q is not a valid environment name", env)
					return
				}
				p.envs = append(p.envs, env)
				if p.envAt == nil {
					p.envAt = map[string][2]int{}
				}
				p.envAt[env] = [2]int{k.Line, k.Column}
				what := "environments." + env
				d.Mapping(v, what, []string{"description", "gate", "rollout"}, func(key string, _, v *yaml.Node) {
					switch key {
					case "description":
						d.Str(v, what+".description")
					case "gate":
						sawGate = true
						envGates[env] = d.gate(v, what+".gate")
					case "rollout":
						p.rollouts[env] = d.rollout(v, what+".rollout")
					}
				})
			})
			if len(p.envs) == 0 && v.Kind == yaml.MappingNode {
				d.Errorf(v, "environments: empty; remove it or name at least one environment")
			}
		}
	})
	if p.APIVersion != "" && kindNode == nil {
		d.Errorf(root, "policy: kind is missing (want \"kind: Policy\" with apiVersion %s)", APIVersion)
	}
	if !sawGate && len(d.Problems) == 0 {
		d.Errorf(root, "policy: no gate section (want \"gate:\" with require, metrics, rules or approvals)")
	}
	if common == nil {
		common = &gateSpec{}
	}
	if len(p.envs) == 0 {
		p.gates[""] = d.compileGate(p, "", common, nil)
	}
	for _, env := range p.envs {
		p.gates[env] = d.compileGate(p, env, common, envGates[env])
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	p.Digest = "sha256:" + hex.EncodeToString(sum[:])
	for _, g := range p.gates {
		g.Source, g.Digest = file, p.Digest
	}
	return p, nil
}

// Gate returns the compiled gate for env. A policy without environment
// sections applies the same gate everywhere; a policy with them must be asked
// for one of its environments.
func (p *Policy) Gate(env string) (*Gate, error) {
	if len(p.envs) == 0 {
		g := *p.gates[""]
		g.Environment = env
		return &g, nil
	}
	if env == "" {
		return nil, promote.Errorf(promote.Invalid, "policy %s has environment sections (%s): name one with --env", p.File, strings.Join(p.envs, ", "))
	}
	g, ok := p.gates[env]
	if !ok {
		return nil, promote.Errorf(promote.Invalid, "policy %s has no environment %q (it has %s)", p.File, env, strings.Join(p.envs, ", "))
	}
	return g, nil
}

var gateKeys = []string{"require", "metrics", "rules", "approvals", "noBaseline", "fairnessGroups"}

func (d *decoder) gate(n *yaml.Node, what string) *gateSpec {
	g := &gateSpec{requireAt: map[string][2]int{}, line: n.Line}
	names := map[string]int{}
	addRule := func(r *Rule) {
		if r == nil {
			return
		}
		if line, dup := names[r.Name]; dup {
			d.Errorf(&yaml.Node{Line: r.Line, Column: r.col}, "%s: rule name %q used twice (first at line %d)", what, r.Name, line)
			return
		}
		names[r.Name] = r.Line
		g.rules = append(g.rules, r)
	}
	d.Mapping(n, what, gateKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "require":
			for _, c := range d.Names(v, what+".require") {
				g.require = append(g.require, c)
				g.requireAt[c] = [2]int{v.Line, v.Column}
				for _, item := range v.Content {
					if item.Value == c {
						g.requireAt[c] = [2]int{item.Line, item.Column}
					}
				}
			}
		case "metrics":
			d.Mapping(v, what+".metrics", nil, func(metric string, k, v *yaml.Node) {
				addRule(d.metricEntry(k, v, what+".metrics."+metric))
			})
		case "rules":
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "%s.rules: want a list of rules, got %s", what, strictyaml.KindName(v))
				return
			}
			for i, item := range v.Content {
				addRule(d.rule(item, fmt.Sprintf("%s.rules[%d]", what, i), true, i))
			}
		case "approvals":
			g.approvals = d.approvals(v, what+".approvals")
		case "noBaseline":
			if s, ok := d.OneOf(v, what+".noBaseline", string(NoBaselineFail), string(NoBaselinePass)); ok {
				g.noBaseline = NoBaseline(s)
			}
		case "fairnessGroups":
			g.fairnessGroups = d.fairnessGroups(v, what+".fairnessGroups")
		}
	})
	return g
}

// fairnessGroups reads the groups a fairness metric must be a gap over.
// They are the evidence's group names, which may be any non-empty string
// ("65+", "Black or African American"), not only names.
func (d *decoder) fairnessGroups(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "%s: want a list of the groups fairness metrics must cover, got %s", what, strictyaml.KindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		s, ok := d.Str(item, what)
		switch {
		case !ok:
			continue
		case s == "":
			d.Errorf(item, "%s: a group name is empty", what)
			continue
		case slices.Contains(out, s):
			d.Errorf(item, "%s: %q listed twice", what, s)
			continue
		}
		out = append(out, s)
	}
	if len(n.Content) < 2 {
		d.Errorf(n, "%s: a fairness metric is a gap between groups; list at least two", what)
	}
	return out
}

// metricEntry reads one entry of a gate's metrics map: either the seed's
// `NAME: "OP NUMBER"` or a mapping with threshold, severity and description.
func (d *decoder) metricEntry(k, v *yaml.Node, what string) *Rule {
	r := &Rule{Name: k.Value, Kind: KindMetric, Severity: SeverityBlock, Metric: k.Value, Line: k.Line, col: k.Column}
	if !d.metricName(k, what, k.Value) {
		return nil
	}
	if v.Kind == yaml.MappingNode {
		sawThreshold := false
		d.Mapping(v, what, []string{"threshold", "severity", "description"}, func(key string, _, v *yaml.Node) {
			switch key {
			case "threshold":
				sawThreshold = true
				d.threshold(v, what+".threshold", r)
			case "severity":
				if s, ok := d.OneOf(v, what+".severity", string(SeverityBlock), string(SeverityWarn)); ok {
					r.Severity = Severity(s)
				}
			case "description":
				r.Description, _ = d.Str(v, what+".description")
			}
		})
		if !sawThreshold {
			d.Errorf(v, "%s: threshold is missing", what)
			return nil
		}
		return r
	}
	d.threshold(v, what, r)
	return r
}

// threshold reads a threshold for r.Metric and checks that a percent
// threshold goes with a relative change and only with one.
func (d *decoder) threshold(n *yaml.Node, what string, r *Rule) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, "%s: want a threshold such as \">= 0.9\", got %s", what, strictyaml.KindName(n))
		return
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		d.Errorf(n, "%s: %s has no operator; write it as a string such as \">= %s\"", what, n.Value, n.Value)
		return
	}
	t, err := ParseThreshold(n.Value)
	if err != nil {
		d.Errorf(n, "%s: %v", what, err)
		return
	}
	r.ref = parseMetricRef(r.Metric)
	switch {
	case r.ref.mode == modeChange && !t.Percent:
		d.Errorf(n, "%s: %s is a relative change; write its threshold in percent, e.g. \"%s %s%%\"", what, r.Metric, t.Op, trimNum(t.Value*100))
		return
	case r.ref.mode != modeChange && t.Percent:
		d.Errorf(n, "%s: a percent threshold needs a relative change: use %s_change, or drop the %%", what, r.ref.base)
		return
	}
	r.Threshold = t
}

func trimNum(v float64) string { return fmt.Sprintf("%g", v) }

func (d *decoder) metricName(n *yaml.Node, what, name string) bool {
	if !strictyaml.ValidName(name) {
		d.Errorf(n, "%s: %q is not a valid metric name (letters, digits, _ . - only, starting with a letter)", what, name)
		return false
	}
	ref := parseMetricRef(name)
	if ref.base == "" {
		d.Errorf(n, "%s: %q names no metric before its suffix", what, name)
		return false
	}
	return true
}

var ruleKeys = []string{"name", "description", "severity", "metric", "threshold", "expr", "any", "all"}

// rule reads one rule of a rules list, or a child of an any/all group
// (top is false). A child may be written as the shorthand `METRIC: "OP N"`.
func (d *decoder) rule(n *yaml.Node, what string, top bool, index int) *Rule {
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && !strictyaml.Contains(ruleKeys, n.Content[0].Value) {
		k, v := n.Content[0], n.Content[1]
		if s := strictyaml.Suggest(k.Value, ruleKeys); s != "" && !top {
			d.Errorf(k, "%s: unknown key %q (did you mean %q?)", what, k.Value, s)
			return nil
		}
		if top {
			d.Errorf(k, "%s: unknown key %q; a rule has %s", what, k.Value, strings.Join(ruleKeys, ", "))
			return nil
		}
		r := &Rule{Name: k.Value, Kind: KindMetric, Metric: k.Value, Line: k.Line, col: k.Column}
		if !d.metricName(k, what, k.Value) {
			return nil
		}
		d.threshold(v, what+"."+k.Value, r)
		return r
	}
	r := &Rule{Severity: SeverityBlock, Line: n.Line, col: n.Column}
	var thresholdNode *yaml.Node
	kinds := 0
	d.Mapping(n, what, ruleKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			r.Name, _ = d.Name(v, what+".name")
		case "description":
			r.Description, _ = d.Str(v, what+".description")
		case "severity":
			if !top {
				d.Errorf(k, "%s: severity belongs on the group, not on one of its members", what)
				return
			}
			if s, ok := d.OneOf(v, what+".severity", string(SeverityBlock), string(SeverityWarn)); ok {
				r.Severity = Severity(s)
			}
		case "metric":
			kinds++
			r.Kind = KindMetric
			if s, ok := d.Str(v, what+".metric"); ok && d.metricName(v, what+".metric", s) {
				r.Metric = s
			}
		case "threshold":
			thresholdNode = v
		case "expr":
			kinds++
			r.Kind = KindExpr
			r.Expr, _ = d.Str(v, what+".expr")
			r.Line, r.col = v.Line, v.Column
			r.exprAt = exprTextOf(d.lines, k, v, r.Expr)
		case "any", "all":
			kinds++
			r.Kind = KindAny
			if key == "all" {
				r.Kind = KindAll
			}
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				d.Errorf(v, "%s.%s: want a non-empty list of rules, got %s", what, key, strictyaml.KindName(v))
				return
			}
			for i, item := range v.Content {
				if c := d.rule(item, fmt.Sprintf("%s.%s[%d]", what, key, i), false, i); c != nil {
					r.Children = append(r.Children, c)
				}
			}
		}
	})
	switch {
	case kinds == 0:
		d.Errorf(n, "%s: a rule needs one of metric (with threshold), expr, any or all", what)
		return nil
	case kinds > 1:
		d.Errorf(n, "%s: a rule has exactly one of metric, expr, any or all", what)
		return nil
	}
	if r.Kind == KindMetric {
		if thresholdNode == nil {
			d.Errorf(n, "%s: metric %s needs a threshold", what, r.Metric)
			return nil
		}
		if r.Metric != "" {
			d.threshold(thresholdNode, what+".threshold", r)
		}
	} else if thresholdNode != nil {
		d.Errorf(thresholdNode, "%s: threshold goes with metric, not with %s", what, r.Kind)
	}
	if r.Name == "" {
		switch {
		case r.Kind == KindMetric && r.Metric != "":
			r.Name = r.Metric
		case top:
			r.Name = fmt.Sprintf("rule-%d", index+1)
		default:
			r.Name = fmt.Sprintf("%s-%d", r.Kind, index+1)
		}
	}
	return r
}

func (d *decoder) approvals(n *yaml.Node, what string) *Approvals {
	a := &Approvals{line: n.Line}
	sawMin := false
	d.Mapping(n, what, []string{"min", "roles", "allowSelfApproval"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "min":
			sawMin = true
			a.Min, _ = d.Integer(v, what+".min", 0, 100)
		case "roles":
			a.Roles = d.Names(v, what+".roles")
		case "allowSelfApproval":
			a.AllowSelfApproval, _ = d.Boolean(v, what+".allowSelfApproval")
		}
	})
	if !sawMin && n.Kind == yaml.MappingNode {
		d.Errorf(n, "%s: min is missing (the number of distinct approvers needed)", what)
	}
	return a
}

func (d *decoder) rollout(n *yaml.Node, what string) *Rollout {
	r := &Rollout{Analysis: Analysis{Alpha: 0.01}, Rollback: Rollback{Automatic: true, Hold: true, When: slices.Clone(rollbackTriggers[:2])}}
	var stepsNode *yaml.Node
	d.Mapping(n, what, []string{"strategy", "steps", "analysis", "shadow", "rollback", "traffic"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "traffic":
			r.Traffic = d.traffic(v, what+".traffic")
		case "strategy":
			r.Strategy, _ = d.OneOf(v, what+".strategy", StrategyDirect, StrategyCanary, StrategyShadow)
		case "steps":
			stepsNode = v
			r.Steps = d.steps(v, what+".steps")
		case "analysis":
			d.analysis(v, what+".analysis", &r.Analysis)
		case "shadow":
			r.Shadow = d.shadow(v, what+".shadow")
		case "rollback":
			d.Mapping(v, what+".rollback", []string{"automatic", "hold", "when"}, func(key string, _, v *yaml.Node) {
				switch key {
				case "automatic":
					r.Rollback.Automatic, _ = d.Boolean(v, what+".rollback.automatic")
				case "hold":
					r.Rollback.Hold, _ = d.Boolean(v, what+".rollback.hold")
				case "when":
					r.Rollback.When = nil
					for _, t := range d.Names(v, what+".rollback.when") {
						if !strictyaml.Contains(rollbackTriggers, t) {
							d.Errorf(v, "%s.rollback.when: %q is not one of %s", what, t, strings.Join(rollbackTriggers, ", "))
							continue
						}
						r.Rollback.When = append(r.Rollback.When, t)
					}
				}
			})
		}
	})
	if n.Kind != yaml.MappingNode {
		return r
	}
	switch r.Strategy {
	case "":
		if stepsNode != nil {
			r.Strategy = StrategyCanary
		} else {
			d.Errorf(n, "%s: strategy is missing (direct, canary or shadow)", what)
		}
	case StrategyCanary:
		if stepsNode == nil {
			d.Errorf(n, "%s: a canary needs steps, e.g. [10, 50, 100]", what)
		}
	case StrategyDirect, StrategyShadow:
		if stepsNode != nil {
			d.Errorf(stepsNode, "%s.steps: steps go with strategy canary, not %s", what, r.Strategy)
		}
	}
	if r.Strategy == StrategyShadow && r.Analysis.History != nil {
		// A shadow's errors count its answers that differ from stable's,
		// which stable's past error rate knows nothing of.
		d.Errorf(n, "%s.analysis.history: goes with strategy canary, not %s: a shadow's errors count its answers that differ from stable's", what, r.Strategy)
	}
	if r.Strategy == StrategyShadow && r.Shadow == nil {
		r.Shadow = &Shadow{Duration: defaultShadowDuration, Percent: 100}
	}
	return r
}

func (d *decoder) steps(n *yaml.Node, what string) []Step {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.Errorf(n, "%s: want a non-empty list of steps, e.g. [10, 50, 100], got %s", what, strictyaml.KindName(n))
		return nil
	}
	var steps []Step
	last := 0
	for i, item := range n.Content {
		at := fmt.Sprintf("%s[%d]", what, i)
		s := Step{}
		ok := true
		if item.Kind == yaml.MappingNode {
			sawWeight := false
			d.Mapping(item, at, []string{"weight", "minDuration", "minRequests", "confirm"}, func(key string, _, v *yaml.Node) {
				switch key {
				case "weight":
					sawWeight = true
					s.Weight, ok = d.Integer(v, at+".weight", 1, 100)
				case "minDuration":
					s.MinDuration, _ = d.Duration(v, at+".minDuration")
				case "minRequests":
					s.MinRequests, _ = d.Integer(v, at+".minRequests", 0, 1<<30)
				case "confirm":
					s.Confirm, _ = d.Boolean(v, at+".confirm")
				}
			})
			if !sawWeight {
				d.Errorf(item, "%s: weight is missing", at)
				ok = false
			}
		} else {
			s.Weight, ok = d.Integer(item, at, 1, 100)
		}
		if !ok {
			continue
		}
		if s.Weight <= last {
			d.Errorf(item, "%s: weight %d must be greater than the step before (%d)", at, s.Weight, last)
			continue
		}
		last = s.Weight
		steps = append(steps, s)
	}
	// Steps that stop short of 100 end as Argo Rollouts' and Flagger's do:
	// after the last, the new version takes all traffic. That is a step of
	// 100 with no minimum, written out so that every view shows it.
	if last != 0 && last != 100 && len(steps) == len(n.Content) {
		steps = append(steps, Step{Weight: 100})
	}
	return steps
}

const defaultShadowDuration = 30 * 60 * 1e9 // 30 minutes

// MinAnalysisInterval is the shortest analysis.interval a policy may set.
const MinAnalysisInterval = 10 * time.Millisecond

// MinHistoryWindow is the shortest analysis.history.window a policy may
// set: a shorter past holds too few of stable's requests to judge by.
const MinHistoryWindow = time.Hour

func (d *decoder) analysis(n *yaml.Node, what string, a *Analysis) {
	d.Mapping(n, what, []string{"interval", "alpha", "errorShare", "maxNoData", "maxQueryErrors", "slos", "history"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "history":
			a.History = d.history(v, what+".history")
		case "interval":
			a.Interval, _ = d.Duration(v, what+".interval")
			if a.Interval > 0 && a.Interval < MinAnalysisInterval {
				d.Errorf(v, "%s.interval: %s is shorter than %s: the controller would judge without pause", what, a.Interval, MinAnalysisInterval)
			}
		case "alpha":
			if x, ok := d.Number(v, what+".alpha"); ok {
				if x <= 0 || x >= 0.5 {
					d.Errorf(v, "%s.alpha: %v is out of range (0 < alpha < 0.5; 0.01 is usual)", what, x)
				}
				a.Alpha = x
			}
		case "errorShare":
			if x, ok := d.fraction(v, what, "errorShare", "0.75 by default, 0.5 for an even split"); ok {
				a.ErrorShare = x
			}
		case "maxNoData":
			a.MaxNoData, _ = d.Duration(v, what+".maxNoData")
		case "maxQueryErrors":
			a.MaxQueryErrors, _ = d.Integer(v, what+".maxQueryErrors", 1, 1000)
		case "slos":
			d.Mapping(v, what+".slos", nil, func(metric string, k, v *yaml.Node) {
				r := &Rule{Metric: metric}
				if !d.metricName(k, what+".slos", metric) {
					return
				}
				if metric != "error_rate" && metric != "latency_p95_ms" {
					d.Errorf(k, "%s.slos: %q is not guarded during a rollout (error_rate, latency_p95_ms)", what, metric)
					return
				}
				d.threshold(v, what+".slos."+metric, r)
				switch op := r.Threshold.Op; {
				case op == 0: // not a threshold: reported
				case op != OpLE && op != OpLT:
					d.Errorf(v, "%s.slos.%s: %q: a guard is an upper limit, with <= or <", what, metric, r.Threshold.String())
				default:
					if problem := sloLimitProblem(metric, r.Threshold.Value); problem != "" {
						d.Errorf(v, "%s.slos.%s: %q: %s", what, metric, v.Value, problem)
					}
				}
				a.SLOs = append(a.SLOs, SLO{Metric: metric, Threshold: r.Threshold})
			})
		}
	})
}

// fraction reads what's key, a number strictly between 0 and 1 (a share
// of a level); usual says its default when it is out of range.
func (d *decoder) fraction(v *yaml.Node, what, key, usual string) (float64, bool) {
	x, ok := d.Number(v, what+"."+key)
	if ok && (x <= 0 || x >= 1) {
		d.Errorf(v, "%s.%s: %v is out of range (0 < %s < 1; %s)", what, key, x, key, usual)
	}
	return x, ok
}

// history decodes an analysis's history section.
func (d *decoder) history(n *yaml.Node, what string) *History {
	h := &History{}
	sawWindow := false
	d.Mapping(n, what, []string{"window", "share"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "window":
			sawWindow = true
			if w, ok := d.Duration(v, what+".window"); ok {
				if w < MinHistoryWindow {
					d.Errorf(v, "%s.window: %s is shorter than %s: stable's past over it holds too few requests to judge by (168h is usual)", what, w, MinHistoryWindow)
				}
				h.Window = w
			}
		case "share":
			if x, ok := d.fraction(v, what, "share", "0.75 by default"); ok {
				h.Share = x
			}
		}
	})
	if !sawWindow && n.Kind == yaml.MappingNode {
		d.Errorf(n, "%s: window is missing (how far back stable's past is read, at least %s, e.g. 168h)", what, MinHistoryWindow)
	}
	return h
}

// sloLimitProblem says what is wrong with the limit v of a rollout's SLO
// guard on metric, or returns "". The analysis takes a limit of 0 as no
// guard at all and refuses an error rate above 1 or a negative latency
// when the rollout starts: a policy that says either would load, pass CI,
// and then leave its canary unguarded or every tick of its rollout
// failing, so it is refused here.
func sloLimitProblem(metric string, v float64) string {
	switch metric {
	case "error_rate":
		if !(v > 0 && v <= 1) {
			return `the limit is a share of requests, above 0 and at most 1 (e.g. "<= 0.01" for 1%)`
		}
	case "latency_p95_ms":
		ns := v * float64(time.Millisecond)
		switch {
		case !(ns >= 1):
			return `want a positive number of milliseconds, at least 0.000001 (a nanosecond), e.g. "<= 150"`
		case ns >= math.MaxInt64:
			return "too long a limit: want at most 9223372036854 milliseconds (about 292 years)"
		}
	}
	return ""
}

func (d *decoder) traffic(n *yaml.Node, what string) Traffic {
	var t Traffic
	var candidateAt *yaml.Node
	d.Mapping(n, what, []string{"stickyHeader", "stickyCookie", "healthPath", "candidateHeader"}, func(key string, _, v *yaml.Node) {
		s, ok := d.Str(v, what+"."+key)
		if !ok {
			return
		}
		switch key {
		case "stickyHeader", "candidateHeader":
			if err := traffic.CheckRouteHeader(s); err != nil {
				d.Errorf(v, "%s.%s: %v", what, key, err)
			}
			if key == "candidateHeader" {
				t.CandidateHeader, candidateAt = s, v
			} else {
				t.StickyHeader = s
			}
		case "stickyCookie":
			if (&http.Cookie{Name: s, Value: "x"}).Valid() != nil {
				d.Errorf(v, "%s.stickyCookie: %q is not a cookie name", what, s)
			}
			t.StickyCookie = s
		case "healthPath":
			if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?#") {
				d.Errorf(v, "%s.healthPath: %q: want an absolute path without a query, e.g. /healthz", what, s)
			}
			t.HealthPath = s
		}
	})
	if candidateAt != nil && t.StickyHeader != "" && http.CanonicalHeaderKey(t.CandidateHeader) == http.CanonicalHeaderKey(t.StickyHeader) {
		d.Errorf(candidateAt, "%s.candidateHeader: %q is the stickyHeader too: a client's identity would send it to the candidate", what, t.CandidateHeader)
	}
	return t
}

func (d *decoder) shadow(n *yaml.Node, what string) *Shadow {
	s := &Shadow{Duration: defaultShadowDuration, Percent: 100}
	d.Mapping(n, what, []string{"duration", "percent", "compareBodies"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "duration":
			s.Duration, _ = d.Duration(v, what+".duration")
		case "percent":
			s.Percent, _ = d.Integer(v, what+".percent", 1, 100)
		case "compareBodies":
			s.CompareBodies, _ = d.Boolean(v, what+".compareBodies")
		}
	})
	return s
}

// compileGate merges the common gate with an environment's section and
// compiles the result. An environment's rule replaces a common rule of the
// same name (so prod can tighten a threshold); requirements add up; the
// environment's approvals and noBaseline, when set, replace the common ones.
func (d *decoder) compileGate(p *Policy, env string, common, spec *gateSpec) *Gate {
	g := &Gate{Policy: p.Name, Environment: env, NoBaseline: NoBaselineFail}
	require := append([]string(nil), common.require...)
	rules := append([]*Rule(nil), common.rules...)
	g.Approvals = common.approvals
	if common.noBaseline != "" {
		g.NoBaseline = common.noBaseline
	}
	g.FairnessGroups = common.fairnessGroups
	if spec != nil {
		for _, c := range spec.require {
			if !strictyaml.Contains(require, c) {
				require = append(require, c)
			}
		}
		for _, r := range spec.rules {
			replaced := false
			for i, old := range rules {
				if old.Name == r.Name {
					rules[i], replaced = r, true
				}
			}
			if !replaced {
				rules = append(rules, r)
			}
		}
		if spec.approvals != nil {
			g.Approvals = spec.approvals
		}
		if spec.noBaseline != "" {
			g.NoBaseline = spec.noBaseline
		}
		if spec.fairnessGroups != nil {
			g.FairnessGroups = spec.fairnessGroups
		}
	}
	for _, c := range require {
		at := common.requireAt[c]
		if spec != nil && spec.requireAt[c][0] != 0 {
			at = spec.requireAt[c]
		}
		g.Rules = append(g.Rules, &Rule{Name: c, Kind: KindRequire, Severity: SeverityBlock, Check: c, Line: at[0], col: at[1],
			messages: [2]string{c + " is false", c + " is true"}})
	}
	for _, r := range rules {
		compiled := d.compileRule(r, r.Severity)
		for _, x := range g.Rules {
			if x.Name == compiled.Name {
				d.Errorf(&yaml.Node{Line: r.Line, Column: r.col}, "rule %q has the name of a required check; rename it", r.Name)
			}
		}
		g.Rules = append(g.Rules, compiled)
		g.needsCEL = g.needsCEL || compiled.needsCEL()
		g.collectDerived(compiled)
	}
	if g.Approvals != nil && g.Approvals.Min > 0 {
		for _, x := range g.Rules {
			if x.Name == "approvals" {
				d.Errorf(&yaml.Node{Line: x.Line, Column: x.col}, "rule %q has the name of the approvals rule; rename it", x.Name)
			}
		}
		g.Rules = append(g.Rules, &Rule{Name: "approvals", Kind: KindApprovals, Severity: SeverityBlock, Line: g.Approvals.line,
			Threshold: Threshold{Op: OpGE, Value: float64(g.Approvals.Min), text: fmt.Sprintf(">= %d", g.Approvals.Min)}})
	}
	if len(g.Rules) == 0 {
		where := "the policy"
		if env != "" {
			where = "environment " + env
		}
		d.Errorf(&yaml.Node{Line: common.line, Column: 1}, "%s has an empty gate: no rule, requirement or approval, so it would allow anything; add at least one", where)
	}
	return g
}

// compileRule returns a copy of r ready to evaluate: expressions compiled,
// severities set on children, baseline needs worked out. A copy, because
// the same written rule may serve several environments.
func (d *decoder) compileRule(r *Rule, sev Severity) *Rule {
	c := *r
	c.Severity = sev
	c.Children = nil
	switch r.Kind {
	case KindMetric:
		c.usesBaseline = c.ref.mode != modeValue
	case KindExpr:
		if r.prog == nil {
			d.compileExpr(&c)
			r.prog, r.exprRefs, r.derivedWhole, r.usesBaseline, r.handlesNoBaseline = c.prog, c.exprRefs, c.derivedWhole, c.usesBaseline, c.handlesNoBaseline
		}
	case KindAny, KindAll:
		for _, child := range r.Children {
			cc := d.compileRule(child, sev)
			c.usesBaseline = c.usesBaseline || cc.usesBaseline
			c.Children = append(c.Children, cc)
		}
	}
	return &c
}

// collectDerived records which deltas and changes r's expressions read.
func (g *Gate) collectDerived(r *Rule) {
	if r.Kind == KindExpr {
		g.deriveAll = g.deriveAll || r.derivedWhole
		for _, ref := range r.exprRefs {
			if (ref.variable == "delta" || ref.variable == "change") && !strictyaml.Contains(g.deriveKeys, ref.key) {
				g.deriveKeys = append(g.deriveKeys, ref.key)
			}
		}
	}
	for _, c := range r.Children {
		g.collectDerived(c)
	}
}

func (r *Rule) needsCEL() bool {
	if r.Kind == KindExpr {
		return true
	}
	for _, c := range r.Children {
		if c.needsCEL() {
			return true
		}
	}
	return false
}
