package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

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
