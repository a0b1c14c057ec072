package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Op is a comparison operator of a threshold.
type Op uint8

// The operators a threshold may use.
const (
	OpLT Op = iota + 1 // <
	OpLE               // <=
	OpGT               // >
	OpGE               // >=
	OpEQ               // ==
	OpNE               // !=
)

var opText = [...]string{OpLT: "<", OpLE: "<=", OpGT: ">", OpGE: ">=", OpEQ: "==", OpNE: "!="}

// String returns the operator as written in a policy.
func (o Op) String() string {
	if int(o) < len(opText) && o != 0 {
		return opText[o]
	}
	return "?"
}

// Threshold is a parsed "OP NUMBER" condition such as ">= -0.01" or
// "<= -10%". A percent threshold holds the number as written (-10 for
// "-10%"); Holds compares against a value in the same unit.
type Threshold struct {
	Op      Op
	Value   float64
	Percent bool
	text    string
}

// String returns the threshold in its canonical written form.
func (t Threshold) String() string {
	if t.Op == 0 {
		return ""
	}
	if t.text != "" {
		return t.text
	}
	return t.format()
}

func (t Threshold) format() string {
	s := t.Op.String() + " " + strconv.FormatFloat(t.Value, 'g', -1, 64)
	if t.Percent {
		s += "%"
	}
	return s
}

// Holds reports whether x satisfies the threshold. A NaN x never does, so a
// comparison can only pass on a real number.
func (t Threshold) Holds(x float64) bool {
	if math.IsNaN(x) {
		return false
	}
	switch t.Op {
	case OpLT:
		return x < t.Value
	case OpLE:
		return x <= t.Value
	case OpGT:
		return x > t.Value
	case OpGE:
		return x >= t.Value
	case OpEQ:
		return x == t.Value
	case OpNE:
		return x != t.Value
	}
	return false
}

// ParseThreshold parses "OP NUMBER" with OP one of <, <=, >, >=, ==, != and
// NUMBER a finite decimal number, optionally followed by % (a relative
// change). Spaces around the parts are allowed; anything else is an error
// that quotes the text.
func ParseThreshold(s string) (Threshold, error) {
	in := strings.TrimSpace(s)
	var t Threshold
	switch {
	case strings.HasPrefix(in, "<="):
		t.Op, in = OpLE, in[2:]
	case strings.HasPrefix(in, ">="):
		t.Op, in = OpGE, in[2:]
	case strings.HasPrefix(in, "=="):
		t.Op, in = OpEQ, in[2:]
	case strings.HasPrefix(in, "!="):
		t.Op, in = OpNE, in[2:]
	case strings.HasPrefix(in, "<"):
		t.Op, in = OpLT, in[1:]
	case strings.HasPrefix(in, ">"):
		t.Op, in = OpGT, in[1:]
	case in == "":
		return t, fmt.Errorf("empty threshold: want OP NUMBER, e.g. \">= 0.9\"")
	default:
		return t, fmt.Errorf("threshold %q: want OP NUMBER with OP one of <, <=, >, >=, ==, !=", s)
	}
	in = strings.TrimSpace(in)
	if strings.HasSuffix(in, "%") {
		t.Percent = true
		in = strings.TrimSpace(in[:len(in)-1])
	}
	if !isDecimal(in) {
		return Threshold{}, fmt.Errorf("threshold %q: %q is not a decimal number", s, in)
	}
	v, err := strconv.ParseFloat(in, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return Threshold{}, fmt.Errorf("threshold %q: %q is out of range", s, in)
	}
	t.Value = v
	t.text = t.format()
	return t, nil
}

// isDecimal reports whether s is a plain decimal number: an optional sign,
// digits with at most one point, and an optional exponent. It rejects what
// strconv.ParseFloat would also take but a policy author never means: hex,
// underscores, "inf" and "nan".
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits, point := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			digits++
			continue
		}
		if c == '.' && !point {
			point = true
			continue
		}
		break
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}
