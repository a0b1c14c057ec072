// Package gate holds the benchmarks of Promote's gate: in-process
// evaluation, loading and evidence parsing (bench_test.go), and run.sh,
// which times whole `promote gate` runs against conftest on the same policy
// and data. The inputs are the files under testdata/; see BENCHMARKS.md.
package gate
