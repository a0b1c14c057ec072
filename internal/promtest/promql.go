package promtest

import (
	"fmt"
	"slices"
	"strings"
)

// promqlKeywords are PromQL's words that are neither metric nor function
// names: binary operators and modifiers.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// labelListAfter are the keywords followed by a parenthesised list of label
// names, which are not metric names either.
var labelListAfter = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// MetricNames returns the metric names a PromQL expression selects, sorted
// and without repeats: the identifiers that are not a function or an
// aggregation (followed by "("), a keyword, a label list (after by, on…),
// nor inside a string, a label matcher ({…}) or a range ([…]). It is a
// lexer, not a parser: an expression it accepts may still not parse, which
// only Prometheus tells (Server.Count of it). A selector by __name__ alone
// has no name to return, and is an error, as is an unbalanced bracket.
func MetricNames(expr string) ([]string, error) {
	var names []string
	parens := 0
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
	}
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	// skipString returns the index after the string that starts at i,
	// whose backslash escapes are skipped (raw strings have none).
	skipString := func(i int) (int, error) {
		q := expr[i]
		for j := i + 1; j < len(expr); j++ {
			switch {
			case expr[j] == '\\' && q != '`':
				j++
			case expr[j] == q:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at offset %d of %q", i, expr)
	}
	// closing returns the index after the bracket that closes the one at
	// i, skipping strings.
	closing := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(expr); j++ {
			switch c := expr[j]; c {
			case '"', '\'', '`':
				end, err := skipString(j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %c at offset %d of %q", open, i, expr)
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '#': // a comment, to the end of the line
			if j := strings.IndexByte(expr[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(expr)
			}
		case c == '{':
			j, err := closing(i, '{', '}')
			if err != nil {
				return nil, err
			}
			if strings.Contains(expr[i:j], "__name__") {
				return nil, fmt.Errorf("a selector by __name__ in %q: name the metric instead", expr)
			}
			i = j
		case c == '[':
			j, err := closing(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration (5m, 1e3, 0x1f): letters after a digit
			// belong to it.
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++
			}
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word, next := expr[i:j], skipSpace(j)
			i = j
			switch {
			case labelListAfter[strings.ToLower(word)]:
				if next < len(expr) && expr[next] == '(' {
					end, err := closing(next, '(', ')')
					if err != nil {
						return nil, err
					}
					i = end
				}
			case promqlKeywords[strings.ToLower(word)]:
			case next < len(expr) && expr[next] == '(':
				// a function or an aggregation
			case aggregationModifier(expr[next:]):
				// an aggregation whose label list comes first: sum by (l) (…)
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
		case c == '(':
			parens++
			i++
		case c == ')':
			if parens--; parens < 0 {
				return nil, fmt.Errorf("unbalanced ) at offset %d of %q", i, expr)
			}
			i++
		default:
			i++
		}
	}
	if parens != 0 {
		return nil, fmt.Errorf("unbalanced ( in %q", expr)
	}
	slices.Sort(names)
	return names, nil
}

// aggregationModifier reports whether s starts with "by" or "without" and
// then "(", as the label list of an aggregation written before its
// argument does.
func aggregationModifier(s string) bool {
	for _, kw := range []string{"by", "without"} {
		if len(s) > len(kw) && strings.EqualFold(s[:len(kw)], kw) && strings.HasPrefix(strings.TrimLeft(s[len(kw):], " \t\r\n"), "(") {
			return true
		}
	}
	return false
}
