package cli

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/promote"
)

func newInitCmd(s *streams) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Scaffold a GitOps repository: pipeline, policies and dev/staging/prod overlays",
		Long: `Write a working Promote repository into DIR (default: the current directory):

  promote.yaml                  the pipeline: dev -> staging -> prod, with soak times
  policies/dev.yaml             light checks
  policies/staging.yaml         production-like checks
  policies/prod.yaml            strict: F1 may not drop by more than 0.01, demographic
                                parity difference <= 0.05, latency p95 <= 150 ms, one
                                approval, canary 10% -> 50% -> 100% with automatic rollback
  policies/<env>_test.yaml      test cases for each policy, allowed and blocked, that
                                'promote policy test' runs through the gate
  policies/testdata/            a signed artifact and its key, for those tests only
  deploy/base/                  the model server: Deployment, Service, ConfigMaps
  deploy/components/values/     copies each overlay's values.yaml into the manifests
  deploy/overlays/<env>/        kustomization.yaml (the base and the model pin),
                                values.yaml (what differs), models/<model>.env

The overlays differ only in replicas and resources, log level, rollout strategy and
SLOs; every one runs the same server image, pinned by digest, and renders with
kustomize. Existing files are never overwritten unless --force is given.
See docs/overlays.md.`,
		Example: `  # Scaffold into the current directory (a new Git repository, say)
  promote init

  # Into ./gitops, replacing files an earlier init wrote
  promote init gitops --force`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runInit(s, dir, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite files that exist already")
	return cmd
}

func runInit(s *streams, dir string, force bool) error {
	files, err := overlay.Scaffold(dir, overlay.ScaffoldOptions{Force: force})
	if err != nil {
		switch promote.ErrorCode(err) {
		case promote.Conflict, promote.Invalid:
			return usageError(err)
		}
		return &exitError{code: ExitBlocked, err: err}
	}
	// Prove what was written renders, as every promotion will.
	if _, err := overlay.RenderAll(dir, overlay.ScaffoldEnvironments); err != nil {
		return &exitError{code: ExitBlocked, err: err}
	}
	w := s.out
	fmt.Fprintf(w, "Wrote a Promote repository to %s:\n", dir)
	printTree(w, files)
	fmt.Fprintf(w, `
Every overlay renders (kustomize build deploy/overlays/{%s}).

Next steps:
  1. Replace the example images in deploy/base/model-deployment.yaml and
     deploy/overlays/*/kustomization.yaml with your model server's and model's.
  2. promote keygen --output-key-prefix keys/cosign, keep keys/cosign.key out
     of Git, and uncomment trustedKeys in promote.yaml: staging and prod accept
     signed artifacts only.
  3. promote overlays check       # the environments differ only where allowed
     promote policy test          # the policies decide as their tests say
     (run both in CI before promote gate; add a case whenever a policy changes)
  4. Commit, push to the repository Argo CD or Flux deploy
     deploy/overlays/<env> from, and run
     promote serve --pipeline promote.yaml --gitops-remote REPOSITORY
     (without --gitops-remote, promotions commit nothing to the overlays)
`, strings.Join(overlay.ScaffoldEnvironments, ","))
	return nil
}

// printTree prints slash-separated file paths, sorted, as an indented tree.
func printTree(w io.Writer, files []string) {
	printed := map[string]bool{}
	for _, f := range files {
		parts := strings.Split(f, "/")
		for i := range parts[:len(parts)-1] {
			d := path.Join(parts[:i+1]...)
			if !printed[d] {
				printed[d] = true
				fmt.Fprintf(w, "  %s%s/\n", strings.Repeat("  ", i), parts[i])
			}
		}
		fmt.Fprintf(w, "  %s%s\n", strings.Repeat("  ", len(parts)-1), parts[len(parts)-1])
	}
}
