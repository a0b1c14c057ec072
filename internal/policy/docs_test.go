package policy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// docRolloutBlock is a YAML block of a document that shows a rollout
// section, or the steps of one.
type docRolloutBlock struct {
	where string // page:line of the block's first line
	text  string
	steps bool // the block shows steps alone, to go under rollout:
}

// docRolloutBlocks returns the YAML blocks of page (relative to the
// repository's root) whose first line that is not a comment starts a
// rollout section (rollout:) or its steps (steps:) at the margin.
func docRolloutBlocks(t *testing.T, page string) []docRolloutBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", page))
	if err != nil {
		t.Fatal(err)
	}
	var out []docRolloutBlock
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```yaml" {
			continue
		}
		start := i + 1
		end := start
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		body := lines[start:end]
		i = end
		first := ""
		for _, l := range body {
			if l != "" && !strings.HasPrefix(l, "#") {
				first = l
				break
			}
		}
		if strings.HasPrefix(first, "rollout:") || strings.HasPrefix(first, "steps:") {
			out = append(out, docRolloutBlock{where: page + ":" + strconv.Itoa(start+1), text: strings.Join(body, "\n") + "\n",
				steps: strings.HasPrefix(first, "steps:")})
		}
	}
	return out
}

// TestDocRolloutExamples loads every rollout section and every list of
// steps that docs/rollouts.md and docs/policy.md show, as written, in a
// policy whose gate has one rule: a page's example that does not load, or
// that the loader reads otherwise than a canary or shadow plan, is a
// defect of the page.
func TestDocRolloutExamples(t *testing.T) {
	const gate = "gate:\n  metrics:\n    accuracy: \">= 0.9\"\n"
	checked := 0
	for _, page := range []string{"docs/rollouts.md", "docs/policy.md"} {
		for _, b := range docRolloutBlocks(t, page) {
			checked++
			src := gate + b.text
			if b.steps {
				src = gate + "rollout:\n" + indent(b.text, "  ")
			}
			p, err := Load("example.yaml", []byte(src))
			if err != nil {
				t.Errorf("%s: the example does not load: %v\n%s", b.where, err, src)
				continue
			}
			r := p.Rollout("")
			switch {
			case r == nil:
				t.Errorf("%s: the example loads without a rollout section", b.where)
			case r.Strategy == StrategyCanary && (len(r.Steps) == 0 || r.Steps[len(r.Steps)-1].Weight != 100):
				t.Errorf("%s: canary steps %v do not end at 100%%", b.where, r.Steps)
			case r.Strategy != StrategyCanary && r.Strategy != StrategyShadow:
				t.Errorf("%s: strategy %q, want the canary or shadow the page shows", b.where, r.Strategy)
			}
		}
	}
	if checked < 6 {
		t.Errorf("checked %d rollout examples, want 6 at least: is the block reader broken?", checked)
	}
}

// indent puts prefix before every line of s that is not empty.
func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}
