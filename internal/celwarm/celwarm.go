// Package celwarm overlaps the CEL parser's one-time start-up with the rest
// of the program's initialisation, for the commands that compile CEL
// expressions as their first work (promote gate).
//
// The first parse in a process builds the parser's tables (its ANTLR
// grammar is deserialised lazily, once): in a profile of `promote gate`
// that is about 15% of the process's CPU time, more than the gate's own
// evaluation, and it lay on the critical path after package
// initialisation. Importing this package starts that set-up on another
// goroutine as soon as the parser's package is initialised, so on a machine
// with a second core it runs while the remaining packages (the stores, the
// GitOps renderer, the metrics client) initialise. The later compile waits
// for the tables if they are not ready yet (a sync.Once in the parser), so
// the result is the same with one core, only not faster.
//
// It is the one library package that reads the command line (os.Args, in
// init): the warm-up must start during package initialisation to overlap
// it, before package main has the arguments. It only decides whether to
// start the warm-up; it parses nothing else and changes no behaviour.
//
// Import it for its side effect, from package main only:
//
//	import _ "github.com/promote-ml/promote/internal/celwarm"
package celwarm

import (
	"errors"
	"os"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/parser"
)

// commands lists the subcommands whose start warms the parser.
var commands = map[string]bool{"gate": true}

func init() {
	if wanted(os.Args) {
		go func() { _ = Warm() }() // an error shows again, in place, at the real compile
	}
}

// wanted reports whether the command line runs one of commands: its first
// argument that is not a flag names it.
func wanted(args []string) bool {
	for _, a := range args[min(1, len(args)):] {
		if len(a) > 0 && a[0] == '-' {
			continue
		}
		return commands[a]
	}
	return false
}

// Warm parses a small expression, which builds the parser's shared tables.
// It is safe to call at any time and from any goroutine.
func Warm() error {
	p, err := parser.NewParser()
	if err != nil {
		return err
	}
	if _, iss := p.Parse(common.NewTextSource(warmExpr)); iss != nil && len(iss.GetErrors()) > 0 {
		return errors.New(iss.ToDisplayString())
	}
	return nil
}

// warmExpr uses the forms policies' rules are made of (selections,
// comparisons, logical operators, number literals), so that the parser's
// prediction cache holds them too.
const warmExpr = `candidate.accuracy >= 0.9 && (change.cost <= 0.05 || delta.auc > 0.01) && !(x.y < 1)`
