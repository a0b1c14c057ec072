package overlay

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// A kustomization.yaml is the user's file: a promotion must change the
// pinned digest and nothing else, or every promotion commit would also
// reformat the file. Re-encoding a parsed YAML tree keeps comments and key
// order but not blank lines, indentation or comment spacing, so pinImage
// edits the text at the positions the parser reports, and re-encodes the
// tree (comments and order kept) only for layouts it cannot edit in place,
// such as a flow-style entry {name: x} that needs a new key.

// textEdit replaces src[start:end] with text.
type textEdit struct {
	start, end int
	text       string
}

func applyEdits(src []byte, edits []textEdit) []byte {
	slices.SortFunc(edits, func(a, b textEdit) int { return b.start - a.start })
	out := slices.Clone(src)
	for _, e := range edits {
		out = slices.Concat(out[:e.start], []byte(e.text), out[e.end:])
	}
	return out
}

// lines indexes the byte offset at which each line of src starts.
type lines struct {
	src    []byte
	starts []int
}

func newLines(src []byte) *lines {
	l := &lines{src: src, starts: []int{0}}
	for i, c := range src {
		if c == '\n' {
			l.starts = append(l.starts, i+1)
		}
	}
	return l
}

// offset returns the byte offset of a parser position: line and column are
// 1-based, and the column counts characters.
func (l *lines) offset(line, col int) (int, bool) {
	if line < 1 || line > len(l.starts) || col < 1 {
		return 0, false
	}
	off := l.starts[line-1]
	for range col - 1 {
		if off >= len(l.src) || l.src[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(l.src[off:])
		off += size
	}
	return off, true
}

// lineEnd returns the offset just past the newline that ends the line
// holding off (len(src) on a last line without one).
func (l *lines) lineEnd(off int) int {
	if i := bytes.IndexByte(l.src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(l.src)
}

// scalarSpan returns where the text of a one-line scalar node is in src,
// quotes included.
func (l *lines) scalarSpan(n *yaml.Node) (int, int, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return 0, 0, false
	}
	start, ok := l.offset(n.Line, n.Column)
	if !ok {
		return 0, 0, false
	}
	rest := l.src[start:]
	switch n.Style {
	case 0, yaml.TaggedStyle:
		if n.Style == yaml.TaggedStyle || strings.ContainsAny(n.Value, "\n") || !bytes.HasPrefix(rest, []byte(n.Value)) {
			return 0, 0, false
		}
		return start, start + len(n.Value), true
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := rest[0]
		for i := 1; i < len(rest); i++ {
			switch {
			case rest[i] == '\n':
				return 0, 0, false
			case q == '"' && rest[i] == '\\':
				i++
			case q == '\'' && rest[i] == '\'' && i+1 < len(rest) && rest[i+1] == '\'':
				i++
			case rest[i] == q:
				return start, start + i + 1, true
			}
		}
	}
	return 0, 0, false
}

// quoteAs writes value in the quoting style of n. Values pinned here
// (digests) need no escaping.
func quoteAs(n *yaml.Node, value string) string {
	switch n.Style {
	case yaml.DoubleQuotedStyle:
		return `"` + value + `"`
	case yaml.SingleQuotedStyle:
		return "'" + value + "'"
	}
	return value
}

// pinImage returns k's text with the images entry of model set to digest
// and without a newTag.
func pinImage(k *kustomization, model, digest string) ([]byte, error) {
	entry, err := k.modelImage(model)
	if err != nil {
		return nil, err
	}
	if out, ok := pinImageInPlace(k, entry, digest); ok {
		// Make sure the edit means what it should before trusting it.
		check := &kustomization{rel: k.rel, src: out}
		if check.parse() == nil {
			if e, err := check.modelImage(model); err == nil && scalar(mapValue(e, "digest")) == digest && mapValue(e, "newTag") == nil {
				return out, nil
			}
		}
	}
	return pinImageReencode(k, model, digest)
}

func pinImageInPlace(k *kustomization, entry *yaml.Node, digest string) ([]byte, bool) {
	l := newLines(k.src)
	var edits []textEdit
	if tag := mapValue(entry, "newTag"); tag != nil {
		// Delete the newTag line, when it holds nothing else.
		key := mapKey(entry, "newTag")
		start, ok := l.offset(key.Line, 1)
		_, vEnd, vok := l.scalarSpan(tag)
		if !ok || !vok || key.Line != tag.Line || entry.Style&yaml.FlowStyle != 0 {
			return nil, false
		}
		end := l.lineEnd(start)
		keyStart, _ := l.offset(key.Line, key.Column)
		after := strings.TrimSpace(string(k.src[vEnd:end]))
		if strings.TrimSpace(string(k.src[start:keyStart])) != "" || after != "" && after[0] != '#' {
			return nil, false
		}
		edits = append(edits, textEdit{start, end, ""})
	}
	if d := mapValue(entry, "digest"); d != nil {
		if d.Value != digest {
			start, end, ok := l.scalarSpan(d)
			if !ok {
				return nil, false
			}
			edits = append(edits, textEdit{start, end, quoteAs(d, digest)})
		}
	} else {
		// Insert "digest: ..." on a line of its own after the entry's last
		// one-line value, indented like the entry's keys.
		if entry.Style&yaml.FlowStyle != 0 || len(entry.Content) < 2 {
			return nil, false
		}
		last := entry.Content[len(entry.Content)-1]
		if _, _, ok := l.scalarSpan(last); !ok {
			return nil, false
		}
		lineStart, ok := l.offset(last.Line, 1)
		if !ok {
			return nil, false
		}
		at := l.lineEnd(lineStart)
		text := strings.Repeat(" ", entry.Content[0].Column-1) + "digest: " + digest + "\n"
		if at == len(k.src) && (at == 0 || k.src[at-1] != '\n') {
			text = "\n" + text
		}
		edits = append(edits, textEdit{at, at, text})
	}
	return applyEdits(k.src, edits), true
}

// pinImageReencode edits the parsed tree and encodes it again: comments and
// key order survive, blank lines and indentation become yaml's defaults.
func pinImageReencode(k *kustomization, model, digest string) ([]byte, error) {
	entry, err := k.modelImage(model)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(entry.Content); i += 2 {
		if entry.Content[i].Value == "newTag" {
			entry.Content = slices.Delete(entry.Content, i, i+2)
			break
		}
	}
	if d := mapValue(entry, "digest"); d != nil {
		d.Kind, d.Tag, d.Value, d.Content = yaml.ScalarNode, "!!str", digest, nil
	} else {
		entry.Content = append(entry.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "digest"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: digest})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(k.doc); err != nil {
		return nil, fmt.Errorf("%s: encode: %w", k.rel, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("%s: encode: %w", k.rel, err)
	}
	return buf.Bytes(), nil
}
