package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// scenarioFile is a readable policy test: a policy from testdata/policies and
// cases of evidence with the verdict and rule statuses they must produce.
type scenarioFile struct {
	Policy string         `yaml:"policy"`
	Env    string         `yaml:"env"`
	Cases  []scenarioCase `yaml:"cases"`
}

type scenarioCase struct {
	Name        string            `yaml:"name"`
	Env         string            `yaml:"env"`
	Candidate   yaml.Node         `yaml:"candidate"`
	Baseline    yaml.Node         `yaml:"baseline"`
	Signed      bool              `yaml:"signed"`
	ApprovedBy  []string          `yaml:"approvedBy"`
	RequestedBy string            `yaml:"requestedBy"`
	Allowed     bool              `yaml:"allowed"`
	Results     map[string]Status `yaml:"results"`
	Messages    map[string]string `yaml:"messages"`
}

func evidenceFromNode(t *testing.T, name string, n *yaml.Node) *Evidence {
	t.Helper()
	if n.Kind == 0 {
		return nil
	}
	data, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEvidence(name, data)
	if err != nil {
		t.Fatalf("ParseEvidence(%s): %v", name, err)
	}
	return e
}

func loadPolicyFile(t testing.TB, name string) *Policy {
	t.Helper()
	path := filepath.Join("testdata", "policies", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(path, data)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return p
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var sf scenarioFile
			dec := yaml.NewDecoder(strings.NewReader(string(data)))
			dec.KnownFields(true)
			if err := dec.Decode(&sf); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			p := loadPolicyFile(t, sf.Policy)
			for _, c := range sf.Cases {
				t.Run(c.Name, func(t *testing.T) {
					env := sf.Env
					if c.Env != "" {
						env = c.Env
					}
					g, err := p.Gate(env)
					if err != nil {
						t.Fatal(err)
					}
					in := Input{
						Candidate:   evidenceFromNode(t, "candidate", &c.Candidate),
						Baseline:    evidenceFromNode(t, "baseline", &c.Baseline),
						Signed:      c.Signed,
						RequestedBy: c.RequestedBy,
					}
					for _, a := range c.ApprovedBy {
						in.Approvers = append(in.Approvers, Approver{Name: a})
					}
					d := g.Evaluate(in)
					if d.Allowed != c.Allowed {
						t.Errorf("Evaluate(%s).Allowed = %v, want %v; results:\n%s", c.Name, d.Allowed, c.Allowed, describe(d))
					}
					got := map[string]Status{}
					msgs := map[string]string{}
					for _, r := range d.Results {
						got[r.Rule] = r.Status
						msgs[r.Rule] = r.Message
					}
					want := c.Results
					sub := map[string]Status{}
					for k := range want {
						sub[k] = got[k]
					}
					if diff := cmp.Diff(want, sub); diff != "" {
						t.Errorf("Evaluate(%s) statuses (-want +got):\n%s\nresults:\n%s", c.Name, diff, describe(d))
					}
					for rule, want := range c.Messages {
						if !strings.Contains(msgs[rule], want) {
							t.Errorf("Evaluate(%s) message of %s = %q, want it to contain %q", c.Name, rule, msgs[rule], want)
						}
					}
				})
			}
		})
	}
}

func describe(d *Decision) string {
	var b strings.Builder
	for _, r := range d.Results {
		b.WriteString("  " + r.Rule + ": " + string(r.Status) + ": " + r.Message + "\n")
	}
	return b.String()
}
