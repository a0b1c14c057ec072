// Package docscheck holds tests of the repository's documentation.
package docscheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the repository's root, from this package's directory.
const root = "../.."

// link is a Markdown inline link or image: [text](target) or ![alt](target).
var link = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// linkText is a link in a heading, whose anchor keeps the text alone.
var linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// heading is an ATX heading line.
var heading = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)

// slug is the anchor GitHub gives a heading: lower case, punctuation other
// than hyphens and underscores dropped, spaces made hyphens.
func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127 && !strings.ContainsRune("—–…’‘“”·×≤≥→←", r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a Markdown file's headings, outside code
// blocks, numbered as GitHub numbers repeated ones (-1, -2, …).
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		// Inline code and links keep their text only.
		h := strings.NewReplacer("`", "", "*", "").Replace(m[1])
		h = linkText.ReplaceAllString(h, "$1")
		s := slug(h)
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// markdownFiles returns the repository's Markdown documents.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md", "examples/*/*.md", "deploy/*.md", "bench/*/*.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found %d Markdown files, want the README and the docs at least", len(files))
	}
	return files
}

// TestRelativeLinks checks every relative link of the repository's
// Markdown documents: the file it names exists, and the heading its
// #anchor names is in it.
func TestRelativeLinks(t *testing.T) {
	files := markdownFiles(t)
	texts := map[string]string{}
	read := func(path string) (string, bool) {
		if s, ok := texts[path]; ok {
			return s, true
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", false
		}
		texts[path] = string(b)
		return texts[path], true
	}
	checked := 0
	for _, file := range files {
		text, _ := read(file)
		fenced := false
		for i, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "```") {
				fenced = !fenced
				continue
			}
			if fenced {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				where := file + ":" + strconv.Itoa(i+1)
				dest := file
				if path != "" {
					dest = filepath.Join(filepath.Dir(file), path)
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s: link to %s: no such file", rel(where), target)
						continue
					}
				}
				checked++
				if anchor == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				doc, _ := read(dest)
				if !anchors(doc)[anchor] {
					t.Errorf("%s: link to %s: %s has no heading with anchor #%s", rel(where), target, rel(dest), anchor)
				}
			}
		}
	}
	t.Logf("%d relative links in %d files", checked, len(files))
	if checked < 50 {
		t.Errorf("checked %d relative links, want the docs' many", checked)
	}
}

func rel(p string) string { return strings.TrimPrefix(filepath.ToSlash(p), "../../") }
