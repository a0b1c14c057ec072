package policy

import (
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// finiteResults is a CEL decorator that makes arithmetic whose result is
// not a finite number an evaluation error. Metrics are finite when they
// reach an expression, but CEL's doubles follow IEEE 754: x / 0.0 is +Inf
// and 0.0 / 0.0 is NaN, and a comparison with either can hold
// (candidate.f1 / baseline.f1 >= 0.99 with a baseline F1 of 0, or
// !(x < y) with x NaN). An error makes the rule an error, which blocks, as a
// relative change over a zero baseline does for a _change threshold.
func finiteResults(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	// A call on constants, such as double("NaN"), is folded when the
	// program is planned, through this check: its error is then a load
	// error.
	if n, ok := i.(interpreter.InterpretableCall); ok {
		if what, ok := finiteChecked[n.Function()]; ok {
			return finiteCall{n, what}, nil
		}
	}
	return i, nil
}

// finiteChecked names the calls that can turn finite numbers (or a string) into
// a non-finite one, for the error message.
var finiteChecked = map[string]string{
	operators.Add:      "an addition",
	operators.Subtract: "a subtraction",
	operators.Multiply: "a multiplication",
	operators.Divide:   "a division",
	"double":           "double()",
}

// finiteCall checks the result of one arithmetic call.
type finiteCall struct {
	interpreter.InterpretableCall
	what string
}

func (c finiteCall) Eval(a interpreter.Activation) ref.Val {
	return c.check(c.InterpretableCall.Eval(a))
}

func (c finiteCall) Exec(f *interpreter.ExecutionFrame) ref.Val {
	return c.check(c.InterpretableCall.Exec(f))
}

func (c finiteCall) check(v ref.Val) ref.Val {
	if d, ok := v.(types.Double); ok && !isFinite(float64(d)) {
		return types.NewErr("%s gives %v, which is not a finite number", c.what, float64(d))
	}
	return v
}
