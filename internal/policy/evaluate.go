package policy

import (
	"fmt"

	"math"
	"strconv"
	"strings"

	"github.com/google/cel-go/interpreter"

	"github.com/promote-ml/promote/internal/strictyaml"
)

// Status is the outcome of one rule.
type Status string

// The outcomes of a rule. Fail and Error block (unless the rule only warns);
// Error means the rule could not be judged: a metric missing or undefined.
const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusWarn  Status = "warn"
	StatusError Status = "error"
)

// Approver is a person who approved, with the roles they hold.
type Approver struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles,omitempty"`
}

// Input is everything one evaluation judges.
type Input struct {
	Candidate *Evidence
	Baseline  *Evidence // nil when there is no baseline
	// Signed is true only when the artifact's signature was verified against
	// a trusted key; SignatureNote says what was checked, or why it failed.
	Signed        bool
	SignatureNote string
	// SignatureChecked is true when a signature was given to check. One that
	// does not verify blocks even when the policy does not require a
	// signature: a bad signature is a warning sign, never ignored.
	SignatureChecked bool
	Approvers        []Approver
	RequestedBy      string
}

// Result is the outcome of one rule, with the numbers it judged.
type Result struct {
	Rule        string   `json:"rule"`
	Kind        RuleKind `json:"kind"`
	Status      Status   `json:"status"`
	Severity    Severity `json:"severity,omitempty"`
	Description string   `json:"description,omitempty"`
	Metric      string   `json:"metric,omitempty"`
	Candidate   *float64 `json:"candidate"`
	Baseline    *float64 `json:"baseline"`
	// Actual is the value judged: a number (a metric, a delta, a change in
	// percent, a count of approvers) or a boolean (a check, an expression).
	Actual    any      `json:"actual"`
	Threshold string   `json:"threshold"`
	Message   string   `json:"message"`
	Line      int      `json:"line,omitempty"` // where the rule is written in the policy file
	Children  []Result `json:"children,omitempty"`
	// Approvals is, on the approvals rule, how it counted: the policy's
	// settings and the approvers it counted, so that a reader needs no
	// parsing of Threshold or Message.
	Approvals *ApprovalTally `json:"approvals,omitempty"`
}

// ApprovalTally is how the approvals rule counted approvers: the policy's
// approval settings (Min distinct approvers, the Roles one of which each
// must hold, whether the requester may approve) and, in order, the
// approvers it counted, each person once.
type ApprovalTally struct {
	Min               int      `json:"min"`
	Roles             []string `json:"roles"`
	AllowSelfApproval bool     `json:"allow_self_approval"`
	Counted           []string `json:"counted"`
}

// Summary counts results by status.
type Summary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Warn  int `json:"warn"`
	Error int `json:"error"`
}

// Decision is the verdict of a gate: allowed or blocked, with every reason.
type Decision struct {
	Allowed     bool     `json:"allowed"`
	Policy      string   `json:"policy,omitempty"`
	Environment string   `json:"environment,omitempty"`
	HasBaseline bool     `json:"has_baseline"`
	Results     []Result `json:"results"`
	Summary     Summary  `json:"summary"`
}

// Blocking returns the results that block the promotion.
func (d *Decision) Blocking() []Result {
	var out []Result
	for _, r := range d.Results {
		if r.Status == StatusFail || r.Status == StatusError {
			out = append(out, r)
		}
	}
	return out
}

// Evaluate judges in against the gate. It never returns an error: a rule
// that cannot be judged is a result with status error, which blocks.
func (g *Gate) Evaluate(in Input) *Decision {
	if in.Candidate == nil {
		in.Candidate = &Evidence{}
	}
	ev := &evaluation{gate: g, in: in}
	d := &Decision{Policy: g.Policy, Environment: g.Environment, HasBaseline: in.Baseline != nil, Results: make([]Result, 0, len(g.Rules)+1)}
	rules := g.Rules
	if in.SignatureChecked && !in.Signed && !g.requires(CheckArtifactSigned) {
		rules = append([]*Rule{{Name: CheckArtifactSigned, Kind: KindRequire, Severity: SeverityBlock, Check: CheckArtifactSigned}}, rules...)
	}
	for _, r := range rules {
		res := ev.rule(r)
		if r.Severity == SeverityWarn && (res.Status == StatusFail || res.Status == StatusError) {
			res.Status = StatusWarn
		}
		switch res.Status {
		case StatusPass:
			d.Summary.Pass++
		case StatusFail:
			d.Summary.Fail++
		case StatusWarn:
			d.Summary.Warn++
		case StatusError:
			d.Summary.Error++
		}
		d.Results = append(d.Results, res)
	}
	d.Allowed = d.Summary.Fail == 0 && d.Summary.Error == 0
	return d
}

func (g *Gate) requires(check string) bool {
	for _, r := range g.Rules {
		if r.Kind == KindRequire && r.Check == check {
			return true
		}
	}
	return false
}

// evaluation holds the state of one Evaluate call; the CEL variables are
// built once, on first use.
type evaluation struct {
	gate          *Gate
	in            Input
	delta, change map[string]float64
	checkVals     map[string]bool
	leftOut       map[string]string // why a metric's delta or change is left out of the maps (not finite, other groups)
	nums          []float64         // backing for the results' candidate and baseline values

	// uncovered says which groups the candidate's fairness metrics leave
	// out (empty when none), worked out once, on first use.
	uncovered     string
	uncoveredDone bool
	candMetrics   map[string]float64 // the CEL candidate map; nil until built
}

// num returns a pointer to a copy of x, from one backing array per
// evaluation instead of one allocation per value. Growing the array leaves
// earlier pointers valid: they keep the old one alive.
func (ev *evaluation) num(x float64) *float64 {
	if len(ev.nums) == cap(ev.nums) {
		ev.nums = make([]float64, 0, 2*len(ev.gate.Rules)+8)
	}
	ev.nums = append(ev.nums, x)
	return &ev.nums[len(ev.nums)-1]
}

func (ev *evaluation) rule(r *Rule) Result {
	res := Result{Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Description: r.Description, Metric: r.Metric, Line: r.Line}
	if r.Threshold.Op != 0 {
		res.Threshold = r.Threshold.String()
	}
	if r.usesBaseline && ev.in.Baseline == nil && !r.handlesNoBaseline && r.Kind != KindAny && r.Kind != KindAll {
		if ev.gate.NoBaseline == NoBaselinePass {
			res.Status, res.Message = StatusPass, "no baseline to compare with; passes because the policy says noBaseline: pass"
		} else {
			res.Status, res.Message = StatusFail, "no baseline to compare with; fails closed (set noBaseline: pass to allow a first version)"
		}
		return res
	}
	switch r.Kind {
	case KindMetric:
		ev.metric(r, &res)
	case KindRequire:
		ev.require(r, &res)
	case KindApprovals:
		ev.approvals(&res)
	case KindExpr:
		ev.expr(r, &res)
	case KindAny, KindAll:
		ev.group(r, &res)
	default:
		res.Status, res.Message = StatusError, fmt.Sprintf("unknown rule kind %q", r.Kind)
	}
	return res
}

func (ev *evaluation) metric(r *Rule, res *Result) {
	base := r.ref.base
	c, ok := ev.in.Candidate.Metrics[base]
	if !ok {
		res.Status, res.Message = StatusError, missingMetric(ev.in.Candidate, "candidate", base)
		return
	}
	res.Candidate = ev.num(c)
	actual := c
	if r.ref.mode == modeValue {
		// A rule on the candidate's value alone does not judge the
		// baseline, but whoever decides compares the two: the baseline's
		// value is shown beside it when the baseline reports the metric.
		if b, ok := ev.baseline()[base]; ok && !math.IsNaN(b) && !math.IsInf(b, 0) {
			res.Baseline = ev.num(b)
		}
	} else {
		b, ok := ev.in.Baseline.Metrics[base]
		if !ok {
			res.Status, res.Message = StatusError, missingMetric(ev.in.Baseline, "baseline", base)
			return
		}
		res.Baseline = ev.num(b)
		if r.ref.fairness {
			if why := incomparableGroups(base, ev.in.Candidate, ev.in.Baseline); why != "" {
				res.Status, res.Message = StatusError, why
				return
			}
		}
	}
	if r.ref.fairness {
		if why := ev.uncoveredGroups(base); why != "" {
			res.Status, res.Message = StatusError, why
			return
		}
	}
	switch r.ref.mode {
	case modeDelta:
		actual = roundSig(c - *res.Baseline)
	case modeChange:
		b := *res.Baseline
		if b == 0 {
			res.Status, res.Message = StatusError, fmt.Sprintf("%s: the relative change is undefined because the baseline's %s is 0; use %s_delta", r.Metric, base, base)
			return
		}
		actual = roundSig((c - b) / math.Abs(b) * 100)
	}
	if math.IsInf(actual, 0) || math.IsNaN(actual) {
		res.Status, res.Message = StatusError, fmt.Sprintf("%s is not a finite number: %v against %v overflows", r.Metric, c, *res.Baseline)
		return
	}
	res.Actual = actual
	var buf [160]byte
	b := append(buf[:0], r.Metric...)
	b = append(b, ' ')
	b = appendValue(b, actual, r.Threshold.Percent)
	if r.Threshold.Holds(actual) {
		res.Status = StatusPass
		b = append(b, ' ')
	} else {
		res.Status = StatusFail
		b = append(b, " is not "...)
	}
	res.Message = string(append(b, r.Threshold.String()...))
}

// missingMetric explains a metric's absence, suggesting a near name.
func missingMetric(e *Evidence, side, name string) string {
	if why, ok := e.unavailable[name]; ok {
		return fmt.Sprintf("the %s's %s cannot be computed from its groups: %s", side, name, why)
	}
	msg := fmt.Sprintf("the %s has no metric %s", side, name)
	// With drift reports merged in, the metric may belong in any of them.
	if files := e.files(); len(files) > 0 {
		last := len(files) - 1
		in := files[last]
		if last > 0 {
			in = strings.Join(files[:last], ", ") + " or " + in
		}
		msg += " (in " + in + ")"
	}
	if s := strictyaml.Suggest(name, strictyaml.SortedKeys(e.Metrics)); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	return msg
}

// missingCheck explains a check's absence, suggesting a near name.
func missingCheck(e *Evidence, name string) string {
	msg := fmt.Sprintf("the candidate has no check %s", name)
	if s := strictyaml.Suggest(name, strictyaml.SortedKeys(e.Checks)); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	return msg
}

// missingRefs explains the metrics and checks an expression reads that the
// evidence does not have, as the threshold rules do (missingMetric,
// missingCheck): CEL says only "no such key", and a misspelt name
// (candidate.acuracy) deserves the name it was probably meant to be. A
// delta or change is missing when either side lacks the metric. Values
// left out for a reason (fairness groups, an overflow) are described by
// describeRefs already, and a missing baseline by the rules that need one.
func (ev *evaluation) missingRefs(refs []exprRef) string {
	var out []string
	add := func(msg string) {
		if !strictyaml.Contains(out, msg) {
			out = append(out, msg)
		}
	}
	cand := ev.in.Candidate
	for _, r := range refs {
		switch r.variable {
		case "checks":
			if _, ok := cand.Checks[r.key]; !ok {
				add(missingCheck(cand, r.key))
			}
		case "candidate", "delta", "change":
			if _, ok := cand.Metrics[r.key]; !ok {
				add(missingMetric(cand, "candidate", r.key))
				continue
			}
			if r.variable == "candidate" {
				continue
			}
			fallthrough
		case "baseline":
			if b := ev.in.Baseline; b != nil {
				if _, ok := b.Metrics[r.key]; !ok {
					add(missingMetric(b, "baseline", r.key))
				}
			}
		}
	}
	return strings.Join(out, "; ")
}

func (ev *evaluation) require(r *Rule, res *Result) {
	if r.Check == CheckArtifactSigned {
		res.Actual = ev.in.Signed
		if ev.in.Signed {
			res.Status, res.Message = StatusPass, "signature verified"
			if ev.in.SignatureNote != "" {
				res.Message = ev.in.SignatureNote
			}
			return
		}
		res.Status = StatusFail
		res.Message = ev.in.SignatureNote
		if res.Message == "" {
			res.Message = "no signature was verified: give the artifact, its signature (or bundle) and the public key"
		}
		if _, claimed := ev.in.Candidate.Checks[CheckArtifactSigned]; claimed {
			res.Message += "; the evidence's own artifact_signed claim is not taken"
		}
		return
	}
	v, ok := ev.in.Candidate.Checks[r.Check]
	switch {
	case !ok:
		res.Status, res.Message = StatusError, missingCheck(ev.in.Candidate, r.Check)
	case v:
		res.Actual, res.Status, res.Message = true, StatusPass, r.checkMessage(true)
	default:
		res.Actual, res.Status, res.Message = false, StatusFail, r.checkMessage(false)
	}
}

// approvals counts distinct approvers, case-insensitively, leaving out the
// requester when self-approval is forbidden and anyone without a required
// role.
func (ev *evaluation) approvals(res *Result) {
	a := ev.gate.Approvals
	// One person counts once, with every role any of their entries names.
	var people []Approver
	index := map[string]int{}
	for _, ap := range ev.in.Approvers {
		name := strings.TrimSpace(ap.Name)
		key := strings.ToLower(name)
		if key == "" {
			continue
		}
		if i, ok := index[key]; ok {
			people[i].Roles = append(people[i].Roles, ap.Roles...)
			continue
		}
		index[key] = len(people)
		people = append(people, Approver{Name: name, Roles: append([]string(nil), ap.Roles...)})
	}
	var counted, notes []string
	requester := strings.ToLower(strings.TrimSpace(ev.in.RequestedBy))
	for _, ap := range people {
		name := ap.Name
		key := strings.ToLower(name)
		if !a.AllowSelfApproval && key == requester {
			notes = append(notes, fmt.Sprintf("%s requested this promotion and may not approve it", name))
			continue
		}
		if len(a.Roles) > 0 && !hasAnyRole(ap.Roles, a.Roles) {
			notes = append(notes, fmt.Sprintf("%s holds none of the roles %s", name, strings.Join(a.Roles, ", ")))
			continue
		}
		counted = append(counted, name)
	}
	n := len(counted)
	res.Actual = float64(n)
	res.Approvals = &ApprovalTally{Min: a.Min, Roles: append([]string{}, a.Roles...), AllowSelfApproval: a.AllowSelfApproval,
		Counted: append([]string{}, counted...)}
	who := "none"
	if n > 0 {
		who = strings.Join(counted, ", ")
	}
	res.Message = strconv.Itoa(n) + " of " + strconv.Itoa(a.Min) + " distinct approvers (" + who + ")"
	if len(notes) > 0 {
		res.Message += "; " + strings.Join(notes, "; ")
	}
	res.Status = StatusFail
	if n >= a.Min {
		res.Status = StatusPass
	}
}

func hasAnyRole(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if strings.EqualFold(h, w) {
				return true
			}
		}
	}
	return false
}

func (ev *evaluation) expr(r *Rule, res *Result) {
	res.Threshold = r.Expr
	if r.prog == nil {
		res.Status, res.Message = StatusError, "expression was not compiled"
		return
	}
	out, _, err := r.prog.Eval(celActivation{ev})
	values := describeRefs(r.exprRefs, celActivation{ev})
	if err != nil {
		res.Status, res.Message = StatusError, "expr: "+err.Error()
		if missing := ev.missingRefs(r.exprRefs); missing != "" {
			res.Message += ": " + missing
		}
		if values != "" {
			res.Message += " (" + values + ")"
		}
		return
	}
	b, ok := out.Value().(bool)
	if !ok {
		res.Status, res.Message = StatusError, fmt.Sprintf("expr yielded %v, not true or false", out.Value())
		return
	}
	res.Actual = b
	if b {
		res.Status, res.Message = StatusPass, "expression is true"
	} else {
		res.Status, res.Message = StatusFail, "expression is false"
	}
	if values != "" {
		res.Message += ": " + values
	}
}

// celActivation resolves an expression's variables on demand: the delta
// and change maps are built only if an expression reads them, once per
// evaluation.
type celActivation struct{ ev *evaluation }

// ResolveName implements the CEL interpreter's Activation.
func (a celActivation) ResolveName(name string) (any, bool) {
	ev := a.ev
	switch name {
	case "candidate":
		return ev.candidate(), true
	case "baseline":
		return ev.baseline(), true
	case "delta", "change":
		ev.derive()
		if name == "delta" {
			return ev.delta, true
		}
		return ev.change, true
	case "checks":
		return ev.checks(), true
	case "has_baseline":
		return ev.in.Baseline != nil, true
	}
	return nil, false
}

// Parent implements the CEL interpreter's Activation: there is none.
func (celActivation) Parent() interpreter.Activation { return nil }

var emptyMetrics = map[string]float64{}

// candidate is the CEL candidate map: the candidate's metrics, less the
// fairness metrics whose groups leave out some they must cover, so that an
// expression reading one is an error, as a NAME rule is.
func (ev *evaluation) candidate() map[string]float64 {
	if ev.candMetrics != nil {
		return ev.candMetrics
	}
	m := ev.in.Candidate.Metrics
	if m == nil {
		m = emptyMetrics
	} else if ev.coverage() != "" {
		c := make(map[string]float64, len(m))
		for k, v := range m {
			if !strictyaml.Contains(fairnessMetrics, k) {
				c[k] = v
			}
		}
		m = c
	}
	ev.candMetrics = m
	return m
}

func (ev *evaluation) baseline() map[string]float64 {
	if ev.in.Baseline == nil || ev.in.Baseline.Metrics == nil {
		return emptyMetrics
	}
	return ev.in.Baseline.Metrics
}

// derive builds the delta and change maps once.
func (ev *evaluation) derive() {
	if ev.delta != nil {
		return
	}
	// The candidate's own metrics, not the CEL map that leaves out a
	// fairness metric over too few groups: its delta is left out with the
	// reason.
	cand, base := ev.in.Candidate.Metrics, ev.baseline()
	add := func(k string) {
		c, okc := cand[k]
		b, okb := base[k]
		if !okc || !okb || ev.in.Baseline == nil {
			return
		}
		// A fairness gap over other groups than the baseline's is left
		// out, as a NAME_delta or NAME_change rule makes it an error.
		if why := incomparableGroups(k, ev.in.Candidate, ev.in.Baseline); why != "" {
			ev.leaveOut(k, " is left out: "+why)
			return
		}
		if why := ev.uncoveredGroups(k); why != "" {
			ev.leaveOut(k, " is left out: "+why)
			return
		}
		// A value that overflows is left out, as a NAME_delta or
		// NAME_change rule makes it an error: an expression that reads it
		// is then an error too, never a pass on an infinite number.
		if d := roundSig(c - b); isFinite(d) {
			ev.delta[k] = d
		} else {
			ev.leaveOut(k, notFinite)
		}
		if b != 0 {
			if ch := roundSig((c - b) / math.Abs(b)); isFinite(ch) {
				ev.change[k] = ch
			} else {
				ev.leaveOut(k, notFinite)
			}
		}
	}
	if !ev.gate.deriveAll {
		// Only the keys the expressions name: most read a few by name.
		ev.delta, ev.change = make(map[string]float64, len(ev.gate.deriveKeys)), make(map[string]float64, len(ev.gate.deriveKeys))
		for _, k := range ev.gate.deriveKeys {
			add(k)
		}
		return
	}
	ev.delta, ev.change = make(map[string]float64, len(base)), make(map[string]float64, len(base))
	for k := range cand {
		add(k)
	}
}

func isFinite(x float64) bool { return !math.IsInf(x, 0) && !math.IsNaN(x) }

// notFinite is why a delta or change that overflows is left out.
const notFinite = " is not a finite number"

// leaveOut records why a metric's delta or change is left out of the maps,
// for the expression's message.
func (ev *evaluation) leaveOut(k, why string) {
	if ev.leftOut == nil {
		ev.leftOut = map[string]string{}
	}
	ev.leftOut[k] = why
}

// checks are the candidate's checks with artifact_signed replaced by what
// was verified: the evidence's own claim is never taken.
func (ev *evaluation) checks() map[string]bool {
	if ev.checkVals != nil {
		return ev.checkVals
	}
	checks := ev.in.Candidate.Checks
	if _, claimed := checks[CheckArtifactSigned]; claimed || ev.in.Signed || checks == nil {
		c := make(map[string]bool, len(checks)+1)
		for k, v := range checks {
			c[k] = v
		}
		if claimed || ev.in.Signed {
			c[CheckArtifactSigned] = ev.in.Signed
		}
		checks = c
	}
	ev.checkVals = checks
	return checks
}

// group judges an any or all group: any passes when one child passes, all
// when every child does. A group that does not pass is an error when a child
// could not be judged, so that missing data is never read as a plain fail.
func (ev *evaluation) group(r *Rule, res *Result) {
	res.Children = make([]Result, 0, len(r.Children))
	pass, errs := 0, 0
	for _, c := range r.Children {
		cr := ev.rule(c)
		cr.Severity = ""
		switch cr.Status {
		case StatusPass:
			pass++
		case StatusError:
			errs++
		}
		res.Children = append(res.Children, cr)
	}
	ok := pass > 0
	if r.Kind == KindAll {
		ok = pass == len(r.Children)
	}
	res.Actual = ok
	var db strings.Builder
	for i, c := range res.Children {
		if i > 0 {
			db.WriteString(", ")
		}
		db.WriteString(c.Rule)
		db.WriteString(": ")
		db.WriteString(string(c.Status))
	}
	detail := db.String()
	head := groupWord(r.Kind) + " of " + strconv.Itoa(len(r.Children))
	switch {
	case ok:
		res.Status = StatusPass
		res.Message = head + " holds (" + detail + ")"
	case errs > 0:
		res.Status = StatusError
		res.Message = head + " could not be judged (" + detail + ")"
	default:
		res.Status = StatusFail
		res.Message = head + " does not hold (" + detail + ")"
	}
}

func groupWord(k RuleKind) string {
	if k == KindAll {
		return "all"
	}
	return "any"
}

// refMode says whether a metric name means the value, the delta against the
// baseline, or the relative change.
type refMode uint8

const (
	modeValue refMode = iota
	modeDelta
	modeChange
)

type metricRef struct {
	base     string
	mode     refMode
	fairness bool // base is a fairness metric, a gap over the file's groups
}

// parseMetricRef splits "f1_delta" into f1 and delta. The suffixes _delta
// and _change always mean the derived value; a metric file may not define
// metrics with those names.
func parseMetricRef(name string) metricRef {
	ref := metricRef{base: name, mode: modeValue}
	if b, ok := strings.CutSuffix(name, "_delta"); ok {
		ref = metricRef{base: b, mode: modeDelta}
	} else if b, ok := strings.CutSuffix(name, "_change"); ok {
		ref = metricRef{base: b, mode: modeChange}
	}
	ref.fairness = strictyaml.Contains(fairnessMetrics, ref.base)
	return ref
}

// roundSig rounds x to 12 significant digits. Deltas are computed in binary
// floating point, where 0.905 − 0.91 is −0.005000000000000004; rounding
// keeps a value that is exactly at a decimal threshold from failing it.
func roundSig(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	exp := int(math.Floor(math.Log10(math.Abs(x))))
	scale := math.Pow10(11 - exp)
	if math.IsInf(scale, 0) || scale == 0 {
		return x
	}
	r := math.Round(x*scale) / scale
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return x
	}
	return r
}

// formatValue renders a number for people: up to 6 significant digits, and
// a percent sign for relative changes.
func formatValue(x float64, percent bool) string {
	var buf [32]byte
	return string(appendValue(buf[:0], x, percent))
}

// appendValue appends formatValue's text to dst without allocating.
func appendValue(dst []byte, x float64, percent bool) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, x, 'g', 6, 64)
	for _, c := range dst[start:] {
		if c == 'e' {
			dst = strconv.AppendFloat(dst[:start], x, 'g', -1, 64)
			break
		}
	}
	if percent {
		dst = append(dst, '%')
	}
	return dst
}

// FormatValue renders a metric value the way the gate's messages do.
func FormatValue(x float64, percent bool) string { return formatValue(x, percent) }
