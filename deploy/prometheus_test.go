package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/promtest"
)

// rulesFile is the alerting rules shipped for Prometheus, and rulesTests
// their promtool unit tests.
const (
	rulesFile  = "prometheus/promote-rules.yaml"
	rulesTests = "prometheus/promote-rules.test.yaml"
)

// ruleGroups is a Prometheus rule file.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

// rule is an alerting or recording rule.
type rule struct {
	Alert       string            `yaml:"alert,omitempty"`
	Record      string            `yaml:"record,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleGroups
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rules", rulesFile)
	}
	return rules
}

// promtool runs promtool in deploy/prometheus and returns its output.
func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(promtest.Promtool(t), args...)
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The rule file is what Prometheus loads: promtool check rules accepts it
// and counts every rule in it.
func TestPrometheusRulesCheck(t *testing.T) {
	rules := readRules(t)
	out, err := promtool(t, "check", "rules", filepath.Base(rulesFile))
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	if want := "SUCCESS: " + strconv.Itoa(len(rules)) + " rules found"; !strings.Contains(out, want) {
		t.Errorf("promtool check rules %s: want %q:\n%s", rulesFile, want, out)
	}
}

// Every alert says what fires, how bad it is and where to read what to do,
// in a document section that exists.
func TestPrometheusRulesAnnotations(t *testing.T) {
	const docsURL = "https://github.com/promote-ml/promote/blob/main/docs/"
	for _, r := range readRules(t) {
		if r.Alert == "" {
			continue
		}
		t.Run(r.Alert, func(t *testing.T) {
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"page", "warning"}, s) {
				t.Errorf("%s: severity %q, want page or warning", r.Alert, s)
			}
			doc, anchor, ok := strings.Cut(strings.TrimPrefix(r.Annotations["runbook_url"], docsURL), "#")
			if !ok || !strings.HasPrefix(r.Annotations["runbook_url"], docsURL) {
				t.Fatalf("%s: runbook_url %q, want %sFILE.md#SECTION", r.Alert, r.Annotations["runbook_url"], docsURL)
			}
			text, err := os.ReadFile(filepath.Join("..", "docs", doc))
			if err != nil {
				t.Fatalf("%s: runbook_url: %v", r.Alert, err)
			}
			if !slices.Contains(headingAnchors(string(text)), anchor) {
				t.Errorf("%s: runbook_url: docs/%s has no section #%s", r.Alert, doc, anchor)
			}
		})
	}
}

// heading is a Markdown ATX heading line.
var heading = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// headingAnchors returns the anchors GitHub gives a document's headings
// (lower case, punctuation but '-' and '_' dropped, spaces made hyphens).
func headingAnchors(text string) []string {
	var out []string
	for _, m := range heading.FindAllStringSubmatch(text, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.ReplaceAll(m[1], "`", "")) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z':
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// The rules' unit tests pass, and each alert has a case where it fires, so
// that an alert that never fires fails them.
func TestPrometheusRulesUnitTests(t *testing.T) {
	data, err := os.ReadFile(rulesTests)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatalf("%s: %v", rulesTests, err)
	}
	if !slices.Equal(tests.RuleFiles, []string{filepath.Base(rulesFile)}) {
		t.Errorf("%s tests the rule files %q, want %s alone", rulesTests, tests.RuleFiles, filepath.Base(rulesFile))
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, r := range readRules(t) {
		if r.Alert != "" && (!fires[r.Alert] || !quiet[r.Alert]) {
			t.Errorf("%s: %s has no case where %s fires and one where it does not", rulesTests, rulesFile, r.Alert)
		}
	}
	out, err := promtool(t, "test", "rules", filepath.Base(rulesTests))
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules %s: %v\n%s", rulesTests, err, out)
	}
}
