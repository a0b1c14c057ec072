// Package canary is a seeded simulation benchmark of canary analysis. It
// compares Promote's anytime-valid sequential analysis (internal/analysis)
// with reference judges written here that reproduce the defaults of
// Flagger's and Argo Rollouts' canary analyses, and with Wald's SPRT lower
// bound for a known effect, on healthy canaries and on canaries with a
// higher error rate or a higher latency than stable.
//
// A run simulates one canary at a fixed weight, second by second (from
// SliceRate requests/s in tenths of a second), until a horizon: Poisson requests at a total rate, split at random between stable
// and canary; each request fails with its track's error probability and
// takes a lognormal latency, counted into the splitter's histogram buckets
// (traffic.DurationBuckets). Every judge sees the same traffic and says
// when, if at all, it rolls the canary back: at a whole second, or, for a
// judge that looks as the canary's requests arrive (SliceJudge), at the
// end of a slice; what the canary served
// until then (requests, and bad requests: errors, or requests slower than
// the latency test's threshold) is what a user would have suffered. The
// random numbers of a run come from a PCG seeded with the run's index and
// the scenario's name, so the figures are the same on every machine and at
// every parallelism.
//
// HistoryGrid and RunHistory run the analysis with stable's history
// (analysis.Config.History) per request instead: every request is drawn
// with its arrival time and told to the history tests as the splitter
// answers it, so that a rollback at a canary request counts exactly the
// requests up to it.
//
// Grid and Run run the full benchmark (cmd/canarysim, run.sh, about 25
// minutes on two cores); canary_test.go runs a small seeded version in CI. See
// BENCHMARKS.md for the figures.
package canary
