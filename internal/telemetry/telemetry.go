// Package telemetry holds Promote's own metrics (counters, gauges and
// histograms with labels) and serves them in Prometheus' exposition
// formats.
//
// It replaces the Prometheus Go client library in the promote binary. That
// library's package initialisation registers its default Go and process
// collectors and compiles procfs' regular expressions in every process that
// links it, whether or not it serves metrics: about 0.5 ms, 3 to 4% of every
// `promote gate` run (BENCHMARKS.md, "Gate"). Promote's metrics are a
// handful of families, so they are kept here, and written with the
// Prometheus project's own encoder (github.com/prometheus/common/expfmt),
// which negotiates the text, OpenMetrics and protobuf formats as the client
// library does.
//
// A Registry hands out metric families by name: asking again for a family
// of the same name and shape returns the one already there, so that several
// components sharing a registry count into the same series; a different
// shape under the same name is an error. So is a family of Promote's own
// (named promote_…) against Prometheus' naming conventions or Promote's
// label names (checkConvention): every environment label is env, every
// counter ends in _total.
package telemetry

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	dto "github.com/prometheus/client_model/go"
)

// Registry is a set of metric families. The zero value is not usable; call
// NewRegistry. A Registry is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: map[string]*family{}}
}

// kind is a family's metric type.
type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindHistogram
)

func (k kind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindGauge:
		return "gauge"
	default:
		return "histogram"
	}
}

// family is one metric name: its description and its series.
type family struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64      // upper bounds of a histogram, ascending, without +Inf
	read       func() float64 // a function family's value; nil for the others

	mu     sync.RWMutex
	series map[string]*series // by the label values joined with labelSep
	// byValue indexes series by each label's value, the label's place in
	// labels first: byValue[i][v] holds, by key, the series whose value of
	// labels[i] is v, so that GatherWhere visits those alone.
	byValue []map[string]map[string]*series
}

// labelSep joins label values into a series key; it cannot occur in valid
// UTF-8 text.
const labelSep = "\xff"

// series is one combination of label values and its value.
type series struct {
	values []string
	n      atomic.Uint64   // counters and gauges: the value's bits; histograms: unused
	counts []atomic.Uint64 // histograms: observations per bucket, the last for +Inf
	sum    atomic.Uint64   // histograms: the sum's bits
}

// get returns the family name, creating it with the given shape when it
// does not exist; an existing family of another shape is an error.
func (r *Registry) get(name, help string, k kind, buckets []float64, labels []string, read func() float64) (*family, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	for _, l := range labels {
		if err := checkName(l); err != nil || strings.Contains(l, ":") {
			return nil, fmt.Errorf("metric %s: label name %q: want letters, digits and '_', not starting with a digit", name, l)
		}
		if strings.HasPrefix(l, "__") || (k == kindHistogram && l == "le") {
			return nil, fmt.Errorf("metric %s: label name %q is reserved", name, l)
		}
	}
	if err := checkConvention(name, k, labels); err != nil {
		return nil, fmt.Errorf("metric %s: %w", name, err)
	}
	if k == kindHistogram {
		if len(buckets) == 0 {
			return nil, fmt.Errorf("metric %s: a histogram needs buckets", name)
		}
		for i, b := range buckets {
			if math.IsNaN(b) || (i > 0 && b <= buckets[i-1]) {
				return nil, fmt.Errorf("metric %s: bucket bounds must be numbers in increasing order, got %v", name, buckets)
			}
		}
		if math.IsInf(buckets[len(buckets)-1], +1) {
			buckets = buckets[:len(buckets)-1] // +Inf is always there
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.read != nil || read != nil {
			return nil, fmt.Errorf("metric %s: already registered; a function metric is registered once and shared with no other", name)
		}
		if f.kind != k || !slices.Equal(f.labels, labels) || !slices.Equal(f.buckets, buckets) {
			return nil, fmt.Errorf("metric %s: registered as a %s with labels %q, asked for a %s with labels %q", name, f.kind, f.labels, k, labels)
		}
		return f, nil
	}
	f := &family{name: name, help: help, kind: k, labels: slices.Clone(labels), buckets: slices.Clone(buckets), read: read, series: map[string]*series{}}
	r.families[name] = f
	return f, nil
}

// checkName accepts a metric name of Prometheus' classic character set (a
// label name is the same without ':').
func checkName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	for i, c := range name {
		ok := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("name %q: want letters, digits, '_' and ':', not starting with a digit", name)
		}
	}
	return nil
}

// labelNames maps a label name to the one Promote gives the same thing in
// every family, so that series of different families join on it without
// a rename (the splitter's labels, which its issue fixed, set them).
var labelNames = map[string]string{
	"environment": "env",
}

// baseUnits maps a unit that Prometheus' naming conventions advise
// against to the base unit they ask for
// (https://prometheus.io/docs/practices/naming/#base-units).
var baseUnits = map[string]string{
	"nanoseconds": "seconds", "microseconds": "seconds", "milliseconds": "seconds",
	"minutes": "seconds", "hours": "seconds", "days": "seconds",
	"kilobytes": "bytes", "megabytes": "bytes", "gigabytes": "bytes", "bits": "bytes",
	"percent": "ratio", "percentage": "ratio",
}

// Prefix begins the name of every family of Promote's own, the families
// that checkConvention holds to Promote's rules. The others keep the names
// their exporters give them: the Go runtime's (which keep the rules
// anyway), or another application's that a test stands in for.
const Prefix = "promote_"

// checkConvention refuses a family of Promote's own (Prefix) that breaks
// Prometheus' naming conventions
// (https://prometheus.io/docs/practices/naming/) or Promote's label names:
// a counter ends in _total and nothing else does, an _info family is a
// gauge, no name takes a suffix that the exposition gives a histogram's or
// a counter's series, units are base units, and each label has the name
// labelNames gives it. A family is refused when it is made, so that every
// test of the code that makes it fails, before the name reaches a
// dashboard.
func checkConvention(name string, k kind, labels []string) error {
	if !strings.HasPrefix(name, Prefix) {
		return nil
	}
	switch {
	case k == kindCounter && !strings.HasSuffix(name, "_total"):
		return errors.New("a counter's name must end in _total")
	case k != kindCounter && strings.HasSuffix(name, "_total"):
		return fmt.Errorf("a %s's name must not end in _total, which marks a counter", k)
	case strings.HasSuffix(name, "_info") && k != kindGauge:
		return fmt.Errorf("an _info family must be a gauge, not a %s", k)
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum", "_created"} {
		if strings.HasSuffix(name, suffix) {
			return fmt.Errorf("the suffix %s is the exposition's, for a histogram's or a counter's series", suffix)
		}
	}
	for _, word := range strings.Split(name, "_") {
		if base, ok := baseUnits[word]; ok {
			return fmt.Errorf("%s is not a base unit: use %s", word, base)
		}
	}
	for _, l := range labels {
		if want, ok := labelNames[l]; ok {
			return fmt.Errorf("label %q: Promote's metrics name it %q", l, want)
		}
	}
	return nil
}

// with returns the series of the given label values, creating it.
func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		// A programming error, as a wrong argument count would be.
		panic(fmt.Sprintf("metric %s: %d label values for the labels %q", f.name, len(values), f.labels))
	}
	key := strings.Join(values, labelSep)
	f.mu.RLock()
	s, ok := f.series[key]
	f.mu.RUnlock()
	if ok {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.series[key]; ok {
		return s
	}
	s = &series{values: slices.Clone(values)}
	if f.kind == kindHistogram {
		s.counts = make([]atomic.Uint64, len(f.buckets)+1)
	}
	f.series[key] = s
	if f.byValue == nil {
		f.byValue = make([]map[string]map[string]*series, len(f.labels))
	}
	for i, v := range values {
		if f.byValue[i] == nil {
			f.byValue[i] = map[string]map[string]*series{}
		}
		if f.byValue[i][v] == nil {
			f.byValue[i][v] = map[string]*series{}
		}
		f.byValue[i][v][key] = s
	}
	return s
}

// addFloat adds v to the float64 whose bits a holds.
func addFloat(a *atomic.Uint64, v float64) {
	for {
		old := a.Load()
		if a.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// CounterVec is a counter family with labels.
type CounterVec struct{ f *family }

// Counter returns the counter family name with the given labels.
func (r *Registry) Counter(name, help string, labels ...string) (*CounterVec, error) {
	f, err := r.get(name, help, kindCounter, nil, labels, nil)
	if err != nil {
		return nil, err
	}
	return &CounterVec{f}, nil
}

// With returns the counter of the given label values, one per label in
// order. A wrong number of values is a programming error and panics.
func (v *CounterVec) With(values ...string) Counter { return Counter{v.f.with(values)} }

// Counter is one series of a counter family: a total that only grows. A
// Counter is a handle: copies count into the same series.
type Counter struct{ s *series }

// Inc adds one.
func (c Counter) Inc() { addFloat(&c.s.n, 1) }

// Add adds d; a negative d is ignored, as a counter never decreases.
func (c Counter) Add(d float64) {
	if d > 0 {
		addFloat(&c.s.n, d)
	}
}

// Value returns the counter's total.
func (c Counter) Value() float64 { return math.Float64frombits(c.s.n.Load()) }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ f *family }

// Gauge returns the gauge family name with the given labels.
func (r *Registry) Gauge(name, help string, labels ...string) (*GaugeVec, error) {
	f, err := r.get(name, help, kindGauge, nil, labels, nil)
	if err != nil {
		return nil, err
	}
	return &GaugeVec{f}, nil
}

// With returns the gauge of the given label values (see CounterVec.With).
func (v *GaugeVec) With(values ...string) Gauge { return Gauge{v.f.with(values)} }

// Reset removes every series of the family, as a restart of the process
// would: the counts start again from zero.
func (v *CounterVec) Reset() { v.f.reset() }

// Reset removes every series of the family (see CounterVec.Reset).
func (v *GaugeVec) Reset() { v.f.reset() }

// Reset removes every series of the family (see CounterVec.Reset).
func (v *HistogramVec) Reset() { v.f.reset() }

func (f *family) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.series)
	f.byValue = nil
}

// Delete removes the series of the given label values, reporting whether
// there was one. Handles to it keep working but are no longer gathered.
func (v *GaugeVec) Delete(values ...string) bool { return v.f.delete(values) }

func (f *family) delete(values []string) bool {
	key := strings.Join(values, labelSep)
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.series[key]
	if !ok {
		return false
	}
	delete(f.series, key)
	for i, v := range s.values {
		delete(f.byValue[i][v], key)
		if len(f.byValue[i][v]) == 0 {
			delete(f.byValue[i], v)
		}
	}
	return true
}

// Gauge is one series of a gauge family: a value that goes up and down (a
// handle, as Counter is).
type Gauge struct{ s *series }

// Set sets the gauge to x.
func (g Gauge) Set(x float64) { g.s.n.Store(math.Float64bits(x)) }

// Add adds d, which may be negative.
func (g Gauge) Add(d float64) { addFloat(&g.s.n, d) }

// Inc adds one.
func (g Gauge) Inc() { g.Add(1) }

// Dec subtracts one.
func (g Gauge) Dec() { g.Add(-1) }

// Value returns the gauge's value.
func (g Gauge) Value() float64 { return math.Float64frombits(g.s.n.Load()) }

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ f *family }

// Histogram returns the histogram family name with the given bucket upper
// bounds (ascending; +Inf is implied) and labels.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) (*HistogramVec, error) {
	f, err := r.get(name, help, kindHistogram, buckets, labels, nil)
	if err != nil {
		return nil, err
	}
	return &HistogramVec{f}, nil
}

// With returns the histogram of the given label values (see
// CounterVec.With).
func (v *HistogramVec) With(values ...string) Histogram {
	return Histogram{s: v.f.with(values), bounds: v.f.buckets}
}

// Histogram is one series of a histogram family (a handle, as Counter is).
type Histogram struct {
	s      *series
	bounds []float64
}

// Observe counts x into the first bucket whose upper bound is at least x
// (Prometheus' "le"), or into +Inf.
func (h Histogram) Observe(x float64) {
	h.s.counts[sort.SearchFloat64s(h.bounds, x)].Add(1)
	addFloat(&h.s.sum, x)
}

// GaugeFunc registers a gauge without labels whose value read returns at
// each gathering. read must be safe for concurrent use.
func (r *Registry) GaugeFunc(name, help string, read func() float64) error {
	_, err := r.get(name, help, kindGauge, nil, nil, read)
	return err
}

// CounterFunc registers a counter without labels whose total read returns
// at each gathering.
func (r *Registry) CounterFunc(name, help string, read func() float64) error {
	_, err := r.get(name, help, kindCounter, nil, nil, read)
	return err
}

// Gather returns every family with at least one series, sorted by name,
// their series sorted by label values, as the Prometheus data model's
// protocol buffers (what the exposition encoders and the built-in metric
// source read). A histogram's count is the sum of its buckets, so that the
// +Inf bucket and the count always agree.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) {
	return r.gather(nil, nil)
}

// GatherWhere is Gather of the series whose labels have the values match
// gives them alone (a label a family does not have is "" for it, as in
// Prometheus' matchers). A reader after a few series of families that
// hold many (the built-in metric source, reading one rollout's tracks
// among the series of every splitter in the process) builds those alone:
// the others are passed over without being copied or sorted.
func (r *Registry) GatherWhere(match map[string]string) ([]*dto.MetricFamily, error) {
	return r.gather(nil, match)
}

// Subset gathers some of a registry's families (Registry.Only).
type Subset struct {
	r     *Registry
	names []string
}

// Only returns a gatherer of the families named alone, as Gather returns
// them: a reader that needs a few families, and gathers often, does not
// pay for the others (the runtime's read /proc).
func (r *Registry) Only(names ...string) Subset { return Subset{r: r, names: slices.Clone(names)} }

// Gather returns the subset's families that have series, as
// Registry.Gather does.
func (s Subset) Gather() ([]*dto.MetricFamily, error) { return s.r.gather(s.names, nil) }

// GatherWhere is Registry.GatherWhere of the subset's families.
func (s Subset) GatherWhere(match map[string]string) ([]*dto.MetricFamily, error) {
	return s.r.gather(s.names, match)
}

// gather is Gather of the families named, or of all when names is nil,
// with the series whose labels have match's values (every series when
// match is empty).
func (r *Registry) gather(names []string, match map[string]string) ([]*dto.MetricFamily, error) {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		if names == nil || slices.Contains(names, f.name) {
			fams = append(fams, f)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		if mf := f.gather(match); len(mf.Metric) > 0 {
			out = append(out, mf)
		}
	}
	return out, nil
}

func (f *family) gather(match map[string]string) *dto.MetricFamily {
	mf := &dto.MetricFamily{Name: ptr(f.name), Help: ptr(f.help)}
	w, some := f.where(match)
	if !some {
		return mf
	}
	switch f.kind {
	case kindCounter:
		mf.Type = dto.MetricType_COUNTER.Enum()
	case kindGauge:
		mf.Type = dto.MetricType_GAUGE.Enum()
	default:
		mf.Type = dto.MetricType_HISTOGRAM.Enum()
	}
	if f.read != nil {
		mf.Metric = []*dto.Metric{f.metric(nil, f.read())}
		return mf
	}
	f.mu.RLock()
	from := f.series
	if f.byValue != nil {
		// Only the series with the value wanted of each label may match:
		// the fewest of those of any label are all to look at.
		for k, c := range w {
			if set := f.byValue[c.label][c.value]; k == 0 || len(set) < len(from) {
				from = set
			}
		}
	}
	all := make([]*series, 0, len(from))
	for _, s := range from {
		if w.keeps(s) {
			all = append(all, s)
		}
	}
	f.mu.RUnlock()
	slices.SortFunc(all, func(a, b *series) int { return slices.Compare(a.values, b.values) })
	for _, s := range all {
		if f.kind != kindHistogram {
			mf.Metric = append(mf.Metric, f.metric(s.values, math.Float64frombits(s.n.Load())))
			continue
		}
		m := &dto.Metric{Label: f.labelPairs(s.values)}
		h := &dto.Histogram{}
		var cum uint64
		for i, b := range f.buckets {
			cum += s.counts[i].Load()
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: ptr(b), CumulativeCount: ptr(cum)})
		}
		cum += s.counts[len(f.buckets)].Load()
		h.SampleCount = ptr(cum)
		h.SampleSum = ptr(math.Float64frombits(s.sum.Load()))
		m.Histogram = h
		mf.Metric = append(mf.Metric, m)
	}
	return mf
}

// where is what a series must have to be gathered: the value of the
// label at each place in its family's labels.
type where []struct {
	label int
	value string
}

// where returns what match asks of f's series, and whether some series of
// f may have it: none does when match wants a label f does not have to
// be other than "".
func (f *family) where(match map[string]string) (w where, some bool) {
	for name, value := range match {
		i := slices.Index(f.labels, name)
		if i < 0 {
			if value != "" {
				return nil, false
			}
			continue
		}
		w = append(w, struct {
			label int
			value string
		}{i, value})
	}
	return w, true
}

// keeps reports whether s has what w asks.
func (w where) keeps(s *series) bool {
	for _, c := range w {
		if s.values[c.label] != c.value {
			return false
		}
	}
	return true
}

// metric is a counter's or gauge's sample.
func (f *family) metric(values []string, v float64) *dto.Metric {
	m := &dto.Metric{Label: f.labelPairs(values)}
	if f.kind == kindCounter {
		m.Counter = &dto.Counter{Value: ptr(v)}
	} else {
		m.Gauge = &dto.Gauge{Value: ptr(v)}
	}
	return m
}

// labelPairs pairs the family's labels with values, sorted by label name
// as the exposition formats expect.
func (f *family) labelPairs(values []string) []*dto.LabelPair {
	if len(values) == 0 {
		return nil
	}
	pairs := make([]*dto.LabelPair, len(values))
	for i, v := range values {
		pairs[i] = &dto.LabelPair{Name: ptr(f.labels[i]), Value: ptr(v)}
	}
	slices.SortFunc(pairs, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return pairs
}

func ptr[T any](v T) *T { return &v }
