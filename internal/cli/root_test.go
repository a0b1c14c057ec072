package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// The table that lets Main build one subcommand must name each command as
// the command names itself, or `promote NAME` would get the whole tree (or,
// for a wrong alias, no such command).
func TestCommandNames(t *testing.T) {
	s := &streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	var all []string
	for _, c := range commands {
		cmd := c.build(s)
		if want := append([]string{cmd.Name()}, cmd.Aliases...); !slices.Equal(c.names, want) {
			t.Errorf("commands lists %q for the command that answers to %q", c.names, want)
		}
		all = append(all, c.names...)
	}
	slices.Sort(all)
	if d := slices.Compact(slices.Clone(all)); len(d) != len(all) {
		t.Errorf("a name is listed twice: %q", all)
	}
}

// A subcommand built alone behaves as it does in the whole tree: its help,
// and its subcommands' help, read the same.
func TestSubcommandAloneSameHelp(t *testing.T) {
	help := func(root *cobra.Command, args []string) string {
		var out bytes.Buffer
		root.SetArgs(append(args, "--help"))
		root.SetOut(&out)
		root.SetErr(&out)
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("%q --help: %v", args, err)
		}
		return out.String()
	}
	s := &streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	for _, c := range commands {
		for _, name := range c.names {
			paths := [][]string{{name}}
			for _, sub := range c.build(s).Commands() {
				paths = append(paths, []string{name, sub.Name()})
			}
			for _, path := range paths {
				alone := newRootCmd(s, path)
				if n := len(alone.Commands()); n != 1 {
					t.Fatalf("promote %s: the root has %d subcommands, want only %s", strings.Join(path, " "), n, name)
				}
				got, want := help(alone, path), help(newRootCmd(s, nil), path)
				if got != want {
					t.Errorf("promote %s --help built alone:\n%s\nin the whole tree:\n%s", strings.Join(path, " "), got, want)
				}
			}
		}
	}
	if n, want := len(newRootCmd(s, []string{"--help"}).Commands()), len(commands); n != want {
		t.Errorf("promote --help: the root has %d subcommands, want all %d", n, want)
	}
}

// A local command never reads its context, so an interrupt is better left
// to end it at once: none may call Context() or take a ctx. A command that
// starts to must stop being local.
func TestLocalCommandsIgnoreContext(t *testing.T) {
	locals := 0
	for _, c := range commands {
		if !c.local {
			continue
		}
		locals++
		src, err := os.ReadFile(c.names[0] + ".go")
		if err != nil {
			t.Fatalf("%s: %v (a local command's constructor lives in NAME.go)", c.names[0], err)
		}
		ctor := runtime.FuncForPC(reflect.ValueOf(c.build).Pointer()).Name()
		ctor = ctor[strings.LastIndex(ctor, ".")+1:]
		if !bytes.Contains(src, []byte("func "+ctor+"(")) {
			t.Errorf("%s.go does not define %s, the command's constructor", c.names[0], ctor)
		}
		for _, use := range []string{"Context()", "ctx", "context."} {
			if bytes.Contains(src, []byte(use)) {
				t.Errorf("%s.go uses %q: the command reads its context, so it must not be local (an interrupt would not reach it)", c.names[0], use)
			}
		}
	}
	if locals == 0 {
		t.Fatal("no local command: this test checks nothing")
	}
}

func TestSignalContext(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		signal bool
	}{
		{[]string{"gate", "--policy", "p.yaml"}, false},
		{[]string{"drift"}, false},
		{[]string{"serve"}, true},
		{[]string{"rollout", "watch", "1"}, true},
		{[]string{"--help"}, true}, // not a command's name: the safe default
		{nil, true},
	} {
		ctx, stop := SignalContext(tt.args)
		got := strings.Contains(fmt.Sprint(ctx), "signal.NotifyContext")
		stop()
		if got != tt.signal {
			t.Errorf("SignalContext(%q) = %v; want a signal context: %v", tt.args, ctx, tt.signal)
		}
	}

	// The signal context ends on an interrupt, which it catches.
	ctx, stop := SignalContext([]string{"serve"})
	defer stop()
	self, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = self.Signal(os.Interrupt)
	}
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGINT did not cancel serve's context")
	}
}

// A group command (promote rollout, promote holds) refuses a subcommand it
// does not have as the root does: exit 2 naming the word, never the
// group's help and exit 0. Alone, it shows its help.
func TestUnknownSubcommand(t *testing.T) {
	s := &streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	groups := 0
	for _, c := range commands {
		if cmd := c.build(s); !cmd.HasSubCommands() || cmd.Runnable() {
			continue
		}
		groups++
		name := c.names[0]
		code, stdout, stderr := run(t, "", name, "frob")
		want := fmt.Sprintf(`unknown command "frob" for "promote %s"`, name)
		if code != ExitUsage || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("promote %s frob: exit %d, stdout %q, stderr %q; want %d and %q", name, code, stdout, stderr, ExitUsage, want)
		}
		code, stdout, _ = run(t, "", name)
		if code != ExitOK || !strings.Contains(stdout, "Available Commands:") {
			t.Errorf("promote %s: exit %d, stdout %q; want 0 and its help", name, code, stdout)
		}
	}
	if groups == 0 {
		t.Fatal("no group command: the test checked nothing")
	}
	code, _, stderr := run(t, "", "rollout", "puase", "pr_1")
	if code != ExitUsage || !strings.Contains(stderr, "did you mean pause?") {
		t.Errorf("promote rollout puase: exit %d, %q; want %d suggesting pause", code, stderr, ExitUsage)
	}
}

// A usage error that cobra raises (an argument missing, a required or
// unknown flag) names the command's own usage and help, not the root's:
// "accepts 1 arg(s), received 0" alone does not say which argument.
func TestUsageErrorNamesCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "watch"}, "promote: accepts 1 arg(s), received 0\nUsage: promote rollout watch PROMOTION [flags]\n" +
			"Run 'promote rollout watch --help' for usage.\n"},
		{[]string{"history", "credit-risk"}, "promote: required flag(s) \"env\" not set\nUsage: promote history MODEL --env ENV [flags]\n" +
			"Run 'promote history --help' for usage.\n"},
		{[]string{"holds", "set", "credit-risk", "2", "--frob"}, "promote: unknown flag: --frob\nUsage: promote holds set MODEL VERSION --env ENV --reason TEXT [flags]\n" +
			"Run 'promote holds set --help' for usage.\n"},
		{[]string{"frob"}, "promote: unknown command \"frob\" for \"promote\"\nRun 'promote --help' for usage.\n"},
	} {
		code, stdout, stderr := run(t, "", tt.args...)
		if code != ExitUsage || stdout != "" || stderr != tt.want {
			t.Errorf("promote %s: exit %d, stdout %q, stderr\n%s\nwant %d and\n%s", strings.Join(tt.args, " "), code, stdout, stderr, ExitUsage, tt.want)
		}
	}
}
