package docscheck

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// fence is a line that opens a fenced code block: three backticks and an
// info string without one (CommonMark, "Fenced code blocks").
var fence = regexp.MustCompile("^```[^`]*$")

// TestCodeFencesClose checks that every fenced code block of the
// Markdown documents closes on a line of its own. A closing fence with
// text after it is no fence: the block runs on, and the prose and
// headings after it show as code until the next fence, which then opens
// a block where prose was meant.
func TestCodeFencesClose(t *testing.T) {
	for _, path := range markdownFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		open := 0 // the line of the fence that opened the block; 0 outside one
		for i, line := range strings.Split(string(b), "\n") {
			n := i + 1
			if !strings.HasPrefix(line, "```") {
				continue
			}
			switch {
			case open == 0 && fence.MatchString(line):
				open = n
			case open == 0:
				t.Errorf("%s:%d: %q opens no code block: an info string may not hold a backtick", rel(path), n, line)
			case strings.TrimSpace(line) == "```":
				open = 0
			default:
				t.Errorf("%s:%d: %q does not close the code block opened at line %d: a closing fence stands alone on its line", rel(path), n, line, open)
			}
		}
		if open != 0 {
			t.Errorf("%s:%d: the code block opened here is never closed", rel(path), open)
		}
	}
}
