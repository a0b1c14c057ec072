package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/promote-ml/promote/internal/invisible"
)

// Text from the server — a model's description, a reason, a comment — is
// written by people and reaches other people's terminals in tables. A
// control character in it would act there: an escape sequence written by
// a submitter could retitle an approver's window, clear the screen, or
// move the cursor back over a line of the table, hiding what is approved
// (kubectl's CVE-2021-25743 was this), and a bidirectional override or
// a zero-width character could reorder or disguise what the approver
// reads. Tables therefore show such characters (invisible.Is, the same as
// the web UI's) as escapes (\x1b, \u202e) instead of sending them. JSON
// output carries the text as it is.

// printable writes to w with every control character but tab and newline
// shown as an escape: the table's own tabs and newlines pass, an ESC
// does not.
type printable struct{ w io.Writer }

func (p printable) Write(b []byte) (int, error) {
	if !needsEscape(b, false) {
		return p.w.Write(b)
	}
	if _, err := p.w.Write(escapeControls(b, false)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// cellText is s for a table's cell: its control characters shown as
// escapes, and a tab or a line break, which would break the table's
// columns and rows, as a space.
func cellText(s string) string {
	if !needsEscape([]byte(s), true) {
		return s
	}
	return string(escapeControls([]byte(s), true))
}

// needsEscape says whether b holds a byte escapeControls would change.
func needsEscape(b []byte, inCell bool) bool {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 || controlRune(r, inCell) {
			return true
		}
		i += size
	}
	return false
}

// escapeControls returns b with each control character (C0 but for tab
// and newline, DEL, C1, and the format characters that reorder what a
// terminal shows or show nothing: invisible.Is) and each byte that is not
// UTF-8 written as an escape.
// In a cell, a tab, newline or carriage return is a space.
func escapeControls(b []byte, inCell bool) []byte {
	var out strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&out, `\x%02x`, b[i])
		case inCell && (r == '\t' || r == '\n' || r == '\r'):
			out.WriteByte(' ')
		case controlRune(r, inCell) && r < utf8.RuneSelf:
			fmt.Fprintf(&out, `\x%02x`, r)
		case controlRune(r, inCell) && r > 0xffff:
			fmt.Fprintf(&out, `\U%08x`, r)
		case controlRune(r, inCell):
			fmt.Fprintf(&out, `\u%04x`, r)
		default:
			out.Write(b[i : i+size])
		}
		i += size
	}
	return []byte(out.String())
}

// controlRune says whether r acts on a terminal rather than shows: tab
// and newline only in a cell, since outside one they are the table's own;
// a carriage return always, since it moves the cursor back over the line.
func controlRune(r rune, inCell bool) bool {
	switch r {
	case '\t', '\n':
		return inCell
	case '\r':
		return true
	}
	return invisible.Is(r)
}
