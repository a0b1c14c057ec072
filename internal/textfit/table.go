// Package textfit writes tables and text to fit a terminal's width, so
// that a terminal never wraps a row across the next lines.
package textfit

import (
	"bytes"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// Table writes tables: lines of tab-separated cells, aligned in columns
// at each Flush, as a tabwriter aligns them. In a terminal narrower than a
// table, a terminal would wrap each row across the next lines, so that the
// columns no longer line up and an ID or a state lands in the middle of
// another row's text; the table is then written as records instead, one
// cell a line under its column's header, long text wrapped within the
// terminal's width, as psql's expanded display does; when only the last
// column (a reason, a comment) makes the table too wide, that column wraps
// within itself instead. Nothing is cut: every cell is there in full.
// With Width 0 (a file or a pipe), a table is always aligned, one row a
// line, as a tabwriter with a gap of two spaces writes it, for scripts
// that cut columns.
type Table struct {
	W      io.Writer // where Flush writes
	Width  int       // the terminal's width in columns; 0 when W is no terminal
	buf    bytes.Buffer
	header []string // the last header row, for pages written without one
	// records: the table of header was written as records, and so are its
	// later pages.
	records bool
	written bool // a record was written: the next one follows a blank line
}

// Write adds p to what the next Flush writes.
func (t *Table) Write(p []byte) (int, error) { return t.buf.Write(p) }

// Flush writes what was written since the last Flush: each run of lines
// with tabs as a table, the other lines as they are.
func (t *Table) Flush() error {
	text := t.buf.String()
	t.buf.Reset()
	var out bytes.Buffer
	lines := strings.SplitAfter(text, "\n")
	for i := 0; i < len(lines); {
		if !strings.Contains(lines[i], "\t") {
			out.WriteString(t.line(lines[i]))
			i++
			continue
		}
		j := i
		for j < len(lines) && strings.Contains(lines[j], "\t") {
			j++
		}
		t.block(&out, lines[i:j])
		i = j
	}
	_, err := t.W.Write(out.Bytes())
	return err
}

// line returns a line written between tables (a title, a summary): in a
// terminal narrower than it, wrapped within the width (Hanging, with no
// indent); elsewhere, or when it fits, as it is.
func (t *Table) line(l string) string {
	text, ok := strings.CutSuffix(l, "\n")
	if t.Width == 0 || !ok || utf8.RuneCountInString(text) <= t.Width {
		return l
	}
	return Hanging("", text, t.Width)
}

// tableGap is the space between two aligned columns.
const tableGap = 2

// block writes one run of table lines, aligned or as records.
func (t *Table) block(out *bytes.Buffer, lines []string) {
	rows := make([][]string, len(lines))
	widths := []int{}
	for i, l := range lines {
		rows[i] = strings.Split(strings.TrimSuffix(l, "\n"), "\t")
		for c, cell := range rows[i] {
			if c == len(widths) {
				widths = append(widths, 0)
			}
			widths[c] = max(widths[c], utf8.RuneCountInString(cell))
		}
	}
	headed := isHeader(rows[0])
	if headed {
		t.header, t.records = rows[0], false
	}
	total := 0
	for _, w := range widths {
		total += w + tableGap
	}
	total -= tableGap
	switch {
	case t.records && !headed:
		// A later page of a table written as records is written as
		// records too, whatever its width.
	case t.Width == 0 || total <= t.Width:
		aligned(out, lines)
		return
	default:
		t.wrapOrRecords(out, rows, widths, total)
		return
	}
	t.writeRecords(out, rows)
}

// wrapOrRecords writes rows too wide for the terminal: when the columns
// before the last fit with room for its text (a reason, a comment), the
// last one wraps within its column; otherwise, as records.
func (t *Table) wrapOrRecords(out *bytes.Buffer, rows [][]string, widths []int, total int) {
	lead := total - widths[len(widths)-1]
	if t.Width-lead >= minWrapWidth || len(t.header) < 2 {
		var wrapped []string
		for _, r := range rows {
			cells := r[:len(r)-1]
			for k, part := range wrap(r[len(r)-1], max(t.Width-lead-1, minWrapWidth)) {
				wrapped = append(wrapped, strings.Join(append(cells, part), "\t")+"\n")
				if k == 0 {
					cells = make([]string, len(cells)) // continuation lines: empty cells
				}
			}
		}
		aligned(out, wrapped)
		return
	}
	t.records = true
	t.writeRecords(out, rows)
}

// writeRecords writes rows as records: each cell on a line of its own,
// after its column's header, text wrapped within the terminal's width.
func (t *Table) writeRecords(out *bytes.Buffer, rows [][]string) {
	labels := 0
	for _, h := range t.header {
		labels = max(labels, utf8.RuneCountInString(h))
	}
	labels += tableGap
	for _, r := range rows {
		if isHeader(r) {
			continue
		}
		if t.written {
			out.WriteByte('\n')
		}
		t.written = true
		for c, cell := range r {
			label := ""
			if c < len(t.header) {
				label = t.header[c]
			}
			out.WriteString(Hanging(label+strings.Repeat(" ", labels-utf8.RuneCountInString(label)), cell, t.Width))
		}
	}
}

// minWrapWidth is the narrowest a wrapped cell gets: below it, a table
// is written as records.
const minWrapWidth = 24

// aligned writes lines of tab-separated cells aligned in columns.
func aligned(out *bytes.Buffer, lines []string) {
	tw := tabwriter.NewWriter(out, 0, 0, tableGap, ' ', 0)
	for _, l := range lines {
		io.WriteString(tw, l)
	}
	tw.Flush()
}

// isHeader reports whether a row is a table's header: every cell in
// capitals (ID, REQUESTED BY, P95 MS).
func isHeader(cells []string) bool {
	for _, c := range cells {
		if c == "" || strings.IndexFunc(c, unicode.IsLower) >= 0 || strings.IndexFunc(c, unicode.IsUpper) < 0 {
			return false
		}
	}
	return len(cells) > 0
}

// Hanging returns prefix then s, wrapped within width columns, as lines
// ending in a newline, the lines after the first indented as far as
// prefix (a hanging indent), so that a record's label or a reason's FAIL
// stands clear of the text.
func Hanging(prefix, s string, width int) string {
	pad := utf8.RuneCountInString(prefix)
	var b strings.Builder
	for k, part := range wrap(s, max(width-pad-1, 16)) {
		if k == 0 {
			b.WriteString(prefix)
		} else {
			b.WriteString(strings.Repeat(" ", pad))
		}
		b.WriteString(part + "\n")
	}
	return b.String()
}

// wrap breaks s into lines of at most width characters, at spaces; a
// word longer than width has a line of its own, whole, so that an ID or a
// digest is never split. The first line keeps the spaces s begins with,
// which show a nested rule's depth.
func wrap(s string, width int) []string {
	indent := s[:len(s)-len(strings.TrimLeft(s, " "))]
	var lines []string
	line := indent
	for _, word := range strings.Fields(s) {
		switch {
		case line == indent:
			line += word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
