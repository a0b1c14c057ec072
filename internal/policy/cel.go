package policy

import (
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"go.yaml.in/yaml/v3"
)

// exprCostLimit bounds the work one expression may do at evaluation, in
// CEL's cost units (about one per operation), so that a policy cannot stall
// the gate with a runaway comprehension.
const exprCostLimit = 100_000

// The variables an expression sees. candidate, baseline, delta and change
// map metric names to numbers: delta is candidate − baseline, change is the
// relative change (candidate − baseline) / |baseline| as a fraction (0.1 is
// 10%); checks maps check names to booleans; has_baseline says whether a
// baseline was given at all.
var celEnvironment = sync.OnceValues(func() (*cel.Env, error) {
	metrics := cel.MapType(cel.StringType, cel.DoubleType)
	return cel.NewEnv(
		cel.Variable("candidate", metrics),
		cel.Variable("baseline", metrics),
		cel.Variable("delta", metrics),
		cel.Variable("change", metrics),
		cel.Variable("checks", cel.MapType(cel.StringType, cel.BoolType)),
		cel.Variable("has_baseline", cel.BoolType),
	)
})

// compileExpr parses and type-checks r.Expr, which must yield a boolean,
// and prepares its program with a cost limit.
func (d *decoder) compileExpr(r *Rule) {
	// A fault of the whole expression is reported where its text starts
	// (for a block, its first content line); one that CEL places inside
	// the expression, at the file's line and column of that place, with
	// CEL's own position in the expression in the message too.
	at := &yaml.Node{Line: r.exprAt.line, Column: r.exprAt.col}
	if strings.TrimSpace(r.Expr) == "" {
		d.Errorf(at, "rule %q: expr is empty", r.Name)
		return
	}
	env, err := celEnvironment()
	if err != nil {
		d.Errorf(at, "rule %q: expression environment: %v", r.Name, err)
		return
	}
	// The fast parser's AST, when it takes the expression and the checker
	// accepts it; otherwise CEL's own parser, whose messages the errors
	// then carry.
	var ast *cel.Ast
	if fast := fastParse(r.Expr); fast != nil {
		if checked, iss := env.Check(fast); iss.Err() == nil {
			ast = checked
		}
	}
	if ast == nil {
		var iss *cel.Issues
		if ast, iss = env.Compile(r.Expr); iss.Err() != nil {
			fault := at
			if errs := iss.Errors(); len(errs) > 0 {
				loc := errs[0].Location
				line, col := r.exprAt.position(loc.Line(), loc.Column()+1) // CEL counts columns from 0
				fault = &yaml.Node{Line: line, Column: col}
			}
			d.Errorf(fault, "rule %q: expr %q: %s", r.Name, r.Expr, celMessage(iss.Err().Error()))
			return
		}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		d.Errorf(at, "rule %q: expr %q yields %s; a rule's expression must yield true or false", r.Name, r.Expr, ast.OutputType())
		return
	}
	// An expression whose worst-case cost is bounded below the limit (no
	// comprehension over a map of unknown size) needs no tracking at run
	// time; any other is stopped when it reaches the limit.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize), cel.CustomDecoratorV2(finiteResults)}
	if est, err := env.EstimateCost(ast, noSizes{}); err != nil || est.Max > exprCostLimit {
		opts = append(opts, cel.CostLimit(exprCostLimit))
	}
	prog, err := env.Program(ast, opts...)
	if err != nil {
		d.Errorf(at, "rule %q: expr %q: %v", r.Name, r.Expr, err)
		return
	}
	r.prog = prog
	r.exprRefs, r.derivedWhole = exprReferences(ast.NativeRep())
	for _, ref := range ast.NativeRep().ReferenceMap() {
		switch ref.Name {
		case "baseline", "delta", "change":
			r.usesBaseline = true
		case "has_baseline":
			r.handlesNoBaseline = true
		}
	}
}

// celMessage turns CEL's multi-line issue report into one line:
// "ERROR: <input>:1:5: undeclared reference to 'x'" becomes
// "1:5: undeclared reference to 'x'".
func celMessage(s string) string {
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ERROR: ") {
			continue
		}
		line = strings.TrimPrefix(line, "ERROR: ")
		line = strings.TrimPrefix(line, "<input>:")
		parts = append(parts, line)
	}
	if len(parts) == 0 {
		return s
	}
	return strings.Join(parts, "; ")
}

// exprRef is a value an expression reads, such as delta.accuracy or
// candidate["latency_p95_ms"]: shown with the verdict so that a reader sees
// the numbers the expression judged.
type exprRef struct {
	variable, key string
}

func (r exprRef) String() string { return r.variable + "." + r.key }

// exprReferences lists the metric and check values an expression reads, in
// the order they appear, each once. whole reports whether the expression
// uses delta or change other than by a constant key (iterates over it,
// takes its size), so that every key must be derived.
func exprReferences(a *celast.AST) (refs []exprRef, whole bool) {
	seen := map[exprRef]bool{}
	keyed := 0 // delta or change read by a constant key
	add := func(variable, key string) {
		switch variable {
		case "candidate", "baseline", "delta", "change", "checks":
		default:
			return
		}
		if variable == "delta" || variable == "change" {
			keyed++
		}
		r := exprRef{variable, key}
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	nav := celast.NavigateAST(a)
	matches := celast.MatchDescendants(nav, func(e celast.NavigableExpr) bool {
		return e.Kind() == celast.SelectKind || e.Kind() == celast.CallKind || e.Kind() == celast.IdentKind
	})
	derivedIdents := 0
	for _, e := range matches {
		if e.Kind() == celast.IdentKind {
			if n := e.AsIdent(); n == "delta" || n == "change" {
				derivedIdents++
			}
			continue
		}
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if sel.Operand().Kind() == celast.IdentKind {
				add(sel.Operand().AsIdent(), sel.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if call.FunctionName() == operators.Index && len(args) == 2 && args[0].Kind() == celast.IdentKind && args[1].Kind() == celast.LiteralKind {
				if key, ok := args[1].AsLiteral().Value().(string); ok {
					add(args[0].AsIdent(), key)
				}
			}
		}
	}
	return refs, derivedIdents != keyed
}

// describeRefs renders the values an expression read, from its variables.
func describeRefs(refs []exprRef, vars celActivation) string {
	if len(refs) == 0 {
		return ""
	}
	var buf [256]byte
	b := buf[:0]
	for i, r := range refs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(append(append(b, r.variable...), '.'), r.key...)
		v, _ := vars.ResolveName(r.variable)
		switch m := v.(type) {
		case map[string]float64:
			if x, ok := m[r.key]; ok {
				b = appendValue(append(b, " = "...), x, false)
			} else if why, ok := vars.ev.leftOut[r.key]; ok && (r.variable == "delta" || r.variable == "change") {
				b = append(b, why...)
			} else if why := vars.ev.uncoveredGroups(r.key); why != "" && r.variable == "candidate" {
				b = append(append(b, " is left out: "...), why...)
			} else {
				b = append(b, " missing"...)
			}
		case map[string]bool:
			if x, ok := m[r.key]; ok {
				b = strconv.AppendBool(append(b, " = "...), x)
			} else {
				b = append(b, " missing"...)
			}
		}
	}
	return string(b)
}

// noSizes is a cost estimator that knows no sizes: the estimate of an
// expression that iterates over a map is then unbounded.
type noSizes struct{}

func (noSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (noSizes) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}
