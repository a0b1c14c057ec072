package overlay

import (
	"fmt"
	"strings"

	"github.com/promote-ml/promote/promote"
)

// AllowPin is the allowlist entry for the model pin: a digest or tag change
// of a pinned model's image, and the MODEL_VERSION, MODEL_URI and
// MODEL_DIGEST keys of its ConfigMap.
const AllowPin = "@pin"

// DefaultAllow is the allowlist Check uses when given none: the fields in
// which environments are meant to differ (replicas and resources, log level,
// rollout strategy and SLO settings, the model pin). See Check for the
// syntax.
var DefaultAllow = []string{
	AllowPin,
	"Deployment/*:spec.replicas",
	"Deployment/*:spec.template.spec.containers[*].resources",
	"ConfigMap/*:data.LOG_LEVEL",
	"ConfigMap/*:data.ROLLOUT_STRATEGY",
	"ConfigMap/*:data.SLO_*",
}

// allowEntry is a parsed allowlist entry.
type allowEntry struct {
	pin        bool
	kind, name string   // globs; "" matches any
	path       []string // globs per segment; empty matches the whole resource
}

// parseAllow parses allowlist entries, reporting every bad one at once. See
// Check for the syntax.
func parseAllow(entries []string) ([]allowEntry, error) {
	var out []allowEntry
	var problems []string
	for _, s := range entries {
		e, err := parseAllowEntry(s)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		out = append(out, e)
	}
	if len(problems) > 0 {
		return nil, promote.Errorf(promote.Invalid, "allowlist: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

func parseAllowEntry(s string) (allowEntry, error) {
	var e allowEntry
	s = strings.TrimSpace(s)
	if s == AllowPin {
		return allowEntry{pin: true}, nil
	}
	if s == "" {
		return e, fmt.Errorf("an entry is empty")
	}
	selector, p := "", s
	if i := outsideBrackets(s, ':'); i >= 0 {
		selector, p = s[:i], s[i+1:]
	} else if outsideBrackets(s, '/') >= 0 {
		selector, p = s, ""
	}
	if selector != "" {
		e.kind, e.name, _ = strings.Cut(selector, "/")
		if e.kind == "" || strings.ContainsAny(e.kind, ".[]") {
			return e, fmt.Errorf("%q: %q is not KIND or KIND/NAME", s, selector)
		}
	}
	segs, err := splitPath(p)
	if err != nil {
		return e, fmt.Errorf("%q: %v", s, err)
	}
	e.path = segs
	return e, nil
}

// outsideBrackets returns the index of the first c in s outside [...].
func outsideBrackets(s string, c byte) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case c:
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitPath splits a field path (spec.containers[server].image) into its
// segments (spec, containers, server, image).
func splitPath(p string) ([]string, error) {
	var segs []string
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			if i == 0 || i+1 == len(p) || p[i+1] == '.' || p[i+1] == '[' {
				return nil, fmt.Errorf("misplaced '.' at %d", i)
			}
			i++
		case '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 2 {
				return nil, fmt.Errorf("'[' at %d needs a key and a closing ']'", i)
			}
			segs = append(segs, p[i+1:i+end])
			i += end + 1
			if i < len(p) && p[i] != '.' && p[i] != '[' {
				return nil, fmt.Errorf("want '.' or '[' after ']' at %d", i-1)
			}
		case ']':
			return nil, fmt.Errorf("unbalanced ']' at %d", i)
		default:
			end := strings.IndexAny(p[i:], ".[]")
			if end < 0 {
				end = len(p) - i
			}
			segs = append(segs, p[i:i+end])
			i += end
		}
	}
	return segs, nil
}

// glob matches s against pattern, in which * stands for any run of
// characters (slashes and dots included) and ? for one character.
func glob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	if pattern[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	if s == "" {
		return false
	}
	if pattern[0] == '?' || pattern[0] == s[0] {
		return glob(pattern[1:], s[1:])
	}
	return false
}

// allows reports whether e allows a difference at segs in the resource
// kind/name.
func (e allowEntry) allows(kind, name string, segs []string) bool {
	if e.pin || e.kind != "" && !glob(e.kind, kind) || e.name != "" && !glob(e.name, name) {
		return false
	}
	if len(e.path) > len(segs) {
		return false
	}
	for i, p := range e.path {
		if !glob(p, strings.TrimPrefix(segs[i], elem)) {
			return false
		}
	}
	return true
}

// elem marks a path segment that selects a list element (by name or
// index) rather than a map key, so that it is written [name].
const elem = "\x00"

// formatPath writes segments as a field path.
func formatPath(segs []string) string {
	p := ""
	for _, s := range segs {
		if e, ok := strings.CutPrefix(s, elem); ok {
			p += "[" + e + "]"
			continue
		}
		p = joinPath(p, s)
	}
	return p
}
