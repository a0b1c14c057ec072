package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// metricsDigest is one file's line of promote audit metrics-digest.
type metricsDigest struct {
	File   string `json:"file"`
	Digest string `json:"digest"`
}

func newAuditMetricsDigestCmd(s *streams, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "metrics-digest FILE...",
		Short: "Compute the digest a gate's audit events record for the metrics it judged",
		Long: `Read each metrics file (metrics.json, or YAML) as the server reads a version's metrics,
and print the digest of what the gate judges: its metrics, with the fairness metrics its
groups give, its checks and its groups, in the canonical encoding of docs/audit.md. The
events of the states a gate decides (gated, blocked, awaiting_approval, approved)
record it for the candidate and the baseline as metrics.candidate and metrics.baseline:
a file with the same digest holds the metrics that were judged, whatever its layout,
key order or spacing. Runs locally: no server, no token.`,
		Example: `  promote audit metrics-digest metrics.json
  promote audit show 48 -o json | jq -r .metrics.candidate`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "table" && f.output != "json" {
				return usageErrorf("--output %q: want table or json", f.output)
			}
			out := make([]metricsDigest, 0, len(args))
			for _, path := range args {
				ev, err := loadEvidence(path, "metrics")
				if err != nil {
					return usageError(err)
				}
				d, err := ev.Digest()
				if err != nil {
					return usageError(fmt.Errorf("metrics: %s: %w", path, err))
				}
				out = append(out, metricsDigest{File: path, Digest: d})
			}
			return f.render(s.out, out, func(tw *table) {
				for _, d := range out {
					row(tw, d.Digest, d.File)
				}
			})
		},
	}
}
