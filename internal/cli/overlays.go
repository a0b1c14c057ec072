package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/pipeline"
)

// overlaysFormats are the values of overlays check --output.
var overlaysFormats = []string{"text", "json"}

func newOverlaysCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "overlays",
		Short: "Check, compare and extend the environments' GitOps overlays",
		Long: `Render the environments' Kustomize overlays (deploy/overlays/<env>) in-process and
check that they stay in parity, show how two of them differ, or add another model to
them. See docs/overlays.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("overlays needs a subcommand: check, diff or add-model")
		},
	}
	cmd.AddCommand(newOverlaysCheckCmd(s), newOverlaysDiffCmd(s), newOverlaysAddModelCmd(s))
	return cmd
}

type overlaysCheckFlags struct {
	dir            string
	allow          []string
	noDefaultAllow bool
	output         string
}

func newOverlaysCheckCmd(s *streams) *cobra.Command {
	var f overlaysCheckFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that the environments' overlays are in parity (exit 0 in parity, 1 drift, 2 bad input)",
		Long: `Render deploy/base and every environment's overlay, and report:

  - each difference of an environment from the base outside the allowlist;
  - any container image (other than a pinned model's) that differs between
    environments or is not pinned by digest;
  - any dependency (a ConfigMap's requirements.txt, constraints.txt or
    dependencies) whose version differs between environments.

The environments are those of promote.yaml in --dir, in pipeline order, or else
every directory under deploy/overlays. The default allowlist lets replicas and
resources, log level, rollout strategy, SLO settings and the model pin differ:

  ` + strings.Join(overlay.DefaultAllow, "\n  ") + `

--allow adds an entry: [KIND[/NAME]:]PATH, KIND/NAME for a whole resource, or @pin.
PATH is a field path with dots, [NAME] for a list element by name or a key with
dots, and * as a wildcard, e.g. 'Deployment/*:spec.template.spec.nodeSelector'.

A broken overlay (kustomize fails, or the pinned digest is not where it belongs)
is bad input. Exit codes: 0 in parity, 1 drift, 2 bad input or usage.`,
		Example: `  # In the repository's root
  promote overlays check

  # Another checkout, allowing a prod-only node selector too
  promote overlays check --dir ../gitops --allow 'Deployment/model-server:spec.template.spec.nodeSelector'

  # Only what is listed, as JSON
  promote overlays check --no-default-allow --allow @pin --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOverlaysCheck(s, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", ".", "the repository `DIR` (holding deploy/ and promote.yaml)")
	fl.StringArrayVar(&f.allow, "allow", nil, "also allow differences at `PATH` (repeatable)")
	fl.BoolVar(&f.noDefaultAllow, "no-default-allow", false, "start from an empty allowlist instead of the default")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: "+strings.Join(overlaysFormats, ", "))
	_ = cmd.MarkFlagDirname("dir")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(overlaysFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runOverlaysCheck(s *streams, f *overlaysCheckFlags) error {
	if !contains(overlaysFormats, f.output) {
		return usageErrorf("--output %q: want one of %s", f.output, strings.Join(overlaysFormats, ", "))
	}
	envs, err := pipelineEnvironments(f.dir)
	if err != nil {
		return usageError(err)
	}
	allow := []string{}
	if !f.noDefaultAllow {
		allow = append(allow, overlay.DefaultAllow...)
	}
	allow = append(allow, f.allow...)
	rep, err := overlay.Check(f.dir, envs, allow)
	if err != nil {
		return usageError(err)
	}
	if f.output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			OK bool `json:"ok"`
			overlay.Report
		}{rep.OK(), rep})
	} else {
		_, err = fmt.Fprint(s.out, rep.String())
	}
	if err != nil {
		return &exitError{code: ExitBlocked, err: fmt.Errorf("write the report: %w", err)}
	}
	if !rep.OK() {
		return &exitError{code: ExitBlocked, silent: true}
	}
	return nil
}

func newOverlaysDiffCmd(s *streams) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "diff ENV1 ENV2",
		Short: "Show how two environments' rendered overlays differ",
		Long: `Render the overlays of ENV1 and ENV2 and print, for each resource that differs, a
unified diff of its rendered YAML (--- ENV1/Kind/name, +++ ENV2/Kind/name).
Generated ConfigMap names are shown without their hash suffix.

Exit codes: 0 (whether or not they differ), 2 bad input such as a broken overlay.`,
		Example: `  # What prod runs that staging does not
  promote overlays diff staging prod

  # In another checkout
  promote overlays diff dev prod --dir ../gitops`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			envs, _ := overlay.Environments(dir)
			return envs, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := overlay.Diff(dir, args[0], args[1])
			if err != nil {
				return usageError(err)
			}
			if d == "" {
				d = fmt.Sprintf("%s and %s render the same.\n", args[0], args[1])
			}
			if _, err := fmt.Fprint(s.out, d); err != nil {
				return &exitError{code: ExitBlocked, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "the repository `DIR` (holding deploy/)")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

func newOverlaysAddModelCmd(s *streams) *cobra.Command {
	var dir string
	var opts overlay.AddModelOptions
	cmd := &cobra.Command{
		Use:   "add-model MODEL",
		Short: "Add another model to a repository that promote init wrote",
		Long: `Add MODEL to the base and to every overlay under deploy/overlays, so that Promote can
promote it like the first model:

  deploy/base/model-MODEL-deployment.yaml   its Deployment model-server-MODEL (the
                                            first model's, with MODEL's image)
  deploy/base/model-MODEL-service.yaml      its Service model-server-MODEL
  deploy/base/kustomization.yaml            both files, and a model-MODEL ConfigMap
                                            generator with MODEL_NAME=MODEL
  deploy/components/model-MODEL/            copies values.yaml's replicas and
                                            resources into its Deployment
  deploy/overlays/<env>/kustomization.yaml  the component, an images entry and a
                                            configMapGenerator entry for the model
  deploy/overlays/<env>/models/MODEL.env    MODEL_NAME=MODEL, the other MODEL_* empty

Until its first promotion to an environment, MODEL is declared there but not
promoted: the model config's MODEL_VERSION, MODEL_URI and MODEL_DIGEST are empty and
the images entry has newTag: not-promoted, an image that does not exist, so nothing
of the model runs. Promotions of the other models render and commit as before; the
first promotion of MODEL to an environment pins it there.

The overlays are taken, and their files listed, in the pipeline's order (promote.yaml
in DIR); without a promote.yaml that loads, in name order, and the output says why.
An environment of the pipeline without an overlay is an error.

The edits keep every other line of the files as it is. Everything is rendered with
kustomize before anything is written: a model that is there already, a name that is
not a DNS label, a directory without the scaffold or an overlay that does not render
is an error that names the problem, and nothing is written (exit 2).`,
		Example: `  # In the repository's root
  promote overlays add-model fraud

  # With the model's own image repository, in another checkout
  promote overlays add-model fraud --image ghcr.io/acme/models/fraud --dir ../gitops`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = args[0]
			// The pipeline's order, when promote.yaml is there to give it;
			// otherwise the overlays' names, and the output says why.
			var unordered string
			pipelineEnvs, err := pipelineEnvironments(dir)
			switch {
			case err != nil:
				unordered = fmt.Sprintf("promote.yaml does not load (%v)", err)
			case pipelineEnvs == nil:
				unordered = "there is no promote.yaml in " + dir
			}
			opts.Environments = pipelineEnvs
			added, err := overlay.AddModel(dir, opts)
			if err != nil {
				return usageError(err)
			}
			envs := added.Environments
			fmt.Fprintf(s.out, "Added model %s to %s:\n", opts.Model, dir)
			for _, f := range added.Files {
				fmt.Fprintf(s.out, "  %s\n", f)
			}
			if unordered != "" {
				fmt.Fprintf(s.out, "The overlays are in name order, not the pipeline's: %s.\n", unordered)
			}
			fmt.Fprintf(s.out, "Every overlay renders (kustomize build %s/{%s}).\n", overlay.OverlaysDir, strings.Join(envs, ","))
			fmt.Fprintf(s.out, "%s is not yet promoted in %s: commit and push these files; its first promotion to an environment pins it there.\n",
				opts.Model, strings.Join(envs, ", "))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", ".", "the repository `DIR` (holding deploy/)")
	fl.StringVar(&opts.ModelImage, "image", "", "the model's image `REPO`, without tag or digest, ending in /MODEL (default registry.example.com/models/MODEL)")
	fl.StringVar(&opts.ServerImage, "server-image", "", "the model server's `IMAGE@sha256:...` (default: the first model's server image in deploy/base)")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

// pipelineEnvironments returns the environments of promote.yaml in dir, in
// pipeline order, or nil when there is no promote.yaml (Check then takes
// every overlay). An environment whose overlay is not
// deploy/overlays/<env> is an error: the overlays commands work on that
// layout.
func pipelineEnvironments(dir string) ([]string, error) {
	file := filepath.Join(dir, "promote.yaml")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathError(err)
	}
	// The parser refuses an overlay other than deploy/overlays/<env>.
	p, err := pipeline.Parse(file, data)
	if err != nil {
		return nil, err
	}
	return p.Names(), nil
}
