package testtool

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/telemetry"
)

// Samples reads the metric family name from reg as its /metrics shows it:
// each sample's value (a counter's or a gauge's) by its labels written
// "k=v,k2=v2" in the family's label order ("" when it has none). A family
// reg does not have gives an empty map.
func Samples(t testing.TB, reg *telemetry.Registry, name string) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}
