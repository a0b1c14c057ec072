// Package invisible says which characters of a person's text act on what a
// reader sees, or hide in it, instead of showing themselves: the controls
// that a terminal obeys, and the format characters that reorder a line or
// show nothing at all. A right-to-left override (U+202E) in a hold's reason
// can make an approver read the words in another order than they were
// written, and a zero-width space can make two different names look the
// same (the "Trojan Source" problem, CVE-2021-42574). The command line, the
// web UI, notifications and the audit log's CSV all show such characters as
// escapes; this package is their one definition of which characters those
// are.
package invisible

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Is reports whether r acts on or hides from what a reader sees: a C0
// control but tab, line feed and carriage return (each surface decides what
// its line breaks are), DEL, a C1 control, a format character (Unicode
// category Cf: the bidirectional controls U+202A–U+202E, U+2066–U+2069,
// U+200E, U+200F and U+061C, the zero-width space and joiners, the byte
// order mark, the tag characters), a line or paragraph separator (U+2028,
// U+2029), or another character Unicode marks default-ignorable, which
// shows nothing (a Hangul filler, U+034F). Text in any script, emoji and
// their variation selectors are not.
func Is(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r < 0xa0:
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point)
}

// Reveal returns page with each character that acts on or hides in what
// the reader sees (Is: a bidirectional override, a zero-width
// space, a control) written as its code point, ⟨U+202E⟩. html/template
// escapes a person's text for HTML but passes such characters, and a
// right-to-left override in a note or a reason would make an approver read
// it in another order than it was written (CVE-2021-42574). The templates
// hold none of them, so every one in a page came from the data: revealing
// the whole page covers every field, text and attribute alike, including
// those added later, and the written form is plain text, safe in any
// context of the page. Tabs and line breaks pass as they are.
func Reveal(page []byte) []byte { return reveal(page, utf8.DecodeRune) }

// RevealString is Reveal for a string: a field of the audit log's CSV, a
// Slack line. It returns s itself when s has no such character.
func RevealString(s string) string { return reveal(s, utf8.DecodeRuneInString) }

// reveal is Reveal and RevealString, with decode the UTF-8 decoder of T:
// text comes back as it is, not copied, when it holds nothing to reveal.
func reveal[T string | []byte](text T, decode func(T) (rune, int)) T {
	i := 0
	for i < len(text) {
		r, size := decode(text[i:])
		if Is(r) {
			break
		}
		i += size
	}
	if i == len(text) {
		return text
	}
	out := append(make([]byte, 0, len(text)+64), text[:i]...)
	for i < len(text) {
		r, size := decode(text[i:])
		if Is(r) {
			out = fmt.Appendf(out, "⟨U+%04X⟩", r)
		} else {
			out = append(out, text[i:i+size]...)
		}
		i += size
	}
	return T(out)
}
