package policy

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// A move below a reference's point mass at its minimum must count as much
// as the same move above it: a constant feature at 5 that becomes 1 has
// drifted as far as one that becomes 9.
func TestDriftBelowPointMassAtMinimum(t *testing.T) {
	repeat := func(v float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	mostlyZero := append(repeat(0, 95), repeat(1, 5)...)
	tests := []struct {
		name     string
		ref, cur []float64
		want     Binned
		psi, js  float64
	}{
		{
			name: "constant moved down",
			ref:  repeat(5, 100), cur: repeat(1, 100),
			want: Binned{Edges: []float64{math.Nextafter(5, math.Inf(-1)), 5}, Reference: []int{0, 100, 0}, Current: []int{100, 0, 0}},
			// Two bins of ε against 1 + ε, over three bins: 2·ln((1+ε)/ε)/(1+3ε).
			psi: 2 * math.Log((1+PSIEpsilon)/PSIEpsilon) / (1 + 3*PSIEpsilon), js: 1,
		},
		{
			name: "constant moved up",
			ref:  repeat(5, 100), cur: repeat(9, 100),
			want: Binned{Edges: []float64{math.Nextafter(5, math.Inf(-1)), 5}, Reference: []int{0, 100, 0}, Current: []int{0, 0, 100}},
			psi:  2 * math.Log((1+PSIEpsilon)/PSIEpsilon) / (1 + 3*PSIEpsilon), js: 1,
		},
		{
			// A count that is mostly 0 becomes mostly -1 (a sentinel, a
			// sign error upstream).
			name: "mostly zero moved to -1",
			ref:  mostlyZero, cur: append(repeat(-1, 95), repeat(1, 5)...),
			want: Binned{Edges: []float64{math.Nextafter(0, math.Inf(-1)), 0}, Reference: []int{0, 95, 5}, Current: []int{95, 0, 5}},
			// 0.95 of each sample in a bin the other has none of:
			// PSI 2·0.95·ln((0.95+ε)/ε)/(1+3ε), JS distance √0.95.
			psi: 2 * 0.95 * math.Log((0.95+PSIEpsilon)/PSIEpsilon) / (1 + 3*PSIEpsilon), js: math.Sqrt(0.95),
		},
		{
			name: "mostly zero unchanged",
			ref:  mostlyZero, cur: mostlyZero,
			want: Binned{Edges: []float64{math.Nextafter(0, math.Inf(-1)), 0}, Reference: []int{0, 95, 5}, Current: []int{0, 95, 5}},
			psi:  0, js: 0,
		},
	}
	near := cmpopts.EquateApprox(1e-12, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := BinNumeric(tt.ref, tt.cur, DefaultDriftBins)
			if diff := cmp.Diff(tt.want, b, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("BinNumeric() (-want +got):\n%s", diff)
			}
			if got := b.PSI(); !cmp.Equal(got, tt.psi, near) {
				t.Errorf("PSI() = %v, want %v", got, tt.psi)
			}
			if got := b.JSDistance(); !cmp.Equal(got, tt.js, near) {
				t.Errorf("JSDistance() = %v, want %v", got, tt.js)
			}
		})
	}
}
