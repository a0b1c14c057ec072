// Package registry holds the benchmarks of Promote's registry and promotion
// service: run.sh measures `promote serve` over HTTP with wrk (status reads
// and audited promotion requests, on SQLite and on PostgreSQL) and times
// `promote audit verify` over a million events; bench_test.go measures the
// in-process parts (a promotion request, verification per event). This
// package holds what both share: the benchmark's pipeline (testdata/), the
// models, versions and evidence the load uses, and a generator of a
// registry's ordinary audit events. scale.sh times every read path on a
// small and a large store that SeedScale builds through the service, and
// scale_test.go the leader's reads on such a store. See BENCHMARKS.md for
// the figures.
package registry
