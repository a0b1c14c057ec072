package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/promote"
)

func newVersionsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "versions", Short: "Register, list, show and reject model versions"}
	f := addClientFlags(cmd)
	cmd.AddCommand(newVersionsListCmd(s, f), newVersionsShowCmd(s, f), newVersionsRegisterCmd(s, f), newVersionsRejectCmd(s, f))
	return cmd
}

func newVersionsListCmd(s *streams, f *clientFlags) *cobra.Command {
	var filter promote.VersionFilter
	cmd := &cobra.Command{
		Use: "list MODEL", Short: "List a model's versions, newest first", Args: cobra.ExactArgs(1),
		Long: `List a model's versions, newest (the last registered) first: at most --limit of them
(100 by default). SEQ is each version's cursor: --before SEQ lists the page older than
it (the SEQ of a page's last row gives the next page), --after SEQ the page just newer.`,
		Example: `  promote versions list credit-risk
  promote versions list credit-risk --limit 20 --before 1841`,
		ValidArgsFunction: f.completeArgs(modelNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			filter.Model = args[0]
			vs, err := c.Versions(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, vs, func(tw *table) {
				row(tw, "SEQ", "VERSION", "DIGEST", "SIGNED", "REJECTED", "CREATED BY", "CREATED")
				for _, v := range vs {
					row(tw, fmt.Sprint(v.Seq), v.Version, shortDigest(v.Digest), signedNow(v), yesNo(v.Rejected), v.CreatedBy, when(v.CreatedAt))
				}
			})
		},
	}
	addPageFlags(cmd, "versions", "SEQ", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newVersionsShowCmd(s *streams, f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "show MODEL VERSION", Short: "Show a version: digest, signature, metrics, lineage", Args: cobra.ExactArgs(2),
		Example: `  promote versions show credit-risk 2
  promote versions show credit-risk 2 -o json | jq .metrics`,
		ValidArgsFunction: f.completeArgs(modelNames, versionsOfArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			v, err := c.Version(cmd.Context(), args[0], args[1])
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, v, func(tw *table) { versionTable(tw, v) })
		},
	}
}

// signedNow says whether v's signature counts now: verified with a key the
// server trusts now, which a server that does not say falls back to the
// registration's verdict for.
func signedNow(v promote.Version) string {
	if v.SignatureNow != nil {
		if !v.SignatureNow.Trusted && v.Signed() {
			return "no (key no longer trusted)"
		}
		return yesNo(v.SignatureNow.Trusted)
	}
	return yesNo(v.Signed())
}

func versionTable(tw *table, v promote.Version) {
	row(tw, "Model", v.Model)
	row(tw, "Version", v.Version)
	row(tw, "Artifact", v.ArtifactURI)
	row(tw, "Digest", v.Digest)
	row(tw, "Size", fmt.Sprint(v.Size))
	for _, sig := range v.Signatures {
		row(tw, "Signature", fmt.Sprintf("verified=%v key=%s (at registration)", sig.Verified, sig.KeyID))
	}
	if c := v.SignatureNow; c != nil && len(v.Signatures) > 0 {
		row(tw, "Signature now", map[bool]string{true: "trusted: ", false: "NOT TRUSTED: "}[c.Trusted]+c.Note)
	}
	row(tw, "Dataset", v.Lineage.DatasetDigest)
	row(tw, "Code commit", v.Lineage.CodeCommit)
	row(tw, "Training run", v.Lineage.TrainingRun)
	row(tw, "Base image", v.Lineage.BaseImageDigest)
	row(tw, "Created", when(v.CreatedAt)+" by "+v.CreatedBy)
	if v.Rejected {
		row(tw, "Rejected", fmt.Sprintf("by %s: %s", v.RejectedBy, v.RejectReason))
	}
	names := make([]string, 0, len(v.Metrics))
	for k := range v.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		row(tw, "metric "+k, policy.FormatValue(v.Metrics[k], false))
	}
	checks := make([]string, 0, len(v.Checks))
	for k := range v.Checks {
		checks = append(checks, k)
	}
	sort.Strings(checks)
	for _, k := range checks {
		row(tw, "check "+k, fmt.Sprint(v.Checks[k]))
	}
}

func newVersionsRegisterCmd(s *streams, f *clientFlags) *cobra.Command {
	var artifact, digest, sigFile, bundleFile, metricsFile string
	var lineage promote.Lineage
	cmd := &cobra.Command{
		Use:   "register MODEL VERSION --artifact FILE|URI",
		Short: "Register a version with its artifact digest, signature, metrics and lineage",
		Long: `Register a version of a model. A local artifact file is hashed here and sent as a file://
URI with its digest (the server checks it when it can read the file); a remote URI needs
--digest. A signature (cosign sign-blob) or bundle is verified by the server against the
pipeline's trusted keys: a signature that does not verify fails the registration. The
metrics file is checked here first, so errors name its lines.`,
		Example: `  promote versions register credit-risk 2 --artifact model.bin --signature model.bin.sig \
    --metrics metrics.json --code-commit $GITHUB_SHA --training-run run-42`,
		Args: cobra.ExactArgs(2),
		// The version is a new one: nothing to offer for it.
		ValidArgsFunction: f.completeArgs(modelNames),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			req := registry.RegisterRequest{Model: args[0], Version: args[1], ArtifactURI: artifact, Digest: digest, Lineage: lineage}
			if err := localArtifact(&req); err != nil {
				return usageError(err)
			}
			if sigFile != "" && bundleFile != "" {
				return usageErrorf("give --signature or --bundle, not both")
			}
			if sigFile != "" {
				b, err := readInput(sigFile, "signature")
				if err != nil {
					return usageError(err)
				}
				// An empty request field means no signature: an empty file
				// (a signing step that wrote nothing) would register the
				// version unsigned, and its name could not be used again.
				if req.Signature = string(bytes.TrimSpace(b)); req.Signature == "" {
					return usageErrorf("signature: %s is empty", sigFile)
				}
				// Raw DER (cosign sign-blob --b64=false) is binary, which a
				// JSON string garbles: it is sent as base64. Anything
				// unreadable is sent as it is, for the server to refuse.
				if enc, err := signature.EncodeFile(b); err == nil {
					req.Signature = string(enc)
				}
			}
			if bundleFile != "" {
				b, err := readInput(bundleFile, "bundle")
				if err != nil {
					return usageError(err)
				}
				if len(bytes.TrimSpace(b)) == 0 {
					return usageErrorf("bundle: %s is empty", bundleFile)
				}
				req.Bundle = string(b)
			}
			if metricsFile != "" {
				if req.Metrics, err = metricsDocument(metricsFile); err != nil {
					return usageError(err)
				}
			}
			v, err := c.RegisterVersion(cmd.Context(), req)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, v, func(tw *table) {
				fmt.Fprintf(tw, "Registered %s %s (%s, %s)\n", v.Model, v.Version, v.Digest, map[bool]string{true: "signature verified", false: "unsigned"}[v.Signed()])
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&artifact, "artifact", "", "the artifact: a local `FILE` or a URI (s3://…, oci://…)")
	fl.StringVar(&digest, "digest", "", "the artifact's sha256:<hex> (computed for a local file)")
	fl.StringVar(&sigFile, "signature", "", "base64 signature `FILE` over the artifact")
	fl.StringVar(&bundleFile, "bundle", "", "sigstore bundle `FILE`")
	fl.StringVar(&metricsFile, "metrics", "", "metrics.json `FILE`: metrics, checks, groups")
	fl.StringVar(&lineage.DatasetDigest, "dataset-digest", "", "digest of the training data")
	fl.StringVar(&lineage.CodeCommit, "code-commit", "", "the commit the model was trained from")
	fl.StringVar(&lineage.TrainingRun, "training-run", "", "the training run's ID")
	fl.StringVar(&lineage.BaseImageDigest, "base-image-digest", "", "digest of the serving base image")
	_ = cmd.MarkFlagRequired("artifact")
	return cmd
}

// localArtifact turns a local file into an absolute file:// URI and hashes
// it; URIs with another scheme are left as they are. The URI is escaped, so
// that it names the file hashed: a server, and whatever deploys the pinned
// URI, reads "file:///m/a%41.bin" as /m/aA.bin and "file:///m/v#2.bin" as
// /m/v.
func localArtifact(req *registry.RegisterRequest) error {
	path := req.ArtifactURI
	if u, err := url.Parse(req.ArtifactURI); err == nil && u.Scheme != "" {
		if u.Scheme != "file" {
			if req.Digest == "" {
				return fmt.Errorf("--digest is needed for a remote artifact (%s)", req.ArtifactURI)
			}
			return nil
		}
		path = strings.TrimPrefix(req.ArtifactURI, "file://")
		if u.Host == "" {
			path = u.Path // unescaped, as the server reads it
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	file, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("artifact: %w", pathError(err))
	}
	defer file.Close()
	sum, size, err := signature.Digest(file)
	if err != nil {
		return fmt.Errorf("artifact %s: %w", path, err)
	}
	computed := fmt.Sprintf("sha256:%x", sum)
	if req.Digest != "" && req.Digest != computed {
		return fmt.Errorf("--digest %s does not match %s, which is %s", req.Digest, path, computed)
	}
	req.ArtifactURI, req.Digest, req.Size = (&url.URL{Scheme: "file", Path: abs}).String(), computed, size
	return nil
}

// metricsDocument reads and checks a metrics file, returning it as JSON:
// as it is when it is JSON, so that the server's errors keep its lines.
func metricsDocument(path string) ([]byte, error) {
	data, err := readInput(path, "metrics")
	if err != nil {
		return nil, err
	}
	ev, err := policy.ParseEvidence(path, data)
	if err != nil {
		return nil, err
	}
	if json.Valid(data) {
		return data, nil
	}
	return json.Marshal(map[string]any{"metrics": ev.Metrics, "checks": ev.Checks, "groups": ev.Groups})
}

func newVersionsRejectCmd(s *streams, f *clientFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use: "reject MODEL VERSION --reason TEXT", Short: "Reject a version for good: held in every environment",
		Example:           `  promote versions reject credit-risk 2 --reason "trained on a leaked label"`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: f.completeArgs(modelNames, versionsOfArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			v, err := c.RejectVersion(cmd.Context(), args[0], args[1], reason)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, v, func(tw *table) {
				fmt.Fprintf(tw, "Rejected %s %s: %s\n", v.Model, v.Version, v.RejectReason)
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}
