package policy

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// FeatureType says how a feature's values are compared: as numbers or as
// category labels.
type FeatureType string

// The feature types.
const (
	FeatureNumeric     FeatureType = "numeric"
	FeatureCategorical FeatureType = "categorical"
)

// Feature is one column of a sample: its values, all numeric or all
// categorical, and how many cells were missing.
type Feature struct {
	// Name is the column header (CSV) or key (JSON), as written.
	Name string
	// Type is FeatureNumeric when every non-missing cell is a finite number,
	// FeatureCategorical otherwise.
	Type FeatureType
	// Numbers holds the values of a FeatureNumeric feature, in file order.
	Numbers []float64
	// Categories holds the values of a FeatureCategorical feature, in file order.
	Categories []string
	// Missing counts the empty cells (CSV), nulls, empty strings and absent
	// keys (JSON); they are skipped.
	Missing int
}

// Count returns the number of values present (missing cells excluded).
func (f Feature) Count() int {
	if f.Type == FeatureNumeric {
		return len(f.Numbers)
	}
	return len(f.Categories)
}

// Samples is a sample of feature values read from one file, such as the
// training data (the reference) or recent production inputs (the current
// sample).
type Samples struct {
	// Name identifies the source in errors and reports, usually the file name.
	Name string
	// Features holds the columns in the order they first appear in the file.
	Features []Feature
}

// Feature returns the feature called name and whether it exists.
func (s Samples) Feature(name string) (Feature, bool) {
	for _, f := range s.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// SampleError reports malformed sample data, naming the file, the line and
// the column where the problem was found.
type SampleError struct {
	// File is the name passed to ParseSamples.
	File string
	// Line is the 1-based line of the problem, or 0 when it concerns the
	// whole file.
	Line int
	// Column is the feature concerned, or "" when none is.
	Column string
	// Err describes the problem.
	Err error
}

// Error implements the error interface: "file:line: column "c": problem".
func (e *SampleError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q: ", e.Column)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *SampleError) Unwrap() error { return e.Err }

// ParseSamples reads a sample of feature values from data; name is used in
// errors and reports and chooses the format by its extension: ".csv" (comma
// separated), ".tsv" (tab separated) or ".json". For any other extension the
// content decides: JSON when it starts with '{' or '[', CSV otherwise.
//
// CSV (RFC 4180) has a header row naming the features, then one row per
// record; every row must have as many fields as the header. JSON is either an
// object of columns, {"age": [31, 45, null]}, or an array of records,
// [{"age": 31, "country": "FR"}, ...]; a key absent from a record is a
// missing value. Values are scalars: a nested object or array is an error.
//
// Cells are trimmed of surrounding white space; empty cells and JSON nulls
// are missing values, counted and skipped. A column is FeatureNumeric when every
// non-missing cell is a decimal number (strconv.ParseFloat syntax without
// hexadecimal or '_' separators; "NaN" and "Inf" included), and a numeric
// cell that is NaN or infinite, or too large for a float64, is an error. Any other column is FeatureCategorical,
// with the cell text (JSON true and false as "true" and "false") as the
// category.
func ParseSamples(name string, data []byte) (Samples, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a UTF-8 byte order mark
	var cols []*sampleColumn
	var err error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		cols, err = sampleParseCSV(name, data, ',')
	case ".tsv":
		cols, err = sampleParseCSV(name, data, '\t')
	case ".json":
		cols, err = sampleParseJSON(name, data)
	default:
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
			cols, err = sampleParseJSON(name, data)
		} else {
			cols, err = sampleParseCSV(name, data, ',')
		}
	}
	if err != nil {
		return Samples{}, err
	}
	if len(cols) == 0 {
		return Samples{}, &SampleError{File: name, Err: errors.New("no features")}
	}
	rows := false
	for _, c := range cols {
		if len(c.cells) > 0 || c.missing > 0 {
			rows = true
			break
		}
	}
	if !rows {
		return Samples{}, &SampleError{File: name, Err: errors.New("no rows")}
	}
	s := Samples{Name: name, Features: make([]Feature, 0, len(cols))}
	for _, c := range cols {
		f, err := c.feature(name)
		if err != nil {
			return Samples{}, err
		}
		s.Features = append(s.Features, f)
	}
	return s, nil
}

// sampleColumn gathers one column's raw cells while a file is read.
type sampleColumn struct {
	name    string
	cells   []string
	lines   []int // the line of each cell, for errors
	missing int
}

func (c *sampleColumn) add(cell string, line int) {
	cell = strings.TrimSpace(cell)
	if cell == "" {
		c.missing++
		return
	}
	c.cells = append(c.cells, cell)
	c.lines = append(c.lines, line)
}

// feature types the column: numeric when every cell is a number.
func (c *sampleColumn) feature(file string) (Feature, error) {
	f := Feature{Name: c.name, Type: FeatureNumeric, Missing: c.missing}
	nums := make([]float64, 0, len(c.cells))
	for i, cell := range c.cells {
		v, err := strconv.ParseFloat(cell, 64)
		var numErr *strconv.NumError
		// Decimal numbers only: Go's hexadecimal floats and digit
		// separators are not how data files write numbers, and an identifier
		// such as "0x1p3" is better compared as a category.
		if strings.ContainsAny(cell, "_xXpP") ||
			err != nil && !(errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange)) {
			f.Type = FeatureCategorical
			break
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Feature{}, &SampleError{File: file, Line: c.lines[i], Column: c.name,
				Err: fmt.Errorf("value %q is not a finite number", cell)}
		}
		nums = append(nums, v)
	}
	if f.Type == FeatureNumeric {
		f.Numbers = nums
	} else {
		f.Categories = c.cells
	}
	return f, nil
}

// sampleNewColumn checks a feature name and registers its column.
func sampleNewColumn(file string, line int, name string, index map[string]*sampleColumn, cols *[]*sampleColumn) (*sampleColumn, error) {
	if strings.TrimSpace(name) == "" {
		return nil, &SampleError{File: file, Line: line, Err: fmt.Errorf("feature %d has an empty name", len(*cols)+1)}
	}
	if _, dup := index[name]; dup {
		return nil, &SampleError{File: file, Line: line, Column: name, Err: errors.New("duplicate feature name")}
	}
	c := &sampleColumn{name: name}
	index[name] = c
	*cols = append(*cols, c)
	return c, nil
}

func sampleParseCSV(file string, data []byte, comma rune) ([]*sampleColumn, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = comma
	r.FieldsPerRecord = -1 // checked below, to report the line and both counts
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &SampleError{File: file, Err: errors.New("empty file: no header row")}
	}
	if err != nil {
		return nil, sampleCSVError(file, err)
	}
	var cols []*sampleColumn
	index := make(map[string]*sampleColumn)
	for i, h := range header {
		line, _ := r.FieldPos(i)
		if _, err := sampleNewColumn(file, line, strings.TrimSpace(h), index, &cols); err != nil {
			return nil, err
		}
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, sampleCSVError(file, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(cols) {
			return nil, &SampleError{File: file, Line: line,
				Err: fmt.Errorf("row has %d fields, the header has %d", len(rec), len(cols))}
		}
		for i, cell := range rec {
			cols[i].add(cell, line)
		}
	}
	return cols, nil
}

func sampleCSVError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &SampleError{File: file, Line: pe.Line, Err: pe.Err}
	}
	return &SampleError{File: file, Err: err}
}

// sampleJSON walks a JSON document token by token so that errors can name
// the line they occur on.
type sampleJSON struct {
	file  string
	data  []byte
	dec   *json.Decoder
	cols  []*sampleColumn
	index map[string]*sampleColumn

	lineOff, lineNo int // newlines counted in data[:lineOff]
}

func sampleParseJSON(file string, data []byte) ([]*sampleColumn, error) {
	p := &sampleJSON{file: file, data: data, index: make(map[string]*sampleColumn)}
	p.dec = json.NewDecoder(bytes.NewReader(data))
	p.dec.UseNumber()
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		err = p.columns()
	case json.Delim('['):
		err = p.records()
	default:
		return nil, p.errorf("", "want an object of columns or an array of records, found %s", sampleDescribe(tok))
	}
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, p.errorf("", "unexpected data after the top-level value")
	}
	return p.cols, nil
}

// line returns the 1-based line of the decoder's position. The decoder
// only moves forward, so the newlines are counted once, from the last call.
func (p *sampleJSON) line() int {
	off := min(int(p.dec.InputOffset()), len(p.data))
	if off > p.lineOff {
		p.lineNo += bytes.Count(p.data[p.lineOff:off], []byte("\n"))
		p.lineOff = off
	}
	return p.lineNo + 1
}

func (p *sampleJSON) errorf(column, format string, args ...any) error {
	return &SampleError{File: p.file, Line: p.line(), Column: column, Err: fmt.Errorf(format, args...)}
}

func (p *sampleJSON) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, p.errorf("", "unexpected end of JSON")
	}
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off := min(int(se.Offset), len(p.data))
			return nil, &SampleError{File: p.file, Line: bytes.Count(p.data[:off], []byte("\n")) + 1, Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		return nil, p.errorf("", "invalid JSON: %w", err)
	}
	return tok, nil
}

// columns reads {"feature": [values...], ...} after its opening brace.
func (p *sampleJSON) columns() error {
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		c, err := sampleNewColumn(p.file, p.line(), name, p.index, &p.cols)
		if err != nil {
			return err
		}
		tok, err = p.token()
		if err != nil {
			return err
		}
		if tok != json.Delim('[') {
			return p.errorf(name, "want an array of values, found %s", sampleDescribe(tok))
		}
		for p.dec.More() {
			if err := p.value(c); err != nil {
				return err
			}
		}
		if _, err := p.token(); err != nil { // ']'
			return err
		}
	}
	_, err := p.token() // '}'
	return err
}

// records reads [{"feature": value, ...}, ...] after its opening bracket.
func (p *sampleJSON) records() error {
	n := 0
	for p.dec.More() {
		n++
		tok, err := p.token()
		if err != nil {
			return err
		}
		if tok != json.Delim('{') {
			return p.errorf("", "record %d: want an object, found %s", n, sampleDescribe(tok))
		}
		seen := make(map[*sampleColumn]bool)
		for p.dec.More() {
			tok, err := p.token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			c, ok := p.index[name]
			if !ok {
				if c, err = sampleNewColumn(p.file, p.line(), name, p.index, &p.cols); err != nil {
					return err
				}
				c.missing = n - 1 // absent from the records before this one
			}
			if seen[c] {
				return p.errorf(name, "record %d: duplicate key", n)
			}
			seen[c] = true
			if err := p.value(c); err != nil {
				return err
			}
		}
		if _, err := p.token(); err != nil { // '}'
			return err
		}
		for _, c := range p.cols {
			if !seen[c] {
				c.missing++
			}
		}
	}
	_, err := p.token() // ']'
	return err
}

// value reads one scalar into c.
func (p *sampleJSON) value(c *sampleColumn) error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	line := p.line()
	switch v := tok.(type) {
	case nil:
		c.missing++
	case json.Number:
		c.add(v.String(), line)
	case string:
		c.add(v, line)
	case bool:
		c.add(strconv.FormatBool(v), line)
	default:
		return p.errorf(c.name, "value is %s; want a number, string, boolean or null", sampleDescribe(tok))
	}
	return nil
}

// sampleDescribe names a JSON token for an error message.
func sampleDescribe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", v.String())
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%v", tok)
}
