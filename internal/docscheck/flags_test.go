package docscheck

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/cli"
)

// commandLine is where a document runs promote: the words after it, up to
// the end of the command (a pipe, a list, a comment, a closing backtick).
var commandLine = regexp.MustCompile("(?:^|[\\s`$(|;&])promote((?:\\s+[a-z][a-z-]*)+)([^`\\n|;&)#]*)")

// flagWord is a flag as a command line writes it: --name, --name=value, -o.
var flagWord = regexp.MustCompile(`(?:^|\s)(--?[a-zA-Z][a-zA-Z0-9-]*)`)

// helpFlag is a flag line of cobra's help: "  -o, --output string  …".
var helpFlag = regexp.MustCompile(`(?m)^\s+(?:(-[a-zA-Z]), )?(--[a-z0-9][a-z0-9-]*)`)

// command is what promote's help says of one command.
type command struct {
	subcommands map[string]bool
	flags       map[string]bool
}

// helpOf runs promote PATH --help and reads its subcommands and flags.
func helpOf(t *testing.T, path []string) command {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append(append([]string{}, path...), "--help")
	if code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("promote %s = exit %d, %s", strings.Join(args, " "), code, errOut.String())
	}
	c := command{subcommands: map[string]bool{}, flags: map[string]bool{}}
	text := out.String()
	if _, rest, ok := strings.Cut(text, "\nAvailable Commands:\n"); ok {
		list, _, _ := strings.Cut(rest, "\n\n")
		for line := range strings.SplitSeq(list, "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				c.subcommands[f[0]] = true
			}
		}
	}
	for _, m := range helpFlag.FindAllStringSubmatch(text, -1) {
		if m[1] != "" {
			c.flags[m[1]] = true
		}
		c.flags[m[2]] = true
	}
	return c
}

// TestCommandLineFlags checks every promote command line of the README and
// the docs: each flag it gives is one that command has, as its --help
// spells it. A flag renamed or removed, or a doc that misspells one, fails
// here rather than in a reader's terminal.
func TestCommandLineFlags(t *testing.T) {
	files := []string{filepath.Join(root, "README.md")}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, docs...)
	help := map[string]command{}
	lookup := func(path []string) command {
		key := strings.Join(path, " ")
		c, ok := help[key]
		if !ok {
			c = helpOf(t, path)
			help[key] = c
		}
		return c
	}
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			n := i + 1
			line := lines[i]
			// A command continued with a backslash is one command line.
			for strings.HasSuffix(strings.TrimRight(line, " "), `\`) && i+1 < len(lines) {
				i++
				line = strings.TrimSuffix(strings.TrimRight(line, " "), `\`) + " " + lines[i]
			}
			for _, m := range commandLine.FindAllStringSubmatch(line, -1) {
				words := strings.Fields(m[1])
				if !lookup(nil).subcommands[words[0]] {
					continue // "promote" as a word, not a command
				}
				var path []string
				for _, w := range words {
					if !lookup(path).subcommands[w] {
						break
					}
					path = append(path, w)
				}
				c := lookup(path)
				rest := strings.Join(words[len(path):], " ") + " " + m[2]
				for _, f := range flagWord.FindAllStringSubmatch(rest, -1) {
					checked++
					if !c.flags[f[1]] {
						t.Errorf("%s:%d: promote %s has no flag %s (in %q)", rel(file), n, strings.Join(path, " "), f[1], strings.TrimSpace(line))
					}
				}
			}
		}
	}
	t.Logf("%d flags of promote command lines in %d files", checked, len(files))
	if checked < 100 {
		t.Errorf("checked %d flags, want the docs' many", checked)
	}
}
