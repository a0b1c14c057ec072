package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/promote-ml/promote/internal/policy"
)

// driftSamples writes the test samples into a temporary directory and
// returns it. The figures below were checked with scipy 1.10
// (ks_2samp(method="exact"), jensenshannon(base=2)) and the numpy PSI of
// internal/policy/testdata/drift/reference_values.py, with 2 bins:
//
//	age:     PSI 4.6042993236235334, KS D 0.5, p 0.7714285714285716, JS 0.5579230452841438
//	country: PSI 2.1287096799507403, JS 0.3945111687006674
func driftSamples(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ref.csv":    "age,country\n1,FR\n2,FR\n3,DE\n4,DE\n",
		"cur.csv":    "age,country\n3,FR\n4,DE\n5,DE\n6,IT\n,\n",
		"cur.json":   `[{"age": 3, "country": "FR"}, {"age": 4, "country": "DE"}, {"age": 5, "country": "DE"}, {"age": 6, "country": "IT"}, {}]`,
		"ragged.csv": "age,country\n1,FR\n2\n",
		"other.csv":  "age,city\n1,Paris\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runDriftCLI runs promote with args, replacing "DIR" in them with dir, and
// returns the exit code and outputs with dir replaced back by "DIR".
func runDriftCLI(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "DIR", dir)
	}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	clean := func(s string) string { return strings.ReplaceAll(s, dir, "DIR") }
	return code, clean(stdout.String()), clean(stderr.String())
}

func TestDriftText(t *testing.T) {
	dir := driftSamples(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "both features",
			args: []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv", "--bins", "2"},
			want: `FEATURE  TYPE         PSI     KS D    KS P   JS
age      numeric      4.6043  0.5000  0.771  0.5579
country  categorical  2.1287  -       -      0.3945

2 features (1 numeric, 1 categorical): max PSI 4.6043 (age), max KS D 0.5000 (age), min KS p 0.771 (age), max JS 0.5579 (age); DIR/cur.csv against DIR/ref.csv
`,
		},
		{
			name: "categorical only, JSON current",
			args: []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.json", "--features", "country"},
			want: `FEATURE  TYPE         PSI     KS D  KS P  JS
country  categorical  2.1287  -     -     0.3945

1 feature (0 numeric, 1 categorical): max PSI 2.1287 (country), max JS 0.3945 (country); DIR/cur.json against DIR/ref.csv
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runDriftCLI(t, dir, tt.args...)
			if code != ExitOK {
				t.Fatalf("promote %v = exit %d, want 0; stderr: %s", tt.args, code, stderr)
			}
			if diff := cmp.Diff(tt.want, stdout); diff != "" {
				t.Errorf("promote %v stdout (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestDriftJSON(t *testing.T) {
	dir := driftSamples(t)
	code, stdout, stderr := runDriftCLI(t, dir, "drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv",
		"--bins", "2", "--output", "json", "--out", "DIR/drift.json")
	if code != ExitOK {
		t.Fatalf("promote drift --output json = exit %d, want 0; stderr: %s", code, stderr)
	}
	written, err := os.ReadFile(filepath.Join(dir, "drift.json"))
	if err != nil {
		t.Fatalf("--out file: %v", err)
	}
	if diff := cmp.Diff(stdout, strings.ReplaceAll(string(written), dir, "DIR")); diff != "" {
		t.Errorf("--out file differs from stdout (-stdout +file):\n%s", diff)
	}

	var got policy.DriftReport
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not a drift report: %v\n%s", err, stdout)
	}
	ptr := func(v float64) *float64 { return &v }
	want := policy.DriftReport{
		Metrics: map[string]float64{
			"drift_psi_max": 4.6042993236235334, "drift_ks_max": 0.5, "drift_ks_pvalue_min": 0.7714285714285716, "drift_js_max": 0.5579230452841438,
			"drift_psi_age": 4.6042993236235334, "drift_ks_age": 0.5, "drift_ks_pvalue_age": 0.7714285714285716, "drift_js_age": 0.5579230452841438,
			"drift_psi_country": 2.1287096799507403, "drift_js_country": 0.3945111687006674,
		},
		Drift: policy.DriftDetail{
			Reference: "DIR/ref.csv", Current: "DIR/cur.csv", Bins: 2,
			Features: map[string]policy.FeatureDrift{
				"age": {Type: policy.FeatureNumeric, PSI: 4.6042993236235334, KSStatistic: ptr(0.5), KSPValue: ptr(0.7714285714285716),
					JSDistance: 0.5579230452841438, ReferenceCount: 4, CurrentCount: 4, Missing: 1},
				"country": {Type: policy.FeatureCategorical, PSI: 2.1287096799507403, JSDistance: 0.3945111687006674,
					ReferenceCount: 4, CurrentCount: 4, Missing: 1},
			},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-12, 0)); diff != "" {
		t.Errorf("promote drift --output json (-want +got):\n%s", diff)
	}

	// The report is a metrics file the gate reads.
	ev, err := policy.ParseEvidence("drift.json", written)
	if err != nil {
		t.Fatalf("ParseEvidence(drift report) error: %v", err)
	}
	if diff := cmp.Diff(want.Metrics, ev.Metrics, cmpopts.EquateApprox(1e-12, 0)); diff != "" {
		t.Errorf("ParseEvidence(drift report).Metrics (-want +got):\n%s", diff)
	}
}

func TestDriftOutFileWithText(t *testing.T) {
	dir := driftSamples(t)
	code, stdout, stderr := runDriftCLI(t, dir, "drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv", "--out", "DIR/r.json")
	if code != ExitOK {
		t.Fatalf("promote drift --out = exit %d, want 0; stderr: %s", code, stderr)
	}
	if !strings.HasSuffix(stdout, "\nReport written to DIR/r.json\n") {
		t.Errorf("promote drift --out stdout = %q, want it to end with the report's path", stdout)
	}
	data, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatalf("--out file: %v", err)
	}
	var rep policy.DriftReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("--out file is not a drift report: %v", err)
	}
	if rep.Drift.Bins != 10 || len(rep.Drift.Features) != 2 {
		t.Errorf("--out report has bins %d and %d features, want 10 and 2", rep.Drift.Bins, len(rep.Drift.Features))
	}
}

func TestDriftBadInput(t *testing.T) {
	dir := driftSamples(t)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{
			name:   "missing file",
			args:   []string{"drift", "--reference", "DIR/nope.csv", "--current", "DIR/cur.csv"},
			stderr: "promote: reference: DIR/nope.csv: no such file or directory\n",
		},
		{
			name:   "ragged row",
			args:   []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/ragged.csv"},
			stderr: "promote: DIR/ragged.csv:3: row has 1 fields, the header has 2\n",
		},
		{
			name: "feature in one sample only",
			args: []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/other.csv"},
			stderr: "promote: invalid drift input: feature \"country\" is in DIR/ref.csv but not in DIR/other.csv\n" +
				"invalid drift input: feature \"city\" is in DIR/other.csv but not in DIR/ref.csv\n",
		},
		{
			name:   "unknown feature selected",
			args:   []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv", "--features", "age, height"},
			stderr: "promote: invalid drift input: feature \"height\" is in neither DIR/ref.csv nor DIR/cur.csv\n",
		},
		{
			name:   "too few bins",
			args:   []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv", "--bins", "1"},
			stderr: "promote: --bins 1: want at least 2\n",
		},
		{
			name:   "unknown output format",
			args:   []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv", "--output", "yaml"},
			stderr: "promote: --output \"yaml\": want one of text, json\n",
		},
		{
			name:   "out file in a missing directory",
			args:   []string{"drift", "--reference", "DIR/ref.csv", "--current", "DIR/cur.csv", "--out", "DIR/no/such/r.json"},
			stderr: "promote: --out: DIR/no/such/r.json: no such file or directory\n",
		},
		{
			name:   "no current flag",
			args:   []string{"drift", "--reference", "DIR/ref.csv"},
			stderr: "promote: required flag(s) \"current\" not set\nUsage: promote drift --reference FILE --current FILE [flags]\nRun 'promote drift --help' for usage.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runDriftCLI(t, dir, tt.args...)
			if code != ExitUsage {
				t.Errorf("promote %v = exit %d, want %d", tt.args, code, ExitUsage)
			}
			if stdout != "" {
				t.Errorf("promote %v stdout = %q, want nothing", tt.args, stdout)
			}
			if diff := cmp.Diff(tt.stderr, stderr); diff != "" {
				t.Errorf("promote %v stderr (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestDriftHelp(t *testing.T) {
	code, stdout, _ := runDriftCLI(t, t.TempDir(), "drift", "--help")
	if code != ExitOK {
		t.Fatalf("promote drift --help = exit %d, want 0", code)
	}
	for _, want := range []string{"--reference", "--current", "--bins", "--features", "--out", "--output", "Examples:", "drift_psi_max"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("promote drift --help does not mention %q", want)
		}
	}
}

// TestDriftTableFitsTerminal: in a terminal narrower than the table, the
// rows become records and the summary wraps within the width, as the other
// tables do; a feature name's control characters are shown as escapes.
func TestDriftTableFitsTerminal(t *testing.T) {
	ks, p := 0.5, 0.771
	rep := policy.DriftReport{
		Metrics: map[string]float64{
			policy.MetricDriftPSIMax: 4.6043, policy.MetricDriftKSMax: 0.5,
			policy.MetricDriftKSPValueMin: 0.771, policy.MetricDriftJSMax: 0.5579,
		},
	}
	rep.Drift.Reference, rep.Drift.Current = "ref.csv", "cur.csv"
	rep.Drift.Features = map[string]policy.FeatureDrift{
		"age":            {Type: "numeric", PSI: 4.6043, KSStatistic: &ks, KSPValue: &p, JSDistance: 0.5579},
		"country\x1b[2J": {Type: "categorical", PSI: 2.1287, JSDistance: 0.3945},
	}
	var out bytes.Buffer
	if err := writeDriftTable(&out, 40, rep); err != nil {
		t.Fatal(err)
	}
	want := `FEATURE  age
TYPE     numeric
PSI      4.6043
KS D     0.5000
KS P     0.771
JS       0.5579

FEATURE  country\x1b[2J
TYPE     categorical
PSI      2.1287
KS D     -
KS P     -
JS       0.3945

2 features (1 numeric, 1 categorical):
max PSI 4.6043 (age), max KS D 0.5000
(age), min KS p 0.771 (age), max JS
0.5579 (age); cur.csv against ref.csv
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("drift table at 40 columns (-want +got):\n%s", diff)
	}
}
