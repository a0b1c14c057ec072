// Package deploy holds no code: its tests check Promote's packaging — the
// Dockerfile at the repository root, the Kubernetes manifests under
// deploy/kubernetes and the example GitHub Actions workflow under
// examples/github-actions — against the real build and the real CLI.
package deploy
