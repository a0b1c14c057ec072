// Package cli implements the promote command line: one file per command,
// configuration loading, and the wiring of the packages below it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	ExitOK      = 0 // success, or the gate allowed the promotion
	ExitBlocked = 1 // the gate blocked, or an operation failed
	ExitUsage   = 2 // bad input or usage
)

// exitError carries an exit code through cobra's error return. Its message
// has already been printed when silent is set.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports bad input or usage: exit code 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// usageError wraps err as bad input: exit code 2.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: ExitUsage, err: err}
}

// streams are the standard streams a command reads and writes.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// Main runs the promote command line with args (without the program name)
// and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := &streams{in: stdin, out: stdout, err: stderr}
	root := newRootCmd(s, args)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent && ee.err != nil {
			fmt.Fprintf(stderr, "promote: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command or flag, wrong number of
	// arguments) are usage errors.
	fmt.Fprintf(stderr, "promote: %v\n", err)
	fmt.Fprintf(stderr, "Run 'promote --help' for usage.\n")
	return ExitUsage
}

// commands are promote's subcommands: the names and aliases each answers to
// (TestCommandNames keeps them equal to the command's own) and its
// constructor.
var commands = []struct {
	names []string
	build func(*streams) *cobra.Command
}{
	{[]string{"version"}, newVersionCmd},
	{[]string{"gate"}, newGateCmd},
	{[]string{"drift"}, newDriftCmd},
	{[]string{"keygen"}, newKeygenCmd},
	{[]string{"sign"}, newSignCmd},
	{[]string{"verify"}, newVerifyCmd},
	{[]string{"serve"}, newServeCmd},
	{[]string{"demo"}, newDemoCmd},
	{[]string{"token"}, newTokenCmd},
	{[]string{"models"}, newModelsCmd},
	{[]string{"versions"}, newVersionsCmd},
	{[]string{"request"}, newRequestCmd},
	{[]string{"approve"}, newApproveCmd},
	{[]string{"reject"}, newRejectCmd},
	{[]string{"cancel"}, newCancelCmd},
	{[]string{"rollback"}, newRollbackCmd},
	{[]string{"rollout", "rollouts"}, newRolloutCmd},
	{[]string{"promotions", "promotion"}, newPromotionsCmd},
	{[]string{"status"}, newStatusCmd},
	{[]string{"history"}, newHistoryCmd},
	{[]string{"holds", "hold"}, newHoldsCmd},
	{[]string{"audit"}, newAuditCmd},
	{[]string{"init"}, newInitCmd},
	{[]string{"overlays"}, newOverlaysCmd},
}

// newRootCmd builds the command tree for args. When args start with a
// subcommand's name, only that subcommand is built: the others' flags and
// help are never needed, and building them all is a measurable part of a
// short command's run (promote gate in CI). Anything else (no argument, a
// flag, help, completion, a mistyped name) gets the whole tree.
func newRootCmd(s *streams, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "promote",
		Short: "Move ML model versions through environments, safely",
		Long: `Promote moves trained ML model versions through environments (dev -> staging -> prod)
with policy-as-code gates against a baseline, fairness and drift checks, verified
signatures, recorded approvals, GitOps overlay commits and progressive delivery.

Exit codes: 0 success or allowed, 1 blocked or failed, 2 bad input or usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	if len(args) > 0 {
		for _, c := range commands {
			if slices.Contains(c.names, args[0]) {
				root.AddCommand(c.build(s))
				return root
			}
		}
	}
	for _, c := range commands {
		root.AddCommand(c.build(s))
	}
	return root
}
