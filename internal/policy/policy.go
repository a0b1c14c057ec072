// Package policy is Promote's gate engine: it loads policy files (the
// seed's minimal format and the versioned promote.dev/v1 format), compiles
// their rules (thresholds, any/all groups, CEL expressions) once, and
// evaluates a candidate's evidence against a baseline's. It also holds the
// fairness and drift mathematics the rules use. It does no I/O of its own:
// callers pass file contents in.
package policy

import (
	"slices"
	"time"

	"github.com/google/cel-go/cel"
)

// APIVersion is the apiVersion of the versioned policy format.
const APIVersion = "promote.dev/v1"

// Severity says whether a failing rule blocks the promotion or only warns.
type Severity string

// The severities of a rule.
const (
	SeverityBlock Severity = "block"
	SeverityWarn  Severity = "warn"
)

// RuleKind is the kind of a rule.
type RuleKind string

// The kinds of rule.
const (
	KindMetric    RuleKind = "metric"    // a threshold on a metric, its delta or its change
	KindRequire   RuleKind = "require"   // a required piece of evidence (a check)
	KindExpr      RuleKind = "expr"      // a CEL expression
	KindAny       RuleKind = "any"       // passes when any child passes
	KindAll       RuleKind = "all"       // passes when every child passes
	KindApprovals RuleKind = "approvals" // enough distinct approvers
)

// NoBaseline says what a rule that needs a baseline does when there is none.
type NoBaseline string

// The choices for NoBaseline. Fail is the default: a decision fails closed.
const (
	NoBaselineFail NoBaseline = "fail"
	NoBaselinePass NoBaseline = "pass"
)

// Check names with a meaning of their own.
const (
	// CheckArtifactSigned holds only when a signature was verified against a
	// trusted key; a claim in the evidence is never taken for it.
	CheckArtifactSigned = "artifact_signed"
)

// Rule is one compiled gate rule.
type Rule struct {
	Name        string
	Description string
	Kind        RuleKind
	Severity    Severity // block or warn; children of any/all inherit their group's
	Metric      string   // as written: accuracy, f1_delta, latency_p95_ms_change
	Threshold   Threshold
	Check       string // KindRequire: the check that must hold
	Expr        string // KindExpr: the CEL source
	Children    []*Rule
	Line        int // where the rule starts in its file

	col               int // the column of Line where the rule (an expression: its text) starts
	exprAt            exprText
	ref               metricRef
	prog              cel.Program
	exprRefs          []exprRef
	derivedWhole      bool // the expression needs every delta and change, not only exprRefs' keys
	usesBaseline      bool // the rule (or a child) reads baseline values
	handlesNoBaseline bool // an expression that tests has_baseline itself
	messages          [2]string
}

// checkMessage is a require rule's message, built when the gate is
// compiled (a compiled gate is shared by concurrent evaluations and never
// written to).
func (r *Rule) checkMessage(ok bool) string {
	if ok {
		return r.messages[1]
	}
	return r.messages[0]
}

// Approvals is the approval rule of a gate.
type Approvals struct {
	Min               int
	Roles             []string // approvers count only if they hold one of these; empty means any
	AllowSelfApproval bool     // whether the requester may approve their own promotion

	line int
}

// Gate is the compiled gate of one environment, ready to evaluate.
type Gate struct {
	Policy      string // the policy's name
	Environment string // "" when the policy has no environment sections
	// Source is the file the gate was compiled from, and Digest the
	// sha256 of its bytes ("sha256:" and 64 hex digits): which version of
	// the policy made a decision, for the audit log.
	Source, Digest string
	Rules          []*Rule
	Approvals      *Approvals // nil when no approval is required
	NoBaseline     NoBaseline
	// FairnessGroups are the groups a fairness metric must be a gap over;
	// nil when the policy lists none, and the baseline's groups are.
	FairnessGroups []string

	needsCEL bool
	// deriveKeys are the metrics whose delta and change the gate's
	// expressions read; nil with deriveAll when one needs them all.
	deriveKeys []string
	deriveAll  bool
}

// Step is one canary step of a rollout.
type Step struct {
	Weight      int           // percent of traffic to the canary
	MinDuration time.Duration // the least time at this weight
	MinRequests int           // the least number of canary requests at this weight
	// Confirm holds the rollout at this weight, once MinDuration and
	// MinRequests are served, until a person says go (as Argo Rollouts'
	// pause: {} and Flagger's confirm-promotion webhook do); the
	// analysis keeps judging meanwhile.
	Confirm bool
}

// SLO is an absolute guard on the canary during a rollout.
type SLO struct {
	Metric    string
	Threshold Threshold
}

// Analysis configures the live comparison of canary against stable.
type Analysis struct {
	Interval       time.Duration
	Alpha          float64       // the false-rollback rate of the sequential test
	ErrorShare     float64       // the share of the comparisons' alpha the error-rate test runs at; 0: the analysis's default
	MaxNoData      time.Duration // 0: not set, the server's default
	MaxQueryErrors int           // 0: not set, the server's default
	SLOs           []SLO
	// History, when set, has the canary judged against stable's past too
	// (analysis.History): nil without.
	History *History
}

// History is a rollout analysis's history section: stable's record over
// Window before the rollout starts is the baseline of the history tests.
type History struct {
	Window time.Duration // at least MinHistoryWindow
	Share  float64       // the share of each comparison's level its history test runs at; 0: the analysis's default
}

// Shadow configures a shadow rollout: traffic mirrored to the candidate.
type Shadow struct {
	Duration      time.Duration
	Percent       int
	CompareBodies bool
}

// Rollback configures what happens when a rollout fails.
type Rollback struct {
	Automatic bool     // roll back without a person
	Hold      bool     // put the version on hold in the environment
	When      []string // the triggers: slo_breach, regression, no_data, query_errors
}

// The rollout strategies.
const (
	StrategyDirect = "direct"
	StrategyCanary = "canary"
	StrategyShadow = "shadow"
)

// The rollback triggers.
var rollbackTriggers = []string{"slo_breach", "regression", "no_data", "query_errors"}

// Rollout is the progressive delivery section of a policy.
type Rollout struct {
	Strategy string
	Steps    []Step
	Analysis Analysis
	Shadow   *Shadow
	Rollback Rollback
	Traffic  Traffic
}

// Traffic configures the splitters of an environment that rolls out
// progressively: stickiness and active health probes.
type Traffic struct {
	// StickyHeader and StickyCookie keep a client on one track by the
	// header's or the cookie's value (the header is asked first); with
	// neither, each request is placed at random.
	StickyHeader, StickyCookie string
	// HealthPath, when set, is probed with GET on each backend; one that
	// does not answer 2xx gets no traffic until it does.
	HealthPath string
	// CandidateHeader, when set, sends a request whose header of this
	// name is 1 or true to the candidate while one is deployed, whatever
	// its weight; such requests are counted apart from the analysis's.
	CandidateHeader string
}

// Policy is a loaded, validated and compiled policy file.
type Policy struct {
	File        string
	Digest      string // sha256 of the file's bytes: "sha256:" and 64 hex digits
	APIVersion  string // "" for the seed's minimal format
	Name        string
	Description string

	envs     []string            // environment names in file order
	envAt    map[string][2]int   // where each environment's section starts: line, column
	gates    map[string]*Gate    // by environment; "" is the common gate
	rollouts map[string]*Rollout // by environment; "" is the common rollout
}

// Environments returns the names of the policy's environment sections in
// file order; none for a policy without them.
func (p *Policy) Environments() []string { return slices.Clone(p.envs) }

// EnvironmentPosition returns the line and column where env's section
// starts in the policy file, or 0, 0 when the policy has no such section.
func (p *Policy) EnvironmentPosition(env string) (line, column int) {
	at := p.envAt[env]
	return at[0], at[1]
}

// Rollout returns the rollout section that applies in env, or nil.
func (p *Policy) Rollout(env string) *Rollout {
	if r, ok := p.rollouts[env]; ok {
		return r
	}
	return p.rollouts[""]
}
