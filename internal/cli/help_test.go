package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walk calls f on cmd and every command under it.
func walk(cmd *cobra.Command, f func(*cobra.Command)) {
	f(cmd)
	for _, sub := range cmd.Commands() {
		walk(sub, f)
	}
}

// TestHelpExamples keeps each command's help true for a newcomer: every
// client command shows an example, every example's promote command line
// parses (its command, flags, arguments and required flags), and a usage
// line names every flag the command requires.
func TestHelpExamples(t *testing.T) {
	s := &streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	walk(newRootCmd(s, nil), func(cmd *cobra.Command) {
		if cmd.Hidden || !cmd.Runnable() || cmd.HasSubCommands() {
			return
		}
		path := cmd.CommandPath()
		if cmd.Flags().Lookup("server") != nil && cmd.Example == "" {
			t.Errorf("%s --help shows no example", path)
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if req := f.Annotations[cobra.BashCompOneRequiredFlag]; len(req) > 0 && req[0] == "true" && !strings.Contains(cmd.Use, "--"+f.Name) {
				t.Errorf("%s requires --%s, which its usage line %q does not name", path, f.Name, cmd.Use)
			}
		})
		for _, line := range exampleCommands(cmd.Example) {
			words, err := shellWords(line)
			if err != nil || len(words) < 2 {
				t.Errorf("%s: example %q: %v", path, line, err)
				continue
			}
			root := newRootCmd(s, nil) // fresh flags: none set by an earlier example
			found, rest, err := root.Find(words[1:])
			if err == nil {
				err = found.ParseFlags(rest)
			}
			if err == nil {
				err = found.ValidateArgs(found.Flags().Args())
			}
			if err == nil {
				err = found.ValidateRequiredFlags()
			}
			if err == nil {
				err = found.ValidateFlagGroups()
			}
			if err == nil && !found.Runnable() {
				err = errors.New("names a group, not a command")
			}
			if err != nil {
				t.Errorf("%s --help: example %q: %v", path, line, err)
			}
		}
	})
}

// exampleCommands returns the promote command lines of an example: lines
// joined at a trailing backslash, cut at &&, | and ;, a redirection
// dropped, and $(promote …) taken out of its substitution.
func exampleCommands(example string) []string {
	example = strings.ReplaceAll(example, "\\\n", " ")
	var out []string
	for _, line := range strings.Split(example, "\n") {
		if i := strings.Index(line, "$(promote "); i >= 0 {
			line = line[i+2:]
			if j := strings.LastIndex(line, ")"); j >= 0 {
				line = line[:j]
			}
		}
		for _, seg := range splitOutsideQuotes(line, "&&", "|", ";") {
			seg = strings.TrimSpace(seg)
			if i := indexOutsideQuotes(seg, ">"); i >= 0 {
				seg = strings.TrimSpace(seg[:i])
			}
			if strings.HasPrefix(seg, "promote ") {
				out = append(out, seg)
			}
		}
	}
	return out
}

// splitOutsideQuotes cuts s at each separator outside quotes.
func splitOutsideQuotes(s string, seps ...string) []string {
	var out []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		default:
			for _, sep := range seps {
				if strings.HasPrefix(s[i:], sep) {
					out = append(out, s[start:i])
					i += len(sep) - 1
					start = i + 1
					break
				}
			}
		}
	}
	return append(out, s[start:])
}

func indexOutsideQuotes(s, sub string) int {
	parts := splitOutsideQuotes(s, sub)
	if len(parts) == 1 {
		return -1
	}
	return len(parts[0])
}

// shellWords splits a command line into words as a POSIX shell does, for
// quotes and backslashes; variables stay as they are written.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				w.WriteByte(c)
			}
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				w.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// TestHelpNamesEnvironment checks that a flag whose default a PROMOTE_*
// variable sets says so in its help: otherwise a default that differs
// from one machine to the next has no explanation on the screen.
func TestHelpNamesEnvironment(t *testing.T) {
	vars := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	re := regexp.MustCompile(`"(PROMOTE_[A-Z_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			vars[m[1]] = true
		}
	}
	if len(vars) < 10 {
		t.Fatalf("found only %d PROMOTE_* variables in the sources", len(vars))
	}
	defaults := func() map[string]*pflag.Flag {
		s := &streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}}
		out := map[string]*pflag.Flag{}
		walk(newRootCmd(s, nil), func(cmd *cobra.Command) {
			add := func(f *pflag.Flag) { out[cmd.CommandPath()+" --"+f.Name] = f }
			cmd.Flags().VisitAll(add)
			cmd.PersistentFlags().VisitAll(add)
		})
		return out
	}
	base := defaults()
	for v := range vars {
		for _, value := range []string{"17m", "/sentinel/value"} {
			t.Run(v+"="+value, func(t *testing.T) {
				t.Setenv(v, value)
				for name, f := range defaults() {
					if f.DefValue != base[name].DefValue && !strings.Contains(f.Usage, "$"+v) {
						t.Errorf("%s: its default is $%s (%q), which its help %q does not name", name, v, f.DefValue, f.Usage)
					}
				}
			})
		}
	}
}
