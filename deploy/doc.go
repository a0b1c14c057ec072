// Package deploy holds no code: its tests check Promote's packaging — the
// Dockerfile at the repository root, the Kubernetes manifests under
// deploy/kubernetes (among them the Prometheus Operator's PodMonitor and a
// PrometheusRule whose groups must be the rule file's), the Prometheus
// alerting rules under deploy/prometheus, the Grafana dashboard under
// deploy/grafana and the example GitHub Actions workflow under
// examples/github-actions — against the real build, the real CLI and the
// real promtool.
package deploy
