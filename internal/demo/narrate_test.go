package demo

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// A progress line redrawn on a terminal fits its width: one that wraps
// leaves its upper rows behind at every redraw, as the carriage return
// goes back to the last row only.
func TestProgressFitsTerminal(t *testing.T) {
	var b bytes.Buffer
	n := newNarrator(&b, true)
	n.width = func() int { return 60 }
	line := "[#####.....]  50% v2 | v2  115 req   0.0% err | v1  566 req   0.0% err | step 2"
	n.Progress(line)
	n.Progress(line)
	n.Say("done")
	draws := strings.Split(strings.TrimPrefix(b.String(), "\r\033[K"), "\r\033[K")
	if len(draws) != 2 {
		t.Fatalf("Progress drew %q, want 2 redraws", b.String())
	}
	for _, d := range draws {
		d, _, _ = strings.Cut(d, "\n")
		if got := utf8.RuneCountInString(d); got >= 60 || !strings.HasPrefix(d, "    [#####.....]  50% v2") {
			t.Errorf("a progress line of %d characters in 60 columns: %q", got, d)
		}
	}
	// Not a terminal: whole lines, never cut.
	b.Reset()
	n = newNarrator(&b, false)
	n.width = func() int { return 60 }
	n.Progress(line)
	if got, want := b.String(), "    "+line+"\n"; got != want {
		t.Errorf("Progress to a pipe = %q, want %q", got, want)
	}
}
