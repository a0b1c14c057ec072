package textfit

import "unicode/utf8"

// Cut returns text shortened to at most max characters (runes), the cut
// marked with an ellipsis as its last character; text as it is when it
// is no longer.
func Cut(text string, max int) string {
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	n := 0
	for i := range text {
		if n == max-1 {
			return text[:i] + "…"
		}
		n++
	}
	return text
}
