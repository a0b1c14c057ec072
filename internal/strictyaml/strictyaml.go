// Package strictyaml reads YAML (and JSON) documents strictly, for
// Promote's hand-written files: every key must be known, every value of the
// right type, and every problem is reported at once with file:line:column
// and, for a typo, the key that was probably meant.
package strictyaml

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with an input file, at a line and column.
type Problem struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Msg    string `json:"message"`
}

// String formats the problem as file:line:column: message.
func (p Problem) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	case p.File != "":
		return p.File + ": " + p.Msg
	}
	return p.Msg
}

// LoadError lists every problem found while loading a policy or an evidence
// file, so that an author can fix them all in one pass.
type LoadError struct {
	Problems []Problem
}

// Error joins the problems one per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Decoder walks a yaml.Node tree, collecting problems with their positions
// instead of stopping at the first.
type Decoder struct {
	File     string
	Problems []Problem
}

// Errorf records a problem at n's line and column (the file's alone when
// n is nil), formatted as fmt.Sprintf does; decoding goes on.
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	p := Problem{File: d.File, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.Add(p)
}

// Add adds problems found elsewhere (another file's) to d's, each once: a
// part checked more than once (a policy's common rule, compiled for each
// of its environments; a metrics file that several test cases name) has
// its problems listed once.
func (d *Decoder) Add(problems ...Problem) {
	for _, p := range problems {
		if !slices.Contains(d.Problems, p) {
			d.Problems = append(d.Problems, p)
		}
	}
}

// Err returns the problems recorded as a *LoadError, or nil for none.
func (d *Decoder) Err() error {
	if len(d.Problems) == 0 {
		return nil
	}
	return &LoadError{Problems: d.Problems}
}

// Parse parses one YAML (or JSON) document and returns its root node. A
// file must hold exactly one document: a second one (after "---", or a
// second JSON object run on after the first) is an error, not silently
// ignored, since it would drop rules or evidence without a word.
func (d *Decoder) Parse(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		d.parseError(err, data)
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.Errorf(nil, "file is empty")
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		d.parseError(err, data)
		p := &d.Problems[len(d.Problems)-1]
		p.Msg = "content after the first document, which a file holds alone: " + p.Msg
		return nil
	case len(next.Content) > 0:
		d.Errorf(next.Content[0], "a second document begins here; a file holds one (remove the \"---\" or the extra content, or split the file)")
		return nil
	}
	return doc.Content[0]
}

// parseError records a YAML syntax error, with the line the parser names.
func (d *Decoder) parseError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: d.File, Msg: msg}
	// The parser reports "line N: ..."; lift the line into the position.
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if line, err := strconv.Atoi(rest[:i]); err == nil {
				p.Line, p.Column, p.Msg = line, 1, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	// A tab in a line's indentation is the usual cause, and the parser's
	// words ("found character that cannot start any token") do not say so.
	if p.Line > 0 {
		lines := bytes.Split(data, []byte("\n"))
		if p.Line <= len(lines) {
			text := lines[p.Line-1]
			indent := text[:len(text)-len(bytes.TrimLeft(text, " \t"))]
			if i := bytes.IndexByte(indent, '\t'); i >= 0 {
				p.Column = i + 1
				p.Msg += ": the line is indented with a tab, and YAML indents with spaces only"
			}
		}
	}
	d.Problems = append(d.Problems, p)
}

// KindName names n's kind as a problem says what was found: a mapping,
// a list, null, or the scalar's type.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		// Aliases are refused rather than followed: a value defined in one
		// place and used in another makes a rule read differently from
		// where it is written, and nested aliases multiply (a few lines can
		// stand for millions of rules).
		return fmt.Sprintf("an alias (*%s): YAML aliases are not supported, write the value out", n.Value)
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			return fmt.Sprintf("the string %q", n.Value)
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// mapping checks that n is a mapping whose keys are all in allowed, then
// calls fn for each key in file order. An unknown or repeated key is a
// problem naming the key, with a suggestion when one is close.
func (d *Decoder) Mapping(n *yaml.Node, what string, allowed []string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s: want a mapping, got %s", what, KindName(n))
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, "%s: keys must be plain names, got %s", what, KindName(k))
			continue
		}
		key := k.Value
		if k.Tag == "!!merge" {
			d.Errorf(k, "%s: YAML merge keys (<<) are not supported, write the keys out", what)
			continue
		}
		if line, dup := seen[key]; dup {
			d.Errorf(k, "%s: key %q repeated (first at line %d)", what, key, line)
			continue
		}
		seen[key] = k.Line
		if allowed != nil && !Contains(allowed, key) {
			msg := fmt.Sprintf("%s: unknown key %q", what, key)
			if s := SuggestKey(key, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (known keys: %s)", strings.Join(allowed, ", "))
			}
			d.Errorf(k, "%s", msg)
			continue
		}
		fn(key, k, v)
	}
}

// Contains reports whether list holds s.
func Contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Suggest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo.
func Suggest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// minSuggestPrefix is the shortest key that SuggestKey completes to a
// known key it begins: shorter, it would guess.
const minSuggestPrefix = 3

// SuggestKey returns the known key that an unknown key s likely means: the
// closest by edit distance (Suggest), or else the one key that s, of at
// least minSuggestPrefix characters, begins (an abbreviation, such as env
// for environments). Nothing when neither finds one, or s begins several.
func SuggestKey(s string, keys []string) string {
	best := Suggest(s, keys)
	if best != "" || len(s) < minSuggestPrefix {
		return best
	}
	for _, c := range keys {
		if len(c) > len(s) && strings.HasPrefix(c, s) {
			if best != "" && best != c {
				return ""
			}
			best = c
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Str reads a string scalar; anything else (null included) is a problem.
func (d *Decoder) Str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, "%s: want a string, got %s", what, KindName(n))
		return "", false
	}
	return n.Value, true
}

// Name reads a string that must be a valid name (ValidName).
func (d *Decoder) Name(n *yaml.Node, what string) (string, bool) {
	s, ok := d.Str(n, what)
	if !ok {
		return "", false
	}
	if !ValidName(s) {
		d.Errorf(n, "%s: %q is not a valid name (letters, digits, _ . - only, starting with a letter)", what, s)
		return "", false
	}
	return s, true
}

// ValidName reports whether s is a usable rule, metric, check or
// environment name.
func ValidName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// number reads a finite number. Plain scalars that YAML did not resolve as
// numbers (NaN, Infinity, 1e400) are reported as what they are.
func (d *Decoder) Number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, "%s: want a number, got %s", what, KindName(n))
		return 0, false
	}
	if n.Style&yaml.TaggedStyle != 0 {
		// !!str 0.95 is a string and !!float "0.95" a number to YAML;
		// either way the file says something other than what it shows.
		d.Errorf(n, "%s: want a number, got %q with the tag %s: YAML tags are not supported, write the number plainly", what, n.Value, n.Tag)
		return 0, false
	}
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	if quoted || (n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!str") {
		d.Errorf(n, "%s: want a number, got %s", what, KindName(n))
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	switch {
	case err == nil && strings.ContainsAny(n.Value, "xXpP"):
		// Go reads hexadecimal floats (0x1p-2); a metrics file means
		// decimal numbers only, as for hexadecimal integers.
		d.Errorf(n, "%s: %s is not a decimal number", what, n.Value)
	case err == nil && !math.IsNaN(v) && !math.IsInf(v, 0):
		return v, true
	case isNonFinite(n.Value) || (err == nil && (math.IsNaN(v) || math.IsInf(v, 0))):
		d.Errorf(n, "%s: %s is not a finite number", what, n.Value)
	case err != nil && strings.Contains(err.Error(), "range"):
		d.Errorf(n, "%s: %s is out of range", what, n.Value)
	case n.Tag == "!!int" || n.Tag == "!!float":
		d.Errorf(n, "%s: %s is not a decimal number", what, n.Value)
	default:
		d.Errorf(n, "%s: want a number, got %s", what, KindName(n))
	}
	return 0, false
}

func isNonFinite(s string) bool {
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case "nan", ".nan", "inf", ".inf", "infinity":
		return true
	}
	return false
}

// Integer reads a whole number from lo to hi.
func (d *Decoder) Integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.Errorf(n, "%s: want a whole number, got %s", what, KindName(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		d.Errorf(n, "%s: %s is out of range (%d to %d)", what, n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

// Boolean reads true or false (YAML's booleans, not strings).
func (d *Decoder) Boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.Errorf(n, "%s: want true or false, got %s", what, KindName(n))
		return false, false
	}
	return n.Value == "true", true
}

// Duration reads a non-negative duration as Go writes them (30s, 1h30m).
func (d *Decoder) Duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := d.Str(n, what)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.Errorf(n, "%s: %q is not a duration (e.g. 30s, 5m, 1h30m)", what, s)
		return 0, false
	}
	return v, true
}

// OneOf reads a string that must be one of allowed; its problem names the
// one a typo likely meant, when one is close enough (Suggest): "canery"
// is not one of direct, canary, shadow (did you mean "canary"?). The
// message begins as it did before the suggestion was added, for scripts
// that match the load errors the gate prints.
func (d *Decoder) OneOf(n *yaml.Node, what string, allowed ...string) (string, bool) {
	s, ok := d.Str(n, what)
	if !ok {
		return "", false
	}
	if !Contains(allowed, s) {
		msg := fmt.Sprintf("%s: %q is not one of %s", what, s, strings.Join(allowed, ", "))
		if c := Suggest(s, allowed); c != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", c)
		}
		d.Errorf(n, "%s", msg)
		return "", false
	}
	return s, true
}

// Names reads a list of names; a single name is accepted as a list of one.
func (d *Decoder) Names(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if s, ok := d.Name(n, what); ok {
			return []string{s}
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "%s: want a list of names, got %s", what, KindName(n))
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, item := range n.Content {
		s, ok := d.Name(item, what)
		if !ok {
			continue
		}
		if seen[s] {
			d.Errorf(item, "%s: %q listed twice", what, s)
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// SortedKeys returns m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
