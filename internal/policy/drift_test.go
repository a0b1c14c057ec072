package policy

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The reference values in these tests were printed by
// testdata/drift/reference_values.py (numpy 1.24.2, scipy 1.10.1):
// scipy.stats.ks_2samp, scipy.spatial.distance.jensenshannon(base=2),
// scipy.special.kolmogorov, and a numpy PSI with the same binning, on the
// fixtures testdata/drift/{small,large}_{reference,current}.csv. Run it with
// /usr/bin/python3 to reproduce them.

// driftApprox compares floats to 1e-9 relative, and exactly at zero.
var driftApprox = cmpopts.EquateApprox(1e-9, 0)

func driftLoad(t *testing.T, name string) Samples {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "drift", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSamples(name, data)
	if err != nil {
		t.Fatalf("ParseSamples(%q) error: %v", name, err)
	}
	return s
}

// driftFixture is what reference_values.py printed for one feature.
type driftFixture struct {
	edges       []float64 // numeric features
	labels      []string  // categorical features
	ref, cur    []int
	psi, js     float64
	ksD, ksP    float64
	ksExact     bool
	categorical bool
}

var driftFixtures = map[string]map[string]driftFixture{
	"small": {
		"x": {
			edges: []float64{-1.00564, -0.8351, -0.6001800000000002, -0.43711999999999995, -0.2369, -0.05414000000000003, 0.053939999999999946, 0.5061800000000002, 1.0428799999999998},
			ref:   []int{4, 4, 3, 4, 4, 3, 4, 3, 4, 4}, cur: []int{4, 0, 0, 2, 2, 2, 0, 6, 6, 5},
			psi: 2.3562139452308197, js: 0.44964148430338213,
			ksD: 0.33933933933933935, ksP: 0.040549562982207, ksExact: true,
		},
		"count": {
			// The lowest decile is the minimum, 1, so the two 0s of the
			// current sample have a bin of their own in front.
			edges: []float64{0.9999999999999999, 1, 2, 3, 4, 5},
			ref:   []int{0, 7, 6, 17, 5, 3, 2}, cur: []int{2, 0, 8, 5, 6, 5, 4},
			psi: 2.237720104573996, js: 0.45628271231053114,
			ksD: 0.25, ksP: 0.2037547852342292, ksExact: true,
		},
		"shifted": {
			edges: []float64{-1.11842, -0.7229399999999999, -0.34326000000000007, -0.10681999999999994, 0.0756, 0.19818, 0.3877899999999999, 0.8696600000000001, 1.18463},
			ref:   []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 4}, cur: []int{0, 0, 0, 0, 0, 1, 0, 0, 0, 29},
			psi: 7.557969425417493, js: 0.8405476772421114,
			// An exact p-value this small checks that the lattice-path
			// computation does not lose it to cancellation.
			ksD: 0.9166666666666666, ksP: 8.455991148118044e-16, ksExact: true,
		},
		"color": {
			categorical: true,
			labels:      []string{"blue", "green", "purple", "red"},
			ref:         []int{5, 14, 0, 21}, cur: []int{4, 8, 4, 14},
			psi: 0.989156344914181, js: 0.2684698384236702,
		},
	},
	"large": {
		"x": {
			edges: []float64{-1.3218, -0.83874, -0.5051599999999999, -0.22311999999999999, 0.039, 0.26903999999999995, 0.5383599999999997, 0.8994800000000001, 1.3012200000000005},
			ref:   []int{139, 138, 139, 138, 139, 138, 138, 139, 138, 139}, cur: []int{76, 61, 63, 64, 76, 79, 79, 106, 99, 206},
			psi: 0.1499368987345564, js: 0.16295454539612364,
			ksD: 0.15601386853486787, ksP: 3.753463095594248e-12,
		},
		"count": {
			edges: []float64{1, 2, 3, 4, 5},
			ref:   []int{324, 329, 329, 227, 166, 125}, cur: []int{149, 183, 225, 195, 115, 133},
			psi: 0.06597405252010691, js: 0.1088243616401696,
			ksD: 0.10333333333333333, ksP: 4.781482770914724e-06,
		},
		"shifted": {
			edges: []float64{-1.25663, -0.8665799999999999, -0.55149, -0.26907999999999993, -0.049350000000000005, 0.19628, 0.4977199999999999, 0.8328600000000002, 1.2742900000000004},
			ref:   []int{150, 150, 150, 150, 150, 150, 150, 150, 150, 150}, cur: []int{0, 1, 1, 3, 4, 5, 11, 30, 52, 893},
			psi: 4.552764884499881, js: 0.7579322010934406,
			ksD: 0.7983333333333333, ksP: 0,
		},
		"color": {
			categorical: true,
			labels:      []string{"blue", "green", "purple", "red"},
			ref:         []int{328, 459, 0, 713}, cur: []int{182, 289, 110, 419},
			psi: 0.7849256385061502, js: 0.2401412290985467,
		},
	},
}

func TestDriftStatisticsAgainstScipy(t *testing.T) {
	for set, features := range driftFixtures {
		ref := driftLoad(t, set+"_reference.csv")
		cur := driftLoad(t, set+"_current.csv")
		for name, want := range features {
			t.Run(set+"/"+name, func(t *testing.T) {
				r, ok := ref.Feature(name)
				if !ok {
					t.Fatalf("reference has no feature %q", name)
				}
				c, _ := cur.Feature(name)
				var b Binned
				if want.categorical {
					b = BinCategorical(r.Categories, c.Categories)
				} else {
					b = BinNumeric(r.Numbers, c.Numbers, DefaultDriftBins)
				}
				wantBins := Binned{Edges: want.edges, Labels: want.labels, Reference: want.ref, Current: want.cur}
				if diff := cmp.Diff(wantBins, b, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("bins (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(want.psi, b.PSI(), driftApprox); diff != "" {
					t.Errorf("PSI() = %v, want %v", b.PSI(), want.psi)
				}
				if diff := cmp.Diff(want.js, b.JSDistance(), driftApprox); diff != "" {
					t.Errorf("JSDistance() = %v, want %v", b.JSDistance(), want.js)
				}
				if want.categorical {
					return
				}
				got := KSTest(r.Numbers, c.Numbers)
				wantKS := KSResult{Statistic: want.ksD, PValue: want.ksP, Exact: want.ksExact}
				if diff := cmp.Diff(wantKS, got, driftApprox); diff != "" {
					t.Errorf("KSTest() (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestKSTest(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want KSResult
	}{
		{"identical", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, KSResult{Statistic: 0, PValue: 1, Exact: true}},
		{"identical with ties", []float64{1, 1, 2, 2}, []float64{1, 2}, KSResult{Statistic: 0, PValue: 1, Exact: true}},
		// Disjoint samples: D = 1, and only the two paths along the edges of
		// the lattice reach it, so p = 2 / C(n+m, n).
		{"disjoint 3 and 3", []float64{1, 2, 3}, []float64{4, 5, 6}, KSResult{Statistic: 1, PValue: 2.0 / 20, Exact: true}},
		{"disjoint 2 and 3 reversed", []float64{10, 11}, []float64{1, 2, 3}, KSResult{Statistic: 1, PValue: 2.0 / 10, Exact: true}},
		// x = {1, 2}, y = {1.5}: the ECDFs differ by at most 1/2 (at 1 and
		// at 1.5), which every one of the 3 paths reaches.
		{"interleaved", []float64{1, 2}, []float64{1.5}, KSResult{Statistic: 0.5, PValue: 1, Exact: true}},
		{"one value each, different", []float64{0}, []float64{1}, KSResult{Statistic: 1, PValue: 1, Exact: true}},
		// Ties across the samples count once: at 2, F_x = 1 and F_y = 2/3, so
		// D = 1/2 (at 1); 9 of the 10 paths reach it (scipy agrees).
		{"ties across samples", []float64{1, 2}, []float64{2, 2, 3}, KSResult{Statistic: 0.5, PValue: 0.9, Exact: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KSTest(tt.x, tt.y)
			if diff := cmp.Diff(tt.want, got, driftApprox); diff != "" {
				t.Errorf("KSTest(%v, %v) (-want +got):\n%s", tt.x, tt.y, diff)
			}
		})
	}
}

func TestKSTestEmpty(t *testing.T) {
	got := KSTest(nil, []float64{1})
	if !math.IsNaN(got.Statistic) || !math.IsNaN(got.PValue) {
		t.Errorf("KSTest(nil, [1]) = %+v, want NaN statistic and p-value", got)
	}
}

// TestKSTestAsymptoticSwitch checks the switch from exact to asymptotic
// p-values at KSExactLimit on disjoint samples, where the asymptotic p is
// Q_KS(√Ne + 0.12 + 0.11/√Ne) and the exact one 2/C(n+m, n).
func TestKSTestAsymptoticSwitch(t *testing.T) {
	seq := func(from, n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(from + i)
		}
		return s
	}
	tests := []struct {
		name string
		n, m int
		want KSResult
	}{
		// 2/C(2000, 1000) underflows to 0.
		{"exact at the limit", 1000, 1000, KSResult{Statistic: 1, PValue: 0, Exact: true}},
		{"asymptotic above", 1001, 1000, KSResult{Statistic: 1, PValue: KolmogorovQ(math.Sqrt(1001.0*1000/2001) + 0.12 + 0.11/math.Sqrt(1001.0*1000/2001))}},
		{"exact small", 4, 5, KSResult{Statistic: 1, PValue: 2.0 / 126, Exact: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KSTest(seq(0, tt.n), seq(tt.n, tt.m))
			if diff := cmp.Diff(tt.want, got, driftApprox); diff != "" {
				t.Errorf("KSTest(%d values, %d values) (-want +got):\n%s", tt.n, tt.m, diff)
			}
		})
	}
}

func TestKolmogorovQ(t *testing.T) {
	// scipy.special.kolmogorov, printed by reference_values.py; 0 and
	// large arguments are the distribution's limits.
	tests := []struct{ lambda, want float64 }{
		{0, 1},
		{0.3, 0.9999906941986655},
		{0.5, 0.9639452436648751},
		{0.8, 0.5441424115741981},
		{1.0, 0.26999967167735456},
		{1.17, 0.12939004218561884},
		{1.18, 0.1234538094297657},
		{1.5, 0.022217962616525127},
		{2.0, 0.0006709252557796953},
		{3.0, 3.045995948942526e-08},
		{40, 0},
	}
	for _, tt := range tests {
		if got := KolmogorovQ(tt.lambda); cmp.Diff(tt.want, got, driftApprox) != "" {
			t.Errorf("KolmogorovQ(%v) = %v, want %v", tt.lambda, got, tt.want)
		}
	}
}

func TestBinNumeric(t *testing.T) {
	tests := []struct {
		name     string
		ref, cur []float64
		bins     int
		want     Binned
	}{
		{
			// Quartiles of 1..8 by linear interpolation: 2.75, 4.5, 6.25.
			name: "quartiles",
			ref:  []float64{8, 7, 6, 5, 4, 3, 2, 1},
			cur:  []float64{1, 2, 3},
			bins: 4,
			want: Binned{Edges: []float64{2.75, 4.5, 6.25}, Reference: []int{2, 2, 2, 2}, Current: []int{2, 1, 0, 0}},
		},
		{
			// Values equal to an edge fall in the bin below it.
			name: "closed on the right",
			ref:  []float64{1, 2, 3},
			cur:  []float64{2, 2.0000001},
			bins: 2,
			want: Binned{Edges: []float64{2}, Reference: []int{2, 1}, Current: []int{1, 1}},
		},
		{
			name: "outside the reference range",
			ref:  []float64{0, 1, 2, 3, 4},
			cur:  []float64{-100, 100, 1e300},
			bins: 2,
			want: Binned{Edges: []float64{2}, Reference: []int{3, 2}, Current: []int{1, 2}},
		},
		{
			// Every decile of eleven 0s and a 1 is 0 (the 0.9 quantile's
			// virtual index is 11 · 0.9 = 9.9): one edge remains, the
			// minimum, so the values below it get a bin in front.
			name: "discrete edges merged",
			ref:  []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			cur:  []float64{0, 1, 1},
			bins: 10,
			want: Binned{Edges: []float64{math.Nextafter(0, math.Inf(-1)), 0}, Reference: []int{0, 11, 1}, Current: []int{0, 1, 2}},
		},
		{
			name: "constant reference",
			ref:  []float64{5, 5, 5},
			cur:  []float64{4, 5, 6},
			bins: 10,
			want: Binned{Edges: []float64{math.Nextafter(5, math.Inf(-1)), 5}, Reference: []int{0, 3, 0}, Current: []int{1, 1, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BinNumeric(tt.ref, tt.cur, tt.bins)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("BinNumeric(%v, %v, %d) (-want +got):\n%s", tt.ref, tt.cur, tt.bins, diff)
			}
		})
	}
}

func TestBinCategorical(t *testing.T) {
	got := BinCategorical([]string{"b", "a", "b"}, []string{"c", "b"})
	want := Binned{Labels: []string{"a", "b", "c"}, Reference: []int{1, 2, 0}, Current: []int{0, 1, 1}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("BinCategorical (-want +got):\n%s", diff)
	}
}

func TestBinnedDistances(t *testing.T) {
	tests := []struct {
		name          string
		b             Binned
		psi, js       float64
		psiTol, jsTol float64
	}{
		{"identical", Binned{Reference: []int{10, 20, 30}, Current: []int{1, 2, 3}}, 0, 0, 0, 0},
		// Disjoint: JS distance 1; PSI is large but finite thanks to the
		// smoothing: the proportions become (1+ε)/(1+2ε) and ε/(1+2ε), so
		// PSI = 2 · (1/(1+2ε)) · ln((1+ε)/ε) ≈ 18.417.
		{"disjoint", Binned{Reference: []int{5, 0}, Current: []int{0, 7}}, 2 / (1 + 2e-4) * math.Log((1+1e-4)/1e-4), 1, 1e-12, 0},
		// By hand: PSI ≈ -0.25 ln(0.5) + 0.25 ln(1.5) = 0.27465 (unsmoothed,
		// hence the tolerance); JSD = ½ KL(r‖m) + ½ KL(c‖m), m = (0.375, 0.625).
		{"half to quarter", Binned{Reference: []int{50, 50}, Current: []int{25, 75}},
			0.25*math.Ln2 + 0.25*math.Log(1.5), math.Sqrt(0.5*(0.5*math.Log2(0.5/0.375)+0.5*math.Log2(0.5/0.625)) + 0.5*(0.25*math.Log2(0.25/0.375)+0.75*math.Log2(0.75/0.625))),
			1e-3, 1e-12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.PSI(); math.Abs(got-tt.psi) > tt.psiTol {
				t.Errorf("PSI() = %v, want %v", got, tt.psi)
			}
			if got := tt.b.JSDistance(); math.Abs(got-tt.js) > tt.jsTol {
				t.Errorf("JSDistance() = %v, want %v", got, tt.js)
			}
		})
	}
	empty := Binned{Reference: []int{0, 0}, Current: []int{1, 0}}
	if !math.IsNaN(empty.PSI()) || !math.IsNaN(empty.JSDistance()) {
		t.Errorf("PSI(), JSDistance() of an empty sample = %v, %v, want NaN", empty.PSI(), empty.JSDistance())
	}
}

func TestDriftMetricName(t *testing.T) {
	tests := []struct{ feature, want string }{
		{"age", "drift_psi_age"},
		{"Age", "drift_psi_age"},
		{"income (USD)", "drift_psi_income__usd_"},
		{"days-since.last", "drift_psi_days_since_last"},
		{"été", "drift_psi__t_"},
		{"x_1", "drift_psi_x_1"},
	}
	for _, tt := range tests {
		if got := DriftMetricName("drift_psi_", tt.feature); got != tt.want {
			t.Errorf("DriftMetricName(%q) = %q, want %q", tt.feature, got, tt.want)
		}
	}
}

func driftPtr(v float64) *float64 { return &v }

func TestDriftFixtures(t *testing.T) {
	ref := driftLoad(t, "small_reference.csv")
	cur := driftLoad(t, "small_current.csv")
	got, err := Drift(ref, cur, DriftOptions{})
	if err != nil {
		t.Fatalf("Drift() error: %v", err)
	}
	f := driftFixtures["small"]
	want := DriftReport{
		Metrics: map[string]float64{
			"drift_psi_max":       f["shifted"].psi,
			"drift_ks_max":        f["shifted"].ksD,
			"drift_ks_pvalue_min": f["shifted"].ksP,
			"drift_js_max":        f["shifted"].js,

			"drift_psi_x": f["x"].psi, "drift_ks_x": f["x"].ksD, "drift_ks_pvalue_x": f["x"].ksP, "drift_js_x": f["x"].js,
			"drift_psi_count": f["count"].psi, "drift_ks_count": f["count"].ksD, "drift_ks_pvalue_count": f["count"].ksP, "drift_js_count": f["count"].js,
			"drift_psi_shifted": f["shifted"].psi, "drift_ks_shifted": f["shifted"].ksD, "drift_ks_pvalue_shifted": f["shifted"].ksP, "drift_js_shifted": f["shifted"].js,
			"drift_psi_color": f["color"].psi, "drift_js_color": f["color"].js,
		},
		Drift: DriftDetail{
			Reference: "small_reference.csv",
			Current:   "small_current.csv",
			Bins:      10,
			Features: map[string]FeatureDrift{
				"x": {Type: FeatureNumeric, PSI: f["x"].psi, KSStatistic: driftPtr(f["x"].ksD), KSPValue: driftPtr(f["x"].ksP), JSDistance: f["x"].js,
					ReferenceCount: 37, CurrentCount: 27, Missing: 6},
				"count": {Type: FeatureNumeric, PSI: f["count"].psi, KSStatistic: driftPtr(f["count"].ksD), KSPValue: driftPtr(f["count"].ksP), JSDistance: f["count"].js,
					ReferenceCount: 40, CurrentCount: 30},
				"shifted": {Type: FeatureNumeric, PSI: f["shifted"].psi, KSStatistic: driftPtr(f["shifted"].ksD), KSPValue: driftPtr(f["shifted"].ksP), JSDistance: f["shifted"].js,
					ReferenceCount: 40, CurrentCount: 30},
				"color": {Type: FeatureCategorical, PSI: f["color"].psi, JSDistance: f["color"].js, ReferenceCount: 40, CurrentCount: 30},
			},
		},
	}
	if diff := cmp.Diff(want, got, driftApprox); diff != "" {
		t.Errorf("Drift(small) (-want +got):\n%s", diff)
	}

	// Selecting features and bins.
	got, err = Drift(ref, cur, DriftOptions{Bins: 4, Features: []string{"color", "count", "color"}})
	if err != nil {
		t.Fatalf("Drift(features color, count) error: %v", err)
	}
	var keys []string
	for k := range got.Metrics {
		keys = append(keys, k)
	}
	wantKeys := []string{"drift_js_color", "drift_js_count", "drift_js_max", "drift_ks_count", "drift_ks_max",
		"drift_ks_pvalue_count", "drift_ks_pvalue_min", "drift_psi_color", "drift_psi_count", "drift_psi_max"}
	if diff := cmp.Diff(wantKeys, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Drift(features color, count) metrics (-want +got):\n%s", diff)
	}
	if got.Drift.Bins != 4 {
		t.Errorf("Drift(bins 4).Drift.Bins = %d, want 4", got.Drift.Bins)
	}
}

// TestDriftReportJSON pins the report's JSON shape, which the gate reads as
// a metrics file.
func TestDriftReportJSON(t *testing.T) {
	ref := Samples{Name: "ref.csv", Features: []Feature{
		{Name: "Age", Type: FeatureNumeric, Numbers: []float64{1, 2, 3, 4}, Missing: 1},
		{Name: "country", Type: FeatureCategorical, Categories: []string{"FR", "DE"}},
	}}
	cur := Samples{Name: "cur.csv", Features: []Feature{
		{Name: "country", Type: FeatureCategorical, Categories: []string{"DE", "FR"}, Missing: 2},
		{Name: "Age", Type: FeatureNumeric, Numbers: []float64{4, 3, 2, 1}},
	}}
	rep, err := Drift(ref, cur, DriftOptions{})
	if err != nil {
		t.Fatalf("Drift() error: %v", err)
	}
	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "metrics": {
    "drift_js_age": 0,
    "drift_js_country": 0,
    "drift_js_max": 0,
    "drift_ks_age": 0,
    "drift_ks_max": 0,
    "drift_ks_pvalue_age": 1,
    "drift_ks_pvalue_min": 1,
    "drift_psi_age": 0,
    "drift_psi_country": 0,
    "drift_psi_max": 0
  },
  "drift": {
    "reference": "ref.csv",
    "current": "cur.csv",
    "bins": 10,
    "features": {
      "Age": {
        "type": "numeric",
        "psi": 0,
        "ks_statistic": 0,
        "ks_pvalue": 1,
        "js_distance": 0,
        "reference_count": 4,
        "current_count": 4,
        "missing": 1
      },
      "country": {
        "type": "categorical",
        "psi": 0,
        "js_distance": 0,
        "reference_count": 2,
        "current_count": 2,
        "missing": 2
      }
    }
  }
}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("json.Marshal(Drift()) (-want +got):\n%s", diff)
	}
}

func TestDriftErrors(t *testing.T) {
	num := func(name string, v ...float64) Feature {
		return Feature{Name: name, Type: FeatureNumeric, Numbers: v}
	}
	cat := func(name string, v ...string) Feature {
		return Feature{Name: name, Type: FeatureCategorical, Categories: v}
	}
	sample := func(name string, f ...Feature) Samples { return Samples{Name: name, Features: f} }
	tests := []struct {
		name     string
		ref, cur Samples
		opts     DriftOptions
		want     []string // one line per problem
	}{
		{
			name: "feature in one sample only",
			ref:  sample("ref.csv", num("a", 1), num("b", 1)),
			cur:  sample("cur.csv", num("a", 1), num("c", 1)),
			want: []string{
				`invalid drift input: feature "b" is in ref.csv but not in cur.csv`,
				`invalid drift input: feature "c" is in cur.csv but not in ref.csv`,
			},
		},
		{
			name: "no common features",
			ref:  sample("ref.csv", num("a", 1)),
			cur:  sample("cur.csv", num("b", 1)),
			want: []string{`invalid drift input: ref.csv and cur.csv have no common features`},
		},
		{
			name: "selected feature missing",
			ref:  sample("ref.csv", num("a", 1), num("b", 1)),
			cur:  sample("cur.csv", num("a", 1)),
			opts: DriftOptions{Features: []string{"a", "b", "zz"}},
			want: []string{
				`invalid drift input: feature "b" is not in cur.csv`,
				`invalid drift input: feature "zz" is in neither ref.csv nor cur.csv`,
			},
		},
		{
			name: "type mismatch and no values",
			ref:  sample("ref.csv", num("a", 1), cat("b", "x"), num("c")),
			cur:  sample("cur.csv", cat("a", "y"), cat("b", "x"), num("c", 1)),
			want: []string{
				`invalid drift input: feature "a" is numeric in ref.csv but categorical in cur.csv`,
				`invalid drift input: feature "c" has no values in ref.csv`,
			},
		},
		{
			// A column with no values has no type: the reader calls it
			// numeric, and what is wrong is that it is empty.
			name: "no values in a categorical feature",
			ref:  sample("ref.csv", cat("b", "x")),
			cur:  sample("cur.csv", num("b")),
			want: []string{`invalid drift input: feature "b" has no values in cur.csv`},
		},
		{
			name: "metric names collide",
			ref:  sample("ref.csv", num("Age", 1), num("age", 1), num("max", 1), num("pvalue_x", 1), num("x", 1)),
			cur:  sample("cur.csv", num("Age", 1), num("age", 1), num("max", 1), num("pvalue_x", 1), num("x", 1)),
			want: []string{
				`invalid drift input: features "Age" and "age" both give metric drift_psi_age`,
				`invalid drift input: feature "max" gives metric drift_psi_max, which is reserved for an aggregate`,
				`invalid drift input: features "pvalue_x" and "x" both give metric drift_ks_pvalue_x`,
			},
		},
		{
			name: "metric names the gate reserves",
			ref:  sample("ref.csv", num("price_delta", 1), num(strings.Repeat("f", 120), 1)),
			cur:  sample("cur.csv", num("price_delta", 1), num(strings.Repeat("f", 120), 1)),
			want: []string{
				`invalid drift input: feature "price_delta" gives metric names ending in _delta or _change, which the gate reserves for changes against the baseline`,
				`invalid drift input: feature "` + strings.Repeat("f", 120) + `" gives metric drift_ks_pvalue_` + strings.Repeat("f", 120) + `, longer than 128 characters`,
			},
		},
		{
			name: "bins",
			ref:  sample("ref.csv", num("a", 1)),
			cur:  sample("cur.csv", num("a", 1)),
			opts: DriftOptions{Bins: 1},
			want: []string{`invalid drift input: bins must be at least 2, got 1`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Drift(tt.ref, tt.cur, tt.opts)
			if err == nil {
				t.Fatalf("Drift() error = nil, want %q", tt.want)
			}
			if !errors.Is(err, ErrDriftInput) {
				t.Errorf("Drift() error %v does not wrap ErrDriftInput", err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Drift() error (-want +got):\n%s", diff)
			}
		})
	}
}
