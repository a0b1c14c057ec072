package cli

import (
	"io"

	"github.com/promote-ml/promote/internal/textfit"
)

// table writes the client commands' tables, fitted to the terminal's
// width (textfit.Table); written to a file or a pipe, a table is always
// aligned, one row a line (--output json is the stable form).
type table = textfit.Table

// newTable returns a table writing to w, shown as escapes (printable).
func newTable(w io.Writer) *table {
	return &table{W: printable{w}, Width: outputWidth(w)}
}

// outputWidth is the width of the terminal w is, in columns, or 0 when w
// is a file or a pipe, whose lines are never wrapped.
func outputWidth(w io.Writer) int {
	if !isTerminal(w) {
		return 0
	}
	return terminalWidth(w)()
}
