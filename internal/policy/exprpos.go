package policy

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// exprText says where an expression's text lies in its policy file, so that
// a position CEL reports inside the expression (line and column of the
// expression) is reported at the file's line and column of the fault.
type exprText struct {
	line, col int // where the expression's text starts: its first character but blank lines
	// exact: the expression's line i is the file's line first+i-1 from
	// column col, verbatim, so every position maps. Otherwise a position
	// maps to (line, col), where the text starts.
	exact bool
	first int
}

// exprTextOf works out where the expression expr, the value of the scalar
// node v (whose key is k), lies in the policy file, whose lines are lines. A position maps
// exactly only where the file holds the expression verbatim: a plain or
// quoted scalar on one line without escapes, or a literal block ("|",
// with any chomping or indentation indicator), whose lines are the file's
// line for line. A folded block (">") joins its lines with spaces, a
// multi-line flow scalar folds too, and a quoted one may hold escapes: an
// offset in such an expression is not a column of one line of the file,
// so its positions fall back to where the text starts (for a block, its
// first content line).
func exprTextOf(lines [][]byte, k, v *yaml.Node, expr string) exprText {
	lineAt := func(n int) string {
		if n < 1 || n > len(lines) {
			return ""
		}
		return strings.TrimSuffix(string(lines[n-1]), "\r")
	}
	switch v.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		start, indent := blockContent(lineAt, k, v)
		if start == 0 {
			return exprText{line: v.Line, col: v.Column}
		}
		at := exprText{line: start, col: indent + 1}
		if v.Style == yaml.LiteralStyle {
			// Lines before start are blank lines of the block: they are
			// the expression's too, as empty lines, so the expression's
			// first line is the block's first line.
			at.first, at.exact = v.Line+1, true
			for i, text := range strings.Split(strings.TrimRight(expr, "\n"), "\n") {
				if text != "" && runeSuffix(lineAt(at.first+i), indent) != text {
					at.exact = false
				}
			}
		}
		return at
	default:
		at := exprText{line: v.Line, col: v.Column, first: v.Line}
		if v.Style == yaml.SingleQuotedStyle || v.Style == yaml.DoubleQuotedStyle {
			at.col++
		}
		at.exact = !strings.Contains(expr, "\n") && strings.HasPrefix(runeSuffix(lineAt(at.line), at.col-1), expr)
		return at
	}
}

// blockContent returns the line of a block scalar's first content (not
// blank) line and the block's indentation, or 0 when the block has none.
// An indentation indicator ("|2") sets the indentation, relative to the
// mapping that holds the key k (YAML 1.2, section 8.1.1.1); otherwise the
// first content line does.
func blockContent(lineAt func(int) string, k, v *yaml.Node) (line, indent int) {
	header := runeSuffix(lineAt(v.Line), v.Column) // after the "|" or ">"
	explicit := 0
	for _, c := range header {
		if c >= '1' && c <= '9' {
			explicit = int(c - '0')
			break
		}
		if c != '-' && c != '+' {
			break
		}
	}
	for n := v.Line + 1; n <= v.Line+1+strings.Count(v.Value, "\n"); n++ {
		text := lineAt(n)
		if strings.TrimSpace(text) == "" {
			continue
		}
		if explicit > 0 {
			return n, k.Column - 1 + explicit
		}
		return n, len(text) - len(strings.TrimLeft(text, " "))
	}
	return 0, 0
}

// runeSuffix returns s without its first n characters ("" when it has
// fewer): YAML's columns, and CEL's, count characters, not bytes.
func runeSuffix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[i:]
		}
		n--
	}
	return ""
}

// position returns the file's line and column of the expression's line
// and column (both from 1) where CEL found a fault.
func (at exprText) position(line, col int) (int, int) {
	if !at.exact || line < 1 || col < 1 {
		return at.line, at.col
	}
	return at.first + line - 1, at.col + col - 1
}
