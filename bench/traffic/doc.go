// Package traffic holds the benchmark of Promote's traffic splitter
// (internal/traffic) as a router: run.sh sends HTTP requests over loopback
// to a model backend directly, through the splitter and through nginx
// splitting with split_clients, and compares the added latency at a fixed
// rate and the peak throughput of the three paths. This package holds what
// the programs under cmd/ share, so that the test can check them: the
// model backend (Backend), the splitter as the benchmark runs it
// (NewSplitter, SplitterHandler), nginx's configuration (NginxConfig) and
// an open-loop load generator (Load). See BENCHMARKS.md for the figures.
package traffic
