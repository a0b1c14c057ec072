package analysis

import (
	"math"
)

// ratioTest is a one-sided, anytime-valid test that events (errors, or
// requests slower than a threshold) are more frequent per request in the
// canary than in stable.
//
// The model is that of Lindon & Malek (2022), "Anytime-Valid Inference for
// Multinomial Count Data", Advances in Neural Information Processing
// Systems 35 (NeurIPS 2022), for time-inhomogeneous Poisson counting
// processes, which they apply to the errors of software canaries, the
// setting of Lindon, Sanden & Shirikian (2022), "Rapid Regression Detection
// in Software Deployments through Sequential Testing", Proc. 28th ACM
// SIGKDD Conference on Knowledge Discovery and Data Mining (KDD '22): each
// track's events arrive at its request rate times a per-request event rate
// that may change over time in any way, but by the same factor in both
// tracks, and the canary's rate is ρ times stable's. Given the e events of
// an interval in which a share w of the requests went to the canary, the
// canary's share x of them is then Binomial(e, θ) with
//
//	θ(ρ) = wρ / (wρ + 1 - w),
//
// which is w under H0 (ρ = 1): the unknown, time-varying event rate drops
// out. For one alternative ρ the likelihood ratio of the interval is
//
//	LR(ρ) = θ(ρ)^x (1-θ(ρ))^(e-x) / (w^x (1-w)^(e-x)) = ρ^x / (1 + w(ρ-1))^e,
//
// and the product of the intervals' ratios is a nonnegative martingale
// under ρ = 1. It is a supermartingale under ρ < 1 too: if the canary's
// true share is θ₀, E[LR(ρ)] = (θ₀ θ(ρ)/w + (1-θ₀)(1-θ(ρ))/(1-w))^e, which
// increases with θ₀ when ρ > 1 and is 1 at θ₀ = w. Mixing over ρ with
// prior weights π_k,
//
//	M_t = Σ_k π_k Π_{intervals ≤ t} LR_i(ρ_k),
//
// keeps that property (Robbins 1970, "Statistical methods related to the
// law of the iterated logarithm", Ann. Math. Statist. 41(5)), and Ville's
// inequality (Ville 1939, "Étude critique de la notion de collectif",
// Gauthier-Villars) bounds the probability that M_t ever reaches 1/α by α,
// however often it is looked at. The always-valid p-value is
// p_t = min(1, 1/max_{s≤t} M_s) (Johari, Koomen, Pekelis & Walsh 2022,
// "Always Valid Inference: Continuous Monitoring of A/B Tests", Operations
// Research 70(3)).
//
// With independent requests rather than Poisson arrivals the canary's share
// of an interval's events is hypergeometric rather than binomial; since
// ρ^x is convex, its expectation is then no larger (Hoeffding 1963,
// "Probability inequalities for sums of bounded random variables", JASA
// 58(301), Theorem 4), so M_t stays a supermartingale.
//
// A discrete mixture over ρ, rather than a conjugate mixture over θ as in
// Lindon & Malek, keeps the ratio exact when w changes from one interval
// to the next, as it does when the rollout steps its weight.
type ratioTest struct {
	rho       []float64 // the alternatives ρ_k > 1
	logRho    []float64 // ln ρ_k
	logPrior  []float64 // ln π_k, Σ π_k = 1
	logLR     []float64 // ln Π_i LR_i(ρ_k) so far
	logE      float64   // ln M_t
	logMaxE   float64   // ln max_{s≤t} M_s, ≥ 0
	canary    float64   // canary events counted
	stable    float64   // stable events counted
	canaryReq float64   // canary requests counted
	stableReq float64   // stable requests counted
	logLevel  float64   // ln(1/a): the test rejects at level a once ln M_t reaches it
	bet       []float64 // scratch: the ratios bet on in one interval
	terms     []float64 // scratch: the mixture's terms, for logSumExp
}

// newRatioTest returns a test at level a in (0, 1) mixing over rho, in
// increasing order, with equal weights.
func newRatioTest(rho []float64, a float64) *ratioTest {
	t := &ratioTest{
		rho:      rho,
		logRho:   make([]float64, len(rho)),
		logPrior: make([]float64, len(rho)),
		logLR:    make([]float64, len(rho)),
		logLevel: -math.Log(a),
		terms:    make([]float64, len(rho)),
	}
	for k, r := range rho {
		t.logRho[k] = math.Log(r)
		t.logPrior[k] = -math.Log(float64(len(rho)))
	}
	return t
}

// geometricGrid returns n ratios spaced evenly in log scale from lo to hi.
func geometricGrid(lo, hi float64, n int) []float64 {
	g := make([]float64, n)
	for k := range g {
		f := 0.0
		if n > 1 {
			f = float64(k) / float64(n-1)
		}
		g[k] = math.Exp(math.Log(lo) + f*(math.Log(hi)-math.Log(lo)))
	}
	return g
}

// update adds one interval: xc events among nc canary requests and xs
// events among ns stable requests. An interval without requests in either
// track, or without events, leaves the likelihood ratios unchanged; one
// with a single event may bet on lower ratios (see cappedBets).
func (t *ratioTest) update(xc, xs, nc, ns float64) {
	t.canary += xc
	t.stable += xs
	t.canaryReq += nc
	t.stableReq += ns
	e := xc + xs
	if nc+ns <= 0 || e <= 0 {
		return
	}
	w := nc / (nc + ns)
	rho := t.rho
	if e == 1 {
		rho = t.cappedBets(w)
	}
	for k, r := range rho {
		t.logLR[k] += xc*math.Log(r) - e*math.Log1p(w*(r-1))
	}
	t.logE = t.logMixture()
	t.logMaxE = max(t.logMaxE, t.logE)
}

// cappedBets returns the ratios to bet on in an interval with one event
// and canary share w.
//
// Near the level, a canary event multiplies the mixture by up to
// ρ/(1 + w(ρ-1)) (5.3 for ρ = 10 at w = 10%), so that it crosses 1/a well
// above it: the evidence beyond 1/a is wasted, and the stable events on the
// way cost the large ratios the most. When one canary event would take the
// mixture to 1/a or beyond, every ratio above a cap c is lowered to c, the
// least cap with which a canary event still takes it there. Then a canary
// event rejects exactly as without the cap, and a stable event, whose
// factor 1/(1 + w(ρ-1)) falls with ρ, costs every component less: until
// the test rejects, each component's product is at least the uncapped
// one, so the capped test never rejects later. In the benchmark's 5% error
// canary at 10% weight and 100 requests/s it saves about 0.25 bad
// requests.
//
// The cap depends only on the past and on the interval's number of events
// e, which the test conditions on: under H0 the canary's share of an
// interval's events is Binomial(e, w) whatever ratio is bet on, so that the
// product of factors with any such predictable ρ' ≥ 1 stays a nonnegative
// supermartingale and Ville's inequality still bounds the level (the
// test-martingale argument for predictable bets in Ramdas, Grünwald, Vovk
// & Shafer 2023, "Game-theoretic statistics and safe anytime-valid
// inference", Statistical Science 38(4); the same holds for the latency
// test's slow requests). Intervals with more than one event are not
// capped: there a lower ratio can cost a component when many of the events
// are the canary's without crossing.
func (t *ratioTest) cappedBets(w float64) []float64 {
	if t.logE >= t.logLevel {
		return t.rho
	}
	after := func(c float64) float64 { // ln M after one canary event
		for k, r := range t.rho {
			r = min(r, c)
			t.terms[k] = t.logPrior[k] + t.logLR[k] + math.Log(r) - math.Log1p(w*(r-1))
		}
		return logSumExp(t.terms)
	}
	// Aim a little above the level, so that rounding in update and in the
	// p-value cannot leave the e-value just short of it.
	target := t.logLevel + 1e-6
	lo, hi := 1.0, t.rho[len(t.rho)-1]
	if after(hi) < target {
		return t.rho
	}
	for range 60 {
		mid := (lo + hi) / 2
		if after(mid) >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	if t.bet == nil {
		t.bet = make([]float64, len(t.rho))
	}
	for k, r := range t.rho {
		t.bet[k] = min(r, hi)
	}
	return t.bet
}

// logMixture returns ln M_t, computed as a log-sum-exp so that it neither
// overflows nor underflows.
func (t *ratioTest) logMixture() float64 {
	for k := range t.logLR {
		t.terms[k] = t.logPrior[k] + t.logLR[k]
	}
	return logSumExp(t.terms)
}

// logSumExp returns ln Σ exp(terms[k]), summed relative to the largest
// term so that it neither overflows nor underflows; -Inf when every term
// is.
func logSumExp(terms []float64) float64 {
	m := math.Inf(-1)
	for _, v := range terms {
		m = max(m, v)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, v := range terms {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// pValue returns the always-valid p-value min(1, 1/max_{s≤t} M_s).
func (t *ratioTest) pValue() float64 {
	return math.Exp(-t.logMaxE)
}

// limitTest is a one-sided, anytime-valid test that a track's events
// (errors, or requests slower than a bound) are more frequent per request
// than a fixed limit L. Its null hypothesis H0 is that each request, given
// the requests before it, is an event with a probability p ≤ L; p may
// change from request to request.
//
// For one alternative p₁ > L, the likelihood ratio of x events among n
// requests against L is that of Wald's (1945) sequential probability ratio
// test for a Bernoulli sequence. Written with the odds ratio
// ρ = odds(p₁)/odds(L) > 1, that is p₁ = ρL / (1 + L(ρ-1)),
//
//	LR_n(ρ) = (p₁/L)^x ((1-p₁)/(1-L))^(n-x) = ρ^x / (1 + L(ρ-1))^n,
//
// the ratio of ratioTest with the share w replaced by L and an interval's
// events by all requests. Each request multiplies LR(ρ) by a factor whose
// expectation, when the request is an event with probability p, is
//
//	p·p₁/L + (1-p)(1-p₁)/(1-L) = 1 + (p-L)(p₁-L) / (L(1-L)),
//
// at most 1 whenever p ≤ L < p₁. So LR_n(ρ) is a nonnegative
// supermartingale under every distribution of H0, however p varies (a test
// supermartingale for the composite null; Ramdas, Grünwald, Vovk & Shafer
// 2023, "Game-theoretic statistics and safe anytime-valid inference",
// Statistical Science 38(4)), and so is the mixture over alternatives with
// prior weights π_k (Robbins 1970, "Statistical methods related to the law
// of the iterated logarithm", Ann. Math. Statist. 41(5)):
//
//	M_n = Σ_k π_k LR_n(ρ_k).
//
// Ville's inequality (Ville 1939) bounds P(∃n: M_n ≥ 1/a) by a. M_n depends
// only on the cumulative counts (x, n), so that evaluating it at the
// observations, which see a subsequence of the request counts, and only
// from some number of requests on, keeps the bound. Inverting the test
// over L gives the confidence sequence {q : M_n(q) < 1/a} for the event
// probability (Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform,
// nonparametric, nonasymptotic confidence sequences", Ann. Statist. 49(2)),
// so that rejecting H0 is to find L outside a (1-a) confidence sequence.
//
// With L ≥ 1, LR_n(ρ) = ρ^(x-n) ≤ 1: no data reject H0, as none can.
type limitTest struct {
	limit    float64   // L
	logRho   []float64 // ln ρ_k: what an event adds to ln LR(ρ_k)
	logDen   []float64 // ln(1 + L(ρ_k-1)): what every request subtracts
	logPrior float64   // ln π_k = -ln K, equal weights
	logE     float64   // ln M_n at the last evaluation
	logMaxE  float64   // ln max M over the evaluations, ≥ 0
	events   float64   // x at the last evaluation
	requests float64   // n at the last evaluation
	terms    []float64 // scratch: the mixture's terms, for logSumExp
}

// newLimitTest returns a test of the limit mixing over the odds ratios
// rho, which must be above 1, with equal weights.
func newLimitTest(limit float64, rho []float64) *limitTest {
	t := &limitTest{
		limit:    limit,
		logRho:   make([]float64, len(rho)),
		logDen:   make([]float64, len(rho)),
		logPrior: -math.Log(float64(len(rho))),
		terms:    make([]float64, len(rho)),
	}
	for k, r := range rho {
		t.logRho[k] = math.Log(r)
		t.logDen[k] = math.Log1p(limit * (r - 1))
	}
	return t
}

// observe evaluates the test at the cumulative counts since the start: x
// events among n requests.
func (t *limitTest) observe(x, n float64) {
	t.events, t.requests = x, n
	for k := range t.logRho {
		t.terms[k] = x*t.logRho[k] - n*t.logDen[k]
	}
	t.logE = t.logPrior + logSumExp(t.terms)
	t.logMaxE = max(t.logMaxE, t.logE)
}

// pValue returns the always-valid p-value min(1, 1/max M) over the
// evaluations so far.
func (t *limitTest) pValue() float64 {
	return math.Exp(-t.logMaxE)
}

// SPRTBound returns the least expected number of observations (requests)
// with which a sequential test tells an event (error) probability p1 from
// p0 with type-I error alpha and type-II error beta, when it is p1:
//
//	E₁[N] ≥ [(1-β) ln((1-β)/α) + β ln(β/(1-α))] / KL(p1 ‖ p0),
//	KL(p1 ‖ p0) = p1 ln(p1/p0) + (1-p1) ln((1-p1)/(1-p0)).
//
// It is Wald's approximation of the expected sample size of the sequential
// probability ratio test of the simple hypotheses p0 against p1, which
// neglects the overshoot of the boundaries, and a lower bound for every
// test with those error probabilities (Wald 1945, "Sequential tests of
// statistical hypotheses", Ann. Math. Statist. 16(2); Wald & Wolfowitz
// 1948, "Optimum character of the sequential probability ratio test", Ann.
// Math. Statist. 19(3)). The bound knows p0 exactly, which a comparison of
// canary against stable does not.
//
// It returns 0 when alpha + beta ≥ 1, which a test ignoring the data
// achieves, and NaN when p0 or p1 is outside (0, 1), they are equal, or
// alpha or beta is outside [0, 1) (alpha must be positive).
func SPRTBound(p0, p1, alpha, beta float64) float64 {
	in := func(x float64) bool { return x > 0 && x < 1 }
	if !in(p0) || !in(p1) || p0 == p1 || !in(alpha) || !(beta >= 0 && beta < 1) {
		return math.NaN()
	}
	if alpha+beta >= 1 {
		return 0
	}
	num := (1 - beta) * math.Log((1-beta)/alpha)
	if beta > 0 {
		num += beta * math.Log(beta/(1-alpha))
	}
	kl := p1*math.Log(p1/p0) + (1-p1)*math.Log((1-p1)/(1-p0))
	return num / kl
}
