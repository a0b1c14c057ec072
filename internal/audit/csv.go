package audit

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/invisible"
	"github.com/promote-ml/promote/promote"
)

// CSVHeader is the header row of the audit log as CSV, the names of its
// columns in order: the event's fields as the API names them, in the
// body's order, its reasons in words (ReasonsText) and its hash. token_id
// is there so that a row says which of a person's tokens acted (the actor
// is only the token's name), as the body does.
var CSVHeader = []string{"seq", "time", "actor", "action", "model", "version", "environment", "promotion_id", "token_id", "digest", "decision", "reasons", "hash"}

// CSVWriter writes audit events as CSV for spreadsheets, one row an
// event under CSVHeader: RFC 4180 (every field quoted, a quote doubled,
// rows ended by CRLF), times in RFC 3339 in UTC, reasons in the words the
// pages show. Every cell is guarded against formula injection (formulaSafe),
// and a character that reorders or hides text (a bidirectional override, a
// zero-width space, a control: invisible.Is) is written as its code point,
// ⟨U+202E⟩, as the pages and the command line show it: a spreadsheet would
// obey it and show a reason's words in another order than they were
// written (CVE-2021-42574), and an auditor must see it. The CSV is for
// reading: what verifies, with every value exact, is the export.
type CSVWriter struct {
	w   *bufio.Writer
	err error
}

// NewCSVWriter returns a CSVWriter writing to w. Rows are buffered until
// Flush.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: bufio.NewWriter(w)} }

// WriteHeader writes the header row, CSVHeader.
func (c *CSVWriter) WriteHeader() error { return c.row(CSVHeader) }

// Write writes the row of e.
func (c *CSVWriter) Write(e promote.AuditEvent) error {
	return c.row([]string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Model, e.Version,
		e.Environment, e.PromotionID, e.TokenID, e.Digest, e.Decision, ReasonsText(e.Reasons), e.Hash})
}

// Flush writes the rows buffered and returns the first error met.
func (c *CSVWriter) Flush() error {
	if c.err == nil {
		c.err = c.w.Flush()
	}
	return c.err
}

// row writes one record, quoting every field as RFC 4180 allows: a field
// that is always quoted cannot be split by a spreadsheet that reads
// another separator (a semicolon, in many locales) into a cell that
// starts with a formula.
func (c *CSVWriter) row(fields []string) error {
	for i, f := range fields {
		if c.err != nil {
			return c.err
		}
		if i > 0 {
			c.err = c.w.WriteByte(',')
		}
		if c.err == nil {
			_, c.err = c.w.WriteString(`"` + strings.ReplaceAll(formulaSafe(invisible.RevealString(f)), `"`, `""`) + `"`)
		}
	}
	if c.err == nil {
		_, c.err = c.w.WriteString("\r\n")
	}
	return c.err
}

// formulaSafe guards a cell against CSV (formula) injection: a spreadsheet
// reads a cell that starts with =, +, - or @ as a formula, and a tab or a
// carriage return before one is skipped, so such a cell gets a leading
// apostrophe, which makes it text. This is OWASP's advice, "CSV Injection",
// https://owasp.org/www-community/attacks/CSV_Injection. Reasons are what
// people typed, and any cell could be; the apostrophe stays in the text.
func formulaSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
