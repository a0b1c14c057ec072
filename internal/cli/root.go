// Package cli implements the promote command line: one file per command,
// configuration loading, and the wiring of the packages below it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/promote-ml/promote/internal/gitclone"
)

// Exit codes shared by every command.
const (
	ExitOK      = 0 // success, or the gate allowed the promotion
	ExitBlocked = 1 // the gate blocked, or an operation failed
	ExitUsage   = 2 // bad input or usage
	// ExitInterrupted is the code of a command that an interrupt (SIGINT,
	// SIGTERM) stopped before it finished: what a shell reports for a
	// process that SIGINT killed, and neither a failure nor bad usage.
	ExitInterrupted = 130
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
	// ran is set once cobra has parsed the command line and runs the
	// command: an error after that is the command's failure, not a
	// mistake of the command line.
	ran bool
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
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Ctrl-C in a watch or a wait: not a mistake of the command line.
		fmt.Fprintln(stderr, "promote: interrupted")
		return ExitInterrupted
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent && ee.err != nil {
			fmt.Fprintf(stderr, "promote: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "promote: %v\n", err)
	if s.ran {
		// The command ran and failed (a database that cannot be
		// reached, a file that cannot be written): an operation failed,
		// and its usage would only mislead.
		return ExitBlocked
	}
	// Errors cobra raises itself (unknown command or flag, wrong number of
	// arguments) are usage errors. They do not say which command they are
	// about, nor which argument is missing: the command's usage line does.
	if cmd != nil && cmd != root && cmd.Runnable() {
		fmt.Fprintf(stderr, "Usage: %s\n", cmd.UseLine())
	}
	path := root.CommandPath()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
	return ExitUsage
}

// command is one of promote's subcommands: the names and aliases it
// answers to (TestCommandNames keeps them equal to the command's own), its
// constructor, and whether an interrupt cancels its context.
type command struct {
	names []string
	build func(*streams) *cobra.Command
	// local marks a command that does its work in the process without
	// reading its context (a gate, a drift report, a key, a scaffold): it
	// keeps the default signal disposition, so that an interrupt ends it
	// at once (TestLocalCommandsIgnoreContext). The others run in a
	// context that SIGINT and SIGTERM cancel, so that a server shuts down
	// cleanly and a request or a watch ends.
	local bool
}

// commands are promote's subcommands.
var commands = []command{
	{[]string{"version"}, newVersionCmd, true},
	{[]string{"gate"}, newGateCmd, true},
	{[]string{"policy"}, newPolicyCmd, true},
	{[]string{"drift"}, newDriftCmd, true},
	{[]string{"keygen"}, newKeygenCmd, true},
	{[]string{"sign"}, newSignCmd, false},
	{[]string{"verify"}, newVerifyCmd, false},
	{[]string{"serve"}, newServeCmd, false},
	{[]string{"demo"}, newDemoCmd, false},
	{[]string{"token"}, newTokenCmd, false},
	{[]string{"models"}, newModelsCmd, false},
	{[]string{"versions"}, newVersionsCmd, false},
	{[]string{"request"}, newRequestCmd, false},
	{[]string{"approve"}, newApproveCmd, false},
	{[]string{"reject"}, newRejectCmd, false},
	{[]string{"cancel"}, newCancelCmd, false},
	{[]string{"rollback"}, newRollbackCmd, false},
	{[]string{"rollout", "rollouts"}, newRolloutCmd, false},
	{[]string{"promotions", "promotion"}, newPromotionsCmd, false},
	{[]string{"status"}, newStatusCmd, false},
	{[]string{"history"}, newHistoryCmd, false},
	{[]string{"holds", "hold"}, newHoldsCmd, false},
	{[]string{"audit"}, newAuditCmd, false},
	{[]string{"store"}, newStoreCmd, false},
	{[]string{"webhooks", "webhook"}, newWebhooksCmd, false},
	{[]string{"init"}, newInitCmd, true},
	{[]string{"overlays"}, newOverlaysCmd, true},
}

// named returns the subcommand that args start with, if they start with
// one's name.
func named(args []string) (command, bool) {
	if len(args) > 0 {
		for _, c := range commands {
			if slices.Contains(c.names, args[0]) {
				return c, true
			}
		}
	}
	return command{}, false
}

// SignalContext returns the context for the command line args: one that
// SIGINT and SIGTERM cancel, unless args name a local command (see
// command.local), which keeps the default disposition. Installing the
// handlers starts the runtime's signal goroutines, 5% of a `promote gate`
// run (BENCHMARKS.md), for nothing when the command never reads its
// context; worse, an interrupt would then be caught and ignored until the
// command finished.
func SignalContext(args []string) (context.Context, context.CancelFunc) {
	if c, ok := named(args); ok && c.local {
		return context.WithCancel(context.Background())
	}
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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

Exit codes: 0 success or allowed, 1 blocked or failed, 2 bad input or usage,
130 interrupted (Ctrl-C) before the end.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	if c, ok := named(args); ok {
		root.AddCommand(groups(c.build(s)))
	} else {
		for _, c := range commands {
			root.AddCommand(groups(c.build(s)))
		}
	}
	markRuns(root, s)
	redactDefaults(root)
	return root
}

// redactDefaults hides the passwords in the defaults that help shows. A
// flag's default is the value of its PROMOTE_* variable when it is set,
// and help printed PROMOTE_DATABASE's DSN or a PROMOTE_GITOPS_REMOTE URL
// with its password to whoever asked for --help (or read a CI log that
// did); a key=value DSN with a password is not shown at all. An http(s)
// URL's user name alone is hidden too, as serve's start message hides
// it: it is how a token is often written into a Git remote
// (https://TOKEN@github.com/…). Only the default as shown changes: the
// flag's value, which the command uses, keeps the password.
func redactDefaults(cmd *cobra.Command) {
	redact := func(f *pflag.Flag) {
		v := f.DefValue
		if strings.Contains(v, "://") {
			v = gitclone.RedactURL(v)
		}
		if strings.Contains(v, "://") || strings.Contains(strings.ToLower(v), "password") {
			v = redactDSN(v)
		}
		f.DefValue = v
	}
	cmd.Flags().VisitAll(redact)
	cmd.PersistentFlags().VisitAll(redact)
	for _, sub := range cmd.Commands() {
		redactDefaults(sub)
	}
}

// groups makes every command of the tree under cmd that only groups
// subcommands (promote rollout, promote holds) refuse an unknown one. Cobra
// checks the words after the root alone: "promote rollout frob" printed the
// group's help and exited 0, so a script with a typo went on as if it had
// paused the rollout. Now it is a usage error (exit 2) naming the word,
// and the group alone still shows its help.
func groups(cmd *cobra.Command) *cobra.Command {
	for _, sub := range cmd.Commands() {
		groups(sub)
	}
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = unknownSubcommand
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	return cmd
}

// unknownSubcommand refuses any argument of a group command: it can only
// be a subcommand the group does not have.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default at the root
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return usageErrorf("%s; see 'promote %s --help'", msg, strings.TrimPrefix(cmd.CommandPath(), "promote "))
}

// markRuns has every command of the tree set s.ran when its RunE starts:
// after cobra has checked the flags, the required ones and the arguments.
func markRuns(c *cobra.Command, s *streams) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			s.ran = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markRuns(sub, s)
	}
}
