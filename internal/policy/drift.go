package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// DefaultDriftBins is the number of quantile bins used for numeric features
// when none is given: deciles, the common choice for the population
// stability index.
const DefaultDriftBins = 10

// PSIEpsilon is added to every bin proportion before the population
// stability index is computed, so that an empty bin gives a large but finite
// term instead of an infinite one. Each smoothed distribution is then
// renormalized to sum to one: p'_i = (p_i + ε) / (1 + Bε) for B bins.
const PSIEpsilon = 1e-4

// Binned holds the counts of a reference and a current sample over the same
// bins; the population stability index and the Jensen–Shannon distance are
// computed from it.
type Binned struct {
	// Edges are the inner bin edges of a numeric feature, ascending: bin 0 is
	// (-inf, Edges[0]], bin i is (Edges[i-1], Edges[i]], and the last bin is
	// (Edges[len-1], +inf). Empty for a categorical feature.
	Edges []float64
	// Labels are the categories of a categorical feature, one bin each,
	// sorted. Empty for a numeric feature.
	Labels []string
	// Reference and Current count each sample's values per bin.
	Reference, Current []int
}

// BinNumeric bins two numeric samples on the quantiles of the reference.
// The inner edges are the reference's quantiles at k/bins for k = 1 ..
// bins-1, computed by linear interpolation between order statistics
// (Hyndman & Fan 1996, "Sample quantiles in statistical packages", The
// American Statistician 50(4), definition 7, numpy's default). Equal edges,
// which discrete data produce, are merged, so there may be fewer bins than
// asked for. The outer bins are open to -inf and +inf so that current values
// outside the reference's range are counted; when the lowest edge is the
// reference's minimum, a bin for the values below it is added in front.
func BinNumeric(reference, current []float64, bins int) Binned {
	sorted := slices.Clone(reference)
	slices.Sort(sorted)
	var edges []float64
	if len(sorted) > 0 {
		for k := 1; k < bins; k++ {
			e := driftQuantile(sorted, float64(k)/float64(bins))
			if len(edges) == 0 || e != edges[len(edges)-1] {
				edges = append(edges, e)
			}
		}
	}
	// Bins are closed on the right, so the lowest bin (-inf, e₁] holds the
	// values below the reference's range only when e₁ is above its minimum.
	// When e₁ is the minimum itself (a point mass there: a constant feature,
	// a count that is mostly 0), values below it would share a bin with it
	// and a move down would go unseen while the same move up is caught by
	// the open top bin; so the values below the minimum get a bin of their
	// own, (-inf, min), as those above the maximum do.
	if len(edges) > 0 && edges[0] == sorted[0] {
		edges = slices.Insert(edges, 0, math.Nextafter(sorted[0], math.Inf(-1)))
	}
	b := Binned{
		Edges:     edges,
		Reference: make([]int, len(edges)+1),
		Current:   make([]int, len(edges)+1),
	}
	for _, v := range reference {
		b.Reference[driftBinIndex(edges, v)]++
	}
	for _, v := range current {
		b.Current[driftBinIndex(edges, v)]++
	}
	return b
}

// driftBinIndex returns the bin of v: the first edge that is >= v, so that
// bins are closed on the right.
func driftBinIndex(edges []float64, v float64) int {
	return sort.SearchFloat64s(edges, v)
}

// driftQuantile returns the q-quantile of sorted by linear interpolation
// (Hyndman & Fan definition 7), with the same arithmetic as numpy.quantile
// so that edges agree bit for bit: the virtual index is (n-1)q, and the
// interpolation is computed from the nearer order statistic.
func driftQuantile(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	a, b, t := sorted[i], sorted[i+1], h-lo
	d := b - a
	if t >= 0.5 {
		return b - d*(1-t)
	}
	return a + d*t
}

// BinCategorical bins two categorical samples with one bin per category
// seen in either sample.
func BinCategorical(reference, current []string) Binned {
	index := make(map[string]int)
	for _, v := range reference {
		index[v] = 0
	}
	for _, v := range current {
		index[v] = 0
	}
	labels := make([]string, 0, len(index))
	for l := range index {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for i, l := range labels {
		index[l] = i
	}
	b := Binned{
		Labels:    labels,
		Reference: make([]int, len(labels)),
		Current:   make([]int, len(labels)),
	}
	for _, v := range reference {
		b.Reference[index[v]]++
	}
	for _, v := range current {
		b.Current[index[v]]++
	}
	return b
}

// PSI returns the population stability index of the current sample against
// the reference (Siddiqi 2006, "Credit Risk Scorecards", Wiley; Yurdakul
// 2018, "Statistical properties of population stability index", Western
// Michigan University):
//
//	PSI = Σ_i (c_i - r_i) ln(c_i / r_i)
//
// where r_i and c_i are the proportions of each sample in bin i, smoothed
// with PSIEpsilon so that empty bins give finite terms. PSI is 0 for
// identical distributions and grows without bound; it is NaN when either
// sample is empty.
func (b Binned) PSI() float64 {
	r := driftProportions(b.Reference, PSIEpsilon)
	c := driftProportions(b.Current, PSIEpsilon)
	if r == nil || c == nil {
		return math.NaN()
	}
	psi := 0.0
	for i := range r {
		psi += (c[i] - r[i]) * math.Log(c[i]/r[i])
	}
	return psi
}

// JSDistance returns the Jensen–Shannon distance between the binned
// samples: the square root of the Jensen–Shannon divergence with base-2
// logarithms (Lin 1991, "Divergence measures based on the Shannon
// entropy", IEEE Trans. Inf. Theory 37(1)),
//
//	JSD = ½ KL(r ‖ m) + ½ KL(c ‖ m),  m = ½ (r + c),  distance = √JSD,
//
// computed on the unsmoothed proportions (0·log 0 = 0). It lies in [0, 1]:
// 0 for identical distributions, 1 for disjoint ones. The square root makes
// it a metric (Endres & Schindelin 2003, "A new metric for probability
// distributions", IEEE Trans. Inf. Theory 49(7)). It equals
// scipy.spatial.distance.jensenshannon(r, c, base=2), and is NaN when
// either sample is empty.
func (b Binned) JSDistance() float64 {
	r := driftProportions(b.Reference, 0)
	c := driftProportions(b.Current, 0)
	if r == nil || c == nil {
		return math.NaN()
	}
	js := 0.0
	for i := range r {
		m := (r[i] + c[i]) / 2
		if r[i] > 0 {
			js += r[i] * math.Log(r[i]/m)
		}
		if c[i] > 0 {
			js += c[i] * math.Log(c[i]/m)
		}
	}
	js /= 2 * math.Ln2
	// Rounding can leave the divergence a hair outside [0, 1].
	return math.Sqrt(min(max(js, 0), 1))
}

// driftProportions returns counts as proportions, each plus eps and
// renormalized, or nil when there are no counts.
func driftProportions(counts []int, eps float64) []float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return nil
	}
	norm := 1 + float64(len(counts))*eps
	p := make([]float64, len(counts))
	for i, n := range counts {
		p[i] = (float64(n)/float64(total) + eps) / norm
	}
	return p
}

// KSExactLimit is the largest product n·m of the two sample sizes for which
// KSTest computes an exact p-value; above it the asymptotic distribution is
// used. The exact computation takes O(n·m) time.
const KSExactLimit = 1_000_000

// KSResult is the outcome of a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	// Statistic is D = sup_x |F_ref(x) - F_cur(x)|, the largest distance
	// between the two empirical distribution functions, in [0, 1].
	Statistic float64
	// PValue is the two-sided probability, under the hypothesis that both
	// samples come from the same continuous distribution, of a statistic at
	// least as large as the one observed.
	PValue float64
	// Exact reports whether PValue is exact rather than asymptotic.
	Exact bool
}

// KSTest runs the two-sample, two-sided Kolmogorov–Smirnov test (Smirnov
// 1939) on samples x and y of sizes n and m. Ties are handled in the
// statistic, which compares the empirical distribution functions at every
// distinct value, but the p-value assumes continuous data, as usual.
//
// When n·m ≤ KSExactLimit the p-value is exact: P(D ≥ d) is the share of
// the C(n+m, n) equally likely lattice paths from (0, 0) to (n, m) that
// touch |i/n - j/m| ≥ d (Hodges 1958, "The significance probability of the
// Smirnov two-sample test", Arkiv för Matematik 3(5); Kim & Jennrich 1973),
// computed as the probability that a random path is absorbed by that
// boundary, which keeps small p-values precise. This matches
// scipy.stats.ks_2samp(x, y, method="exact").
//
// Otherwise the p-value is the asymptotic Kolmogorov distribution with
// effective size Ne = n·m/(n+m) and Stephens' correction (Stephens 1970,
// J. R. Stat. Soc. B 32(1); Press et al. 2007, "Numerical Recipes", 3rd
// ed., §14.3.3):
//
//	p = Q_KS((√Ne + 0.12 + 0.11/√Ne) · D),  Q_KS(λ) = 2 Σ_{j≥1} (-1)^{j-1} e^{-2j²λ²}.
//
// With an empty sample the statistic and p-value are NaN.
func KSTest(x, y []float64) KSResult {
	n, m := len(x), len(y)
	if n == 0 || m == 0 {
		return KSResult{Statistic: math.NaN(), PValue: math.NaN()}
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	// Work in integers: with L = lcm(n, m), F_x - F_y at any point is
	// (i·L/n - j·L/m)/L, so D and the lattice boundary are exact.
	l := int64(n) / driftGCD(int64(n), int64(m)) * int64(m)
	a, b := l/int64(n), l/int64(m)
	var h int64
	i, j := 0, 0
	for i < n || j < m {
		// Step past the smallest remaining value in both samples at once,
		// ties included.
		var v float64
		switch {
		case j == m || (i < n && xs[i] <= ys[j]):
			v = xs[i]
		default:
			v = ys[j]
		}
		for i < n && xs[i] == v {
			i++
		}
		for j < m && ys[j] == v {
			j++
		}
		d := int64(i)*a - int64(j)*b
		if d < 0 {
			d = -d
		}
		h = max(h, d)
	}
	res := KSResult{Statistic: float64(h) / float64(l)}
	switch {
	case h == 0:
		res.PValue, res.Exact = 1, true
	case int64(n)*int64(m) <= KSExactLimit:
		res.PValue, res.Exact = driftKSExact(n, m, a, b, h), true
	default:
		ne := float64(n) * float64(m) / float64(n+m)
		sq := math.Sqrt(ne)
		res.PValue = KolmogorovQ((sq + 0.12 + 0.11/sq) * res.Statistic)
	}
	return res
}

func driftGCD(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// driftKSExact returns P(D ≥ h/L) for samples of sizes n and m, where
// a = L/n and b = L/m: the probability that a uniformly random lattice path
// from (0, 0) to (n, m) reaches a point with |i·a - j·b| ≥ h. A uniformly
// random path steps from (i, j) to (i+1, j) with probability
// (n-i)/(n-i+m-j); the mass of paths that step onto the boundary is summed
// as they are absorbed.
func driftKSExact(n, m int, a, b, h int64) float64 {
	outside := func(i, j int) bool {
		d := int64(i)*a - int64(j)*b
		return d >= h || -d >= h
	}
	row := make([]float64, m+1)  // paths at (i, j) that never touched the boundary
	next := make([]float64, m+1) // the same for i+1
	row[0] = 1
	absorbed := 0.0
	for i := 0; i <= n; i++ {
		clear(next)
		for j := 0; j <= m; j++ {
			p := row[j]
			if p == 0 {
				continue
			}
			left := float64(n-i) + float64(m-j)
			if left == 0 {
				continue
			}
			if i < n {
				q := p * float64(n-i) / left
				if outside(i+1, j) {
					absorbed += q
				} else {
					next[j] += q
				}
			}
			if j < m {
				q := p * float64(m-j) / left
				if outside(i, j+1) {
					absorbed += q
				} else {
					row[j+1] += q
				}
			}
		}
		row, next = next, row
	}
	return min(absorbed, 1)
}

// KolmogorovQ returns the survival function of the Kolmogorov
// distribution, Q_KS(λ) = 2 Σ_{j≥1} (-1)^{j-1} e^{-2j²λ²}
// (Press et al. 2007, "Numerical Recipes", 3rd ed., §6.14.12 and §14.3.3).
// For λ < 1.18, where that series converges slowly, it uses the equivalent
// form 1 - (√(2π)/λ) Σ_{j≥1} e^{-(2j-1)²π²/(8λ²)}. It equals
// scipy.special.kolmogorov(λ).
func KolmogorovQ(lambda float64) float64 {
	switch {
	case math.IsNaN(lambda):
		return math.NaN()
	case lambda <= 0:
		return 1
	case lambda < 1.18:
		y := -math.Pi * math.Pi / (8 * lambda * lambda)
		sum := 0.0
		for k := 1; ; k += 2 {
			t := math.Exp(float64(k*k) * y)
			sum += t
			if t <= sum*1e-17 || k > 200 {
				break
			}
		}
		return max(0, min(1, 1-math.Sqrt(2*math.Pi)/lambda*sum))
	}
	sum, sign := 0.0, 1.0
	for j := 1; j <= 100; j++ {
		t := math.Exp(-2 * float64(j*j) * lambda * lambda)
		sum += sign * t
		if t <= math.Abs(sum)*1e-17 {
			break
		}
		sign = -sign
	}
	return max(0, min(1, 2*sum))
}

// DriftOptions select what Drift compares.
type DriftOptions struct {
	// Bins is the number of quantile bins for numeric features;
	// DefaultDriftBins when zero.
	Bins int
	// Features limits the comparison to these features; all the features
	// of the samples when empty.
	Features []string
}

// DriftReport is the per-feature drift between a reference and a current
// sample. Marshalled to JSON it is also a metrics file for the gate: the
// "metrics" object holds the figures a policy tests, and the "drift" object
// the details, which the gate ignores.
type DriftReport struct {
	// Metrics holds drift_psi_max, drift_ks_max, drift_ks_pvalue_min and
	// drift_js_max, and drift_psi_<f>, drift_ks_<f>, drift_ks_pvalue_<f>
	// and drift_js_<f> for every feature f (see DriftMetricName). The KS
	// metrics exist for numeric features only.
	Metrics map[string]float64 `json:"metrics"`
	// Drift holds the details.
	Drift DriftDetail `json:"drift"`
}

// DriftDetail describes what was compared and the figures per feature.
type DriftDetail struct {
	// Reference and Current are the samples' names.
	Reference string `json:"reference"`
	Current   string `json:"current"`
	// Bins is the number of quantile bins asked for numeric features.
	Bins int `json:"bins"`
	// Features maps each compared feature, by its name in the samples, to
	// its figures.
	Features map[string]FeatureDrift `json:"features"`
}

// FeatureDrift is the drift of one feature.
type FeatureDrift struct {
	// Type is the feature's type in both samples.
	Type FeatureType `json:"type"`
	// PSI is the population stability index (Binned.PSI).
	PSI float64 `json:"psi"`
	// KSStatistic and KSPValue are the Kolmogorov–Smirnov statistic and
	// two-sided p-value (KSTest); nil for categorical features.
	KSStatistic *float64 `json:"ks_statistic,omitempty"`
	KSPValue    *float64 `json:"ks_pvalue,omitempty"`
	// JSDistance is the Jensen–Shannon distance (Binned.JSDistance).
	JSDistance float64 `json:"js_distance"`
	// ReferenceCount and CurrentCount are the numbers of values compared.
	ReferenceCount int `json:"reference_count"`
	CurrentCount   int `json:"current_count"`
	// Missing is the number of missing values in both samples together.
	Missing int `json:"missing"`
}

// The aggregate drift metrics.
const (
	MetricDriftPSIMax      = "drift_psi_max"
	MetricDriftKSMax       = "drift_ks_max"
	MetricDriftKSPValueMin = "drift_ks_pvalue_min"
	MetricDriftJSMax       = "drift_js_max"
)

// DriftMetricName returns the metric name of a per-feature figure: prefix
// ("drift_psi_", "drift_ks_", "drift_ks_pvalue_" or "drift_js_") followed by
// the feature name lowercased, with every character outside [a-z0-9_]
// replaced by '_'.
func DriftMetricName(prefix, feature string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToLower(feature) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// ErrDriftInput is wrapped by the errors Drift returns for samples or
// options that cannot be compared.
var ErrDriftInput = errors.New("invalid drift input")

// Drift compares the features of a current sample with those of the
// reference: the population stability index and the Jensen–Shannon
// distance for every feature, and the Kolmogorov–Smirnov test for numeric
// ones. Without opts.Features both samples must have the same features.
// It reports every problem at once, each wrapping ErrDriftInput: a feature
// in one sample only, a feature without values, a feature numeric in one
// sample and categorical in the other, and two features whose metric names
// collide.
func Drift(reference, current Samples, opts DriftOptions) (DriftReport, error) {
	bins := opts.Bins
	if bins == 0 {
		bins = DefaultDriftBins
	}
	if bins < 2 {
		return DriftReport{}, fmt.Errorf("%w: bins must be at least 2, got %d", ErrDriftInput, bins)
	}
	names, err := driftFeatureNames(reference, current, opts.Features)
	if err != nil {
		return DriftReport{}, err
	}
	var errs []error
	type pair struct{ ref, cur Feature }
	pairs := make([]pair, 0, len(names))
	for _, name := range names {
		r, _ := reference.Feature(name)
		c, _ := current.Feature(name)
		// A feature without values has no type of its own (every missing
		// cell reads as a number), so its emptiness is what is reported.
		switch {
		case r.Count() == 0:
			errs = append(errs, fmt.Errorf("%w: feature %q has no values in %s", ErrDriftInput, name, reference.Name))
		case c.Count() == 0:
			errs = append(errs, fmt.Errorf("%w: feature %q has no values in %s", ErrDriftInput, name, current.Name))
		case r.Type != c.Type:
			errs = append(errs, fmt.Errorf("%w: feature %q is %s in %s but %s in %s",
				ErrDriftInput, name, r.Type, reference.Name, c.Type, current.Name))
		}
		pairs = append(pairs, pair{r, c})
	}
	errs = append(errs, driftCheckMetricNames(names)...)
	if len(errs) > 0 {
		return DriftReport{}, errors.Join(errs...)
	}

	rep := DriftReport{
		Metrics: make(map[string]float64),
		Drift: DriftDetail{
			Reference: reference.Name,
			Current:   current.Name,
			Bins:      bins,
			Features:  make(map[string]FeatureDrift, len(pairs)),
		},
	}
	psiMax, jsMax := 0.0, 0.0
	ksMax, ksPMin, numeric := 0.0, 1.0, false
	for _, p := range pairs {
		name := p.ref.Name
		fd := FeatureDrift{
			Type:           p.ref.Type,
			ReferenceCount: p.ref.Count(),
			CurrentCount:   p.cur.Count(),
			Missing:        p.ref.Missing + p.cur.Missing,
		}
		var binned Binned
		if p.ref.Type == FeatureNumeric {
			binned = BinNumeric(p.ref.Numbers, p.cur.Numbers, bins)
			ks := KSTest(p.ref.Numbers, p.cur.Numbers)
			fd.KSStatistic, fd.KSPValue = &ks.Statistic, &ks.PValue
			rep.Metrics[DriftMetricName("drift_ks_", name)] = ks.Statistic
			rep.Metrics[DriftMetricName("drift_ks_pvalue_", name)] = ks.PValue
			ksMax, ksPMin, numeric = max(ksMax, ks.Statistic), min(ksPMin, ks.PValue), true
		} else {
			binned = BinCategorical(p.ref.Categories, p.cur.Categories)
		}
		fd.PSI, fd.JSDistance = binned.PSI(), binned.JSDistance()
		rep.Metrics[DriftMetricName("drift_psi_", name)] = fd.PSI
		rep.Metrics[DriftMetricName("drift_js_", name)] = fd.JSDistance
		psiMax, jsMax = max(psiMax, fd.PSI), max(jsMax, fd.JSDistance)
		rep.Drift.Features[name] = fd
	}
	rep.Metrics[MetricDriftPSIMax] = psiMax
	rep.Metrics[MetricDriftJSMax] = jsMax
	if numeric {
		rep.Metrics[MetricDriftKSMax] = ksMax
		rep.Metrics[MetricDriftKSPValueMin] = ksPMin
	}
	return rep, nil
}

// driftFeatureNames returns the features to compare, in the reference's
// order (or the order selected).
func driftFeatureNames(reference, current Samples, selected []string) ([]string, error) {
	var errs []error
	if len(selected) > 0 {
		seen := make(map[string]bool)
		var names []string
		for _, name := range selected {
			if seen[name] {
				continue
			}
			seen[name] = true
			_, inRef := reference.Feature(name)
			_, inCur := current.Feature(name)
			switch {
			case !inRef && !inCur:
				errs = append(errs, fmt.Errorf("%w: feature %q is in neither %s nor %s", ErrDriftInput, name, reference.Name, current.Name))
			case !inRef:
				errs = append(errs, fmt.Errorf("%w: feature %q is not in %s", ErrDriftInput, name, reference.Name))
			case !inCur:
				errs = append(errs, fmt.Errorf("%w: feature %q is not in %s", ErrDriftInput, name, current.Name))
			}
			names = append(names, name)
		}
		return names, errors.Join(errs...)
	}
	var names []string
	for _, f := range reference.Features {
		if _, ok := current.Feature(f.Name); ok {
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: %s and %s have no common features", ErrDriftInput, reference.Name, current.Name)
	}
	for _, f := range reference.Features {
		if _, ok := current.Feature(f.Name); !ok {
			errs = append(errs, fmt.Errorf("%w: feature %q is in %s but not in %s", ErrDriftInput, f.Name, reference.Name, current.Name))
		}
	}
	for _, f := range current.Features {
		if _, ok := reference.Feature(f.Name); !ok {
			errs = append(errs, fmt.Errorf("%w: feature %q is in %s but not in %s", ErrDriftInput, f.Name, current.Name, reference.Name))
		}
	}
	return names, errors.Join(errs...)
}

// driftMaxMetricName is the longest metric name the gate accepts.
const driftMaxMetricName = 128

// driftCheckMetricNames reports features whose metric names collide with
// each other's or with an aggregate's, such as "Age" and "age", or a
// feature called "max" (drift_psi_max) or "pvalue_age" (drift_ks_pvalue_age
// is also the p-value metric of "age"), and names the gate would not read.
func driftCheckMetricNames(names []string) []error {
	owner := map[string]string{
		MetricDriftPSIMax:      "",
		MetricDriftKSMax:       "",
		MetricDriftKSPValueMin: "",
		MetricDriftJSMax:       "",
	}
	var errs []error
	reported := make(map[[2]string]bool)
	for _, name := range names {
		// The gate reads a name ending in _delta or _change as the change of
		// a metric against the baseline, and accepts names of up to 128
		// characters.
		if m := DriftMetricName("drift_ks_pvalue_", name); strings.HasSuffix(m, "_delta") || strings.HasSuffix(m, "_change") {
			errs = append(errs, fmt.Errorf("%w: feature %q gives metric names ending in _delta or _change, which the gate reserves for changes against the baseline",
				ErrDriftInput, name))
			continue
		} else if len(m) > driftMaxMetricName {
			errs = append(errs, fmt.Errorf("%w: feature %q gives metric %s, longer than %d characters",
				ErrDriftInput, name, m, driftMaxMetricName))
			continue
		}
		for _, prefix := range []string{"drift_psi_", "drift_ks_", "drift_ks_pvalue_", "drift_js_"} {
			metric := DriftMetricName(prefix, name)
			other, taken := owner[metric]
			if !taken {
				owner[metric] = name
				continue
			}
			if other == "" {
				if key := [2]string{"", name}; !reported[key] {
					reported[key] = true
					errs = append(errs, fmt.Errorf("%w: feature %q gives metric %s, which is reserved for an aggregate",
						ErrDriftInput, name, metric))
				}
				continue
			}
			if key := [2]string{other, name}; !reported[key] {
				reported[key] = true
				errs = append(errs, fmt.Errorf("%w: features %q and %q both give metric %s",
					ErrDriftInput, other, name, metric))
			}
		}
	}
	return errs
}
