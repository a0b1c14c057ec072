// Package gitops holds the benchmarks of Promote's GitOps path, from an
// approved promotion to a commit pushed to the GitOps repository:
// bench_test.go measures rendering the three overlays in process and
// gitops.Writer's promotion (pin, render, commit, push to a local bare
// repository); run.sh compares the rendering with three runs of the
// kustomize CLI and prints both side by side. See BENCHMARKS.md.
package gitops
