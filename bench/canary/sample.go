package canary

import (
	"math"
	"math/rand/v2"
)

// poissonInversionMax is the largest mean drawn by inversion; larger means
// use PTRS, whose cost does not grow with the mean.
const poissonInversionMax = 10

// poisson draws a Poisson variate with the given mean. p0 must be
// exp(-mean); callers that draw many variates of one mean compute it once.
//
// Means up to poissonInversionMax are drawn by inversion (sequential
// search from 0), which takes about mean+1 steps. Larger means use the
// transformed rejection method with squeeze, PTRS, of Hörmann (1993), "The
// transformed rejection method for generating Poisson random variables",
// Insurance: Mathematics and Economics 12(1), 39–45, with its constants.
func poisson(r *rand.Rand, mean, p0 float64) float64 {
	switch {
	case mean <= 0:
		return 0
	case mean > poissonInversionMax:
		return poissonPTRS(r, mean)
	}
	u := r.Float64()
	p := p0
	k, cum := 0.0, p
	for u > cum && p > 0 {
		k++
		p *= mean / k
		cum += p
	}
	return k
}

// poissonPTRS is Hörmann's PTRS for mean ≥ 10.
func poissonPTRS(r *rand.Rand, mean float64) float64 {
	slam := math.Sqrt(mean)
	loglam := math.Log(mean)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mean + 0.43)
		if us >= 0.07 && v <= vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -mean+k*loglam-lg {
			return k
		}
	}
}
