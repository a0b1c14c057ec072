package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	celast "github.com/google/cel-go/common/ast"
)

// renderAST writes e canonically: every node's kind, contents and source
// start offset, so that two ASTs render the same exactly when CEL reads
// them the same (the node IDs aside).
func renderAST(b *strings.Builder, e celast.Expr, info *celast.SourceInfo) {
	off, _ := info.GetOffsetRange(e.ID())
	switch e.Kind() {
	case celast.IdentKind:
		fmt.Fprintf(b, "ident(%s)@%d", e.AsIdent(), off.Start)
	case celast.SelectKind:
		s := e.AsSelect()
		fmt.Fprintf(b, "select(")
		renderAST(b, s.Operand(), info)
		fmt.Fprintf(b, ", %s, test=%v)@%d", s.FieldName(), s.IsTestOnly(), off.Start)
	case celast.CallKind:
		c := e.AsCall()
		fmt.Fprintf(b, "call(%s", c.FunctionName())
		if c.IsMemberFunction() {
			b.WriteString(", target=")
			renderAST(b, c.Target(), info)
		}
		for _, a := range c.Args() {
			b.WriteString(", ")
			renderAST(b, a, info)
		}
		fmt.Fprintf(b, ")@%d", off.Start)
	case celast.LiteralKind:
		v := e.AsLiteral()
		fmt.Fprintf(b, "lit(%s:%#v)@%d", v.Type().TypeName(), v.Value(), off.Start)
	default:
		fmt.Fprintf(b, "kind%d@%d", e.Kind(), off.Start)
	}
}

// sameAsCEL reports how fastParse and CEL's own parser read expr: the fast
// parser's rendering (empty when it declines) and CEL's (empty when it
// fails).
func sameAsCEL(t testing.TB, expr string) (fast, full string) {
	t.Helper()
	env, err := celEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	if a := fastParse(expr); a != nil {
		var b strings.Builder
		renderAST(&b, a.NativeRep().Expr(), a.NativeRep().SourceInfo())
		fast = b.String()
	}
	if a, iss := env.Parse(expr); iss.Err() == nil {
		var b strings.Builder
		renderAST(&b, a.NativeRep().Expr(), a.NativeRep().SourceInfo())
		full = b.String()
	}
	return fast, full
}

// fastCorpus lists expressions with whether the fast parser takes them.
var fastCorpus = []struct {
	expr string
	fast bool
}{
	{"change.cost_per_1k <= 0.05 || delta.auc >= 0.01", true},
	{"candidate.accuracy >= 0.9 && (change.cost <= 0.05 || delta.auc > 0.01) && !(x.y < 1)", true},
	{"a || b || c || d || e", true},
	{"a && b && c && d && e && f && g", true},
	{"a && b || c && d || !e", true},
	{"a - 1", true},
	{"a -1", true},
	{"a - -1", true},
	{"a--1", true},
	{"-1 + a", true},
	{"- 1", true},
	{"-2.5e-3 * x", true},
	{"1 - -1.0", true},
	{"-9223372036854775808", true},
	{"!a", true},
	{"!!a", true},
	{"!!!a.b", true},
	{"!true == false", true},
	{"a ? b : c ? d : e", true},
	{"a || b ? c && d : e", true},
	{`a.b["c"][0].d`, true},
	{"(a).b", true},
	{"(a + b) * c / d % e", true},
	{"a + b * c - d / e", true},
	{"a < b == c != d", true},
	{"a in b && 'x' in c", true},
	{"1 == 1.0 && 0 == 0.0", true},
	{`"x" == 'y' && "it's" != 'say "hi"'`, true},
	{`"" == a && '' == b`, true},
	{"x == null", true},
	{"1e3 > 1.5e-3 && 2E+2 < 00.5", true},
	{"a &&\n  b ||\tc", true},
	{"a &&\r\n  b ||\fc", true},
	{"a\v&& b", false},
	{"   a   ", true},
	{"has_baseline ? delta.f1 >= -0.01 : candidate.f1 >= 0.8", true},
	{`checks["x"] && candidate.m - baseline.m <= 2.0 * x.y`, true},
	{"a[b[c[d]]]", true},
	{`'t' in"s" && x in'y'`, true},
	{"(1.5).f && (true)[0] && ('s').g", true},
	{`a"s"`, false},

	{"size(a) > 0 && int(b) == 1 && double(c.d, e) >= 0.5", true},
	{"a.startsWith('x') && b.c.endsWith(\"y\", z).size() == 0 && f()", true},
	{"a.if()", true},

	// Left to the full parser.
	{"has(a.b)", false},
	{"a.exists(x, x > 0)", false},
	{"a.all(x, x > 0) || a.map(x, x * 2) == b || a.filter(x, x) == b || a.exists_one(x, x)", false},
	{"size(a,) > 0", false},
	{"size(,a) > 0", false},
	{"size(a b)", false},
	{"a.true", false},
	{"a.in", false},
	{"a.null()", false},
	{"[1, 2][0] == 1", false},
	{`{"a": 1}["a"] == 1`, false},
	{"-a", false},
	{"-(1)", false},
	{"- -1", false},
	{"!-1", false},
	{"-1.foo", false}, // a select on the literal -1, but "1." is not read
	{"1u == a", false},
	{"0x10 == a", false},
	{".a", false},
	{"a // comment", false},
	{`"a\nb" == a`, false},
	{`r"x" == a`, false},
	{`"""x""" == a`, false},
	{`b"x" == a`, false},
	{`RB'x' == a`, false},
	{"a.?b", false},
	{"a[?0]", false},
	{"if", false},
	{"a.if", true}, // CEL reserves if as a name, not as a field
	{"é == a", false},
	{"`a b` == 1", false},
	{"a = b", false},
	{"a ==", false},
	{"(a", false},
	{"a)", false},
	{"007 == a", false},
	{"1. == a", false},
	{".5 == a", false},
	{"a.1", false},
	{"99999999999999999999 == a", false},
	{"a ? b", false},
	{"", false},
	{"in", false},
	{"true.a", true},
	{"'abc'[0]", true},
}

func TestFastParseMatchesCEL(t *testing.T) {
	for _, tt := range fastCorpus {
		fast, full := sameAsCEL(t, tt.expr)
		switch {
		case tt.fast && fast == "":
			t.Errorf("%q: the fast parser declined it", tt.expr)
		case !tt.fast && fast != "":
			t.Errorf("%q: the fast parser took it, want it left to CEL's parser:\n%s", tt.expr, fast)
		case fast != "" && fast != full:
			t.Errorf("%q: the fast parser and CEL's read it differently\nfast: %s\nCEL:  %s", tt.expr, fast, full)
		}
	}
}

// TestFastParseRandom compares the two parsers on random expressions of
// the fast parser's part of CEL, with random spacing and parentheses.
func TestFastParseRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	space := func() string { return []string{"", " ", "  ", "\n", "\t"}[r.IntN(5)] }
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth <= 0 || r.IntN(4) == 0 {
			switch r.IntN(7) {
			case 0:
				return []string{"a", "b", "candidate", "delta", "x_1"}[r.IntN(5)]
			case 1:
				return fmt.Sprint(r.IntN(1000))
			case 2:
				return fmt.Sprintf("%.3f", r.Float64()*10)
			case 3:
				return []string{"-1", "-0.5", "- 2", "1e3", "2.5E-2"}[r.IntN(5)]
			case 4:
				return []string{`"s"`, `'t'`, `""`, "true", "false", "null"}[r.IntN(6)]
			case 5:
				return "candidate." + []string{"accuracy", "f1", "cost_per_1k"}[r.IntN(3)]
			default:
				return `checks["` + []string{"tests", "x"}[r.IntN(2)] + `"]`
			}
		}
		sub := func() string { return gen(depth - 1) }
		switch r.IntN(11) {
		case 9:
			return []string{"size", "int", "f"}[r.IntN(3)] + "(" + space() + sub() + space() + ")"
		case 10:
			return "(" + sub() + ")." + []string{"startsWith", "g"}[r.IntN(2)] + "(" + sub() + "," + space() + sub() + ")"
		case 0:
			return "(" + space() + sub() + space() + ")"
		case 1:
			return "!" + space() + "(" + sub() + ")"
		case 2:
			return "(" + sub() + ")" + space() + "." + space() + "f"
		case 3:
			return "(" + sub() + ")" + "[" + space() + sub() + space() + "]"
		case 4:
			return sub() + space() + "?" + space() + sub() + space() + ":" + space() + sub()
		default:
			ops := []string{"||", "&&", "<", "<=", ">", ">=", "==", "!=", "in", "+", "-", "*", "/", "%"}
			return sub() + " " + ops[r.IntN(len(ops))] + space() + sub()
		}
	}
	checked := 0
	for range 3000 {
		expr := gen(4)
		fast, full := sameAsCEL(t, expr)
		switch {
		case full == "":
			continue // CEL rejects it (e.g. an operator after "?" without parentheses)
		case fast == "":
			t.Errorf("%q: CEL's parser takes it and the fast parser declined it", expr)
		case fast != full:
			t.Errorf("%q: read differently\nfast: %s\nCEL:  %s", expr, fast, full)
		}
		checked++
	}
	if checked < 2000 {
		t.Errorf("only %d of 3000 random expressions were valid CEL: the generator is off", checked)
	}
}

// FuzzFastParse checks that whatever the fast parser takes, CEL's parser
// takes too and reads the same way.
func FuzzFastParse(f *testing.F) {
	for _, tt := range fastCorpus {
		f.Add(tt.expr)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		fast, full := sameAsCEL(t, expr)
		if fast != "" && fast != full {
			t.Errorf("%q: the fast parser took it and reads it differently from CEL's\nfast: %s\nCEL:  %s", expr, fast, full)
		}
	})
}
