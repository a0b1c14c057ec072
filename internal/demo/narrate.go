package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// narrator prints the demo's timeline: numbered steps stamped with the
// time since the start, indented lines under them, and a progress line
// that is redrawn in place on a terminal and printed as plain lines
// otherwise.
type narrator struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	// width, when set, is the terminal's width in columns, read at each
	// redraw.
	width func() int
	start time.Time
	step  int
	live  bool // a progress line is drawn and not yet ended
}

func newNarrator(w io.Writer, tty bool) *narrator {
	return &narrator{w: w, tty: tty, start: time.Now()}
}

// elapsed is the time since the start, for people.
func (n *narrator) elapsed() time.Duration { return time.Since(n.start).Round(100 * time.Millisecond) }

// Step starts a numbered step.
func (n *narrator) Step(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.endLive()
	n.step++
	fmt.Fprintf(n.w, "\n%2d. [%5.1fs] %s\n", n.step, time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

// Say prints a line under the current step.
func (n *narrator) Say(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.endLive()
	for _, line := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(n.w, "    %s\n", line)
	}
}

// Plain prints text as it is, unindented.
func (n *narrator) Plain(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.endLive()
	fmt.Fprintf(n.w, format+"\n", args...)
}

// Progress shows line as the progress line.
func (n *narrator) Progress(line string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tty {
		line = "    " + line
		// A line as wide as the terminal wraps, and the carriage return
		// goes back to its last row only: each redraw would leave the
		// rows above it behind.
		if n.width != nil {
			if room := n.width() - 1; room > 0 && utf8.RuneCountInString(line) > room {
				line = string([]rune(line)[:room-1]) + "…"
			}
		}
		fmt.Fprintf(n.w, "\r\033[K%s", line)
		n.live = true
		return
	}
	fmt.Fprintf(n.w, "    %s\n", line)
}

// endLive ends a progress line drawn in place, keeping it on screen.
func (n *narrator) endLive() {
	if n.live {
		fmt.Fprintln(n.w)
		n.live = false
	}
}

// bar draws a share from 0 to 1 as a bar of width characters.
func bar(share float64, width int) string {
	k := int(share*float64(width) + 0.5)
	k = max(0, min(width, k))
	return "[" + strings.Repeat("#", k) + strings.Repeat(".", width-k) + "]"
}
