package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/report"
	"github.com/promote-ml/promote/internal/signature"
)

// maxInputFile bounds what the gate reads from one policy or metrics file,
// so a wrong path (a model, a log) fails fast with a clear error.
const maxInputFile = 16 << 20

type gateFlags struct {
	policy, candidate, baseline, env string
	approvedBy                       []string
	requestedBy                      string
	artifact, sig, bundle, key       string
	drift                            []string
	output                           string
	junitFile                        string
}

func newGateCmd(s *streams) *cobra.Command {
	var f gateFlags
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Evaluate a candidate against a baseline under a policy (exit 0 allowed, 1 blocked, 2 bad input)",
		Long: `Evaluate a candidate model version's evidence (metrics.json) against the baseline's
under a policy file, locally, with no server: the CI entry point.

The policy is either the minimal format (gate.require, gate.metrics, gate.approvals) or
the versioned promote.dev/v1 format with per-environment sections; see docs/policy.md.
artifact_signed holds only when --artifact, --signature (or --bundle) and --key verify;
a claim in metrics.json is never taken for it.

Exit codes: 0 allowed, 1 blocked, 2 bad input or usage.`,
		Example: `  # The seed's minimal gate, with a verified signature and one approval
  promote gate --policy policy.yaml --candidate metrics.json --baseline baseline.json \
    --artifact model.bin --signature model.bin.sig --key cosign.pub \
    --approved-by alice --requested-by bob

  # The prod section of a versioned policy, JSON for scripts
  promote gate --policy policy.yaml --env prod --candidate metrics.json \
    --baseline prod-metrics.json --output json

  # JUnit XML for a CI test report, a drift report merged into the candidate
  promote gate --policy policy.yaml --candidate metrics.json --drift drift.json --output junit > gate.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGate(s, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "policy", "", "policy file (YAML) `FILE`")
	fl.StringVar(&f.candidate, "candidate", "", "the candidate's metrics `FILE` (JSON or YAML)")
	fl.StringVar(&f.baseline, "baseline", "", "the baseline's metrics `FILE`: the version live in the target environment")
	fl.StringVar(&f.env, "env", "", "target environment `NAME` (selects the policy's environment section)")
	fl.StringSliceVar(&f.approvedBy, "approved-by", nil, "approvers, comma-separated; NAME:ROLE gives a role (e.g. alice:ml-lead)")
	fl.StringVar(&f.requestedBy, "requested-by", "", "who requested the promotion (may not approve it unless the policy allows)")
	fl.StringVar(&f.artifact, "artifact", "", "the model artifact `FILE` whose signature to verify")
	fl.StringVar(&f.sig, "signature", "", "base64 signature `FILE` over the artifact (cosign sign-blob --output-signature)")
	fl.StringVar(&f.bundle, "bundle", "", "sigstore bundle `FILE` (cosign sign-blob --bundle)")
	fl.StringVar(&f.key, "key", "", "trusted public key `FILE` (PEM, ECDSA P-256)")
	fl.StringArrayVar(&f.drift, "drift", nil, "drift report `FILE` from 'promote drift' to merge into the candidate's metrics (repeatable)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: "+strings.Join(report.Formats, ", "))
	fl.StringVar(&f.junitFile, "junit-file", "", "also write JUnit XML to `FILE`")
	// --policy and --candidate are required, but checked by runGate, not
	// cobra: a missing one is bad input that JSON, JUnit and GitHub
	// readers get in their format too.
	for _, name := range []string{"policy", "candidate", "baseline", "artifact", "signature", "bundle", "key", "drift", "junit-file"} {
		_ = cmd.MarkFlagFilename(name)
	}
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(report.Formats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runGate(s *streams, f *gateFlags) error {
	if !contains(report.Formats, f.output) {
		return usageErrorf("--output %q: want one of %s", f.output, strings.Join(report.Formats, ", "))
	}
	out, err := evaluateGate(f)
	if err != nil {
		// Bad input: machine readers get it in the format they parse, too.
		_ = report.WriteError(s.out, f.output, err)
		if f.junitFile != "" {
			_ = createFile(f.junitFile, func(w io.Writer) error { return report.WriteError(w, "junit", err) })
		}
		return usageError(err)
	}
	// A report that cannot be written is a broken pipeline, not a verdict:
	// exit 2, so that an allowed candidate is never reported as blocked.
	if err := report.Write(s.out, f.output, out, report.Options{Width: outputWidth(s.out)}); err != nil {
		return usageError(fmt.Errorf("write the decision: %w", err))
	}
	if f.junitFile != "" {
		if err := createFile(f.junitFile, func(w io.Writer) error { return report.JUnit(w, out) }); err != nil {
			return usageError(fmt.Errorf("junit file: %w", err))
		}
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); f.output == "github" && path != "" {
		if err := appendFile(path, func(w io.Writer) error { return report.Markdown(w, out) }); err != nil {
			return usageError(fmt.Errorf("job summary: %w", err))
		}
	}
	if !out.Allowed {
		return &exitError{code: ExitBlocked, silent: true}
	}
	return nil
}

// evaluateGate reads every input and evaluates the gate. Any error it
// returns is bad input.
func evaluateGate(f *gateFlags) (report.Gate, error) {
	var missing []string
	for _, fl := range []struct{ name, value string }{{"policy", f.policy}, {"candidate", f.candidate}} {
		if fl.value == "" {
			missing = append(missing, strconv.Quote(fl.name))
		}
	}
	if len(missing) > 0 {
		return report.Gate{}, fmt.Errorf("required flag(s) %s not set", strings.Join(missing, ", "))
	}
	pol, err := loadPolicy(f.policy)
	if err != nil {
		return report.Gate{}, err
	}
	gate, err := pol.Gate(f.env)
	if err != nil {
		return report.Gate{}, err
	}
	in := gateInputs{approvedBy: f.approvedBy, requestedBy: f.requestedBy,
		signature: signatureFiles{artifact: f.artifact, sig: f.sig, bundle: f.bundle, key: f.key}}
	if in.candidate, err = loadEvidence(f.candidate, "candidate"); err != nil {
		return report.Gate{}, err
	}
	if f.baseline != "" {
		if in.baseline, err = loadEvidence(f.baseline, "baseline"); err != nil {
			return report.Gate{}, err
		}
	}
	for _, path := range f.drift {
		ev, err := loadEvidence(path, "drift report")
		if err != nil {
			return report.Gate{}, err
		}
		in.drift = append(in.drift, ev)
	}
	pin, err := in.input()
	if err != nil {
		return report.Gate{}, err
	}
	return report.Gate{Decision: gate.Evaluate(pin), PolicyFile: f.policy, CandidateFile: f.candidate, BaselineFile: f.baseline}, nil
}

// gateInputs are what a gate judges besides its policy, as read: the
// gate's flags and files, or a policy test case. Both make their
// policy.Input with input, so that a policy test judges exactly as the
// gate does.
type gateInputs struct {
	candidate, baseline *policy.Evidence // baseline nil when there is none
	drift               []*policy.Evidence
	approvedBy          []string
	requestedBy         string
	signature           signatureFiles
}

// signatureFiles name an artifact, its signature (or bundle) and the
// trusted key to verify it with; all empty when none is given.
type signatureFiles struct{ artifact, sig, bundle, key string }

// input merges the drift reports into the candidate, reads the approvers
// and verifies the signature. Any error it returns is bad input.
func (g gateInputs) input() (policy.Input, error) {
	in := policy.Input{RequestedBy: strings.TrimSpace(g.requestedBy), Candidate: g.candidate, Baseline: g.baseline}
	for _, ev := range g.drift {
		// promote drift always writes metrics and never groups: a report
		// without the one, or with the other, is not what --drift takes,
		// and merging it would add nothing or drop the groups unread.
		switch {
		case len(ev.Groups) > 0:
			return in, fmt.Errorf("--drift: drift report %s has \"groups\", which a drift report does not carry and the gate would ignore: per-group statistics belong in the candidate's metrics file (--candidate)", ev.File)
		case len(ev.Metrics) == 0:
			return in, fmt.Errorf("--drift: drift report %s has no metrics: want the report 'promote drift --out' writes, whose \"metrics\" hold drift_psi_max and the others", ev.File)
		}
		if err := in.Candidate.Merge(ev); err != nil {
			return in, err
		}
	}
	var err error
	if in.Approvers, err = parseApprovers(g.approvedBy); err != nil {
		return in, err
	}
	if err := verifySignature(g.signature, &in); err != nil {
		return in, err
	}
	return in, nil
}

// createFile creates path and writes what write writes.
func createFile(path string, write func(io.Writer) error) error {
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendFile appends what write writes to the file at path.
func appendFile(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readInput reads a file named by a flag, bounded in size, with errors that
// say which flag's file is wrong.
func readInput(path, what string) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, pathError(err))
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: %s is a directory, not a file", what, path)
	}
	if st.Size() > maxInputFile {
		return nil, fmt.Errorf("%s: %s is %d bytes, more than the %d a %s file may be", what, path, st.Size(), maxInputFile, what)
	}
	buf, err := io.ReadAll(io.LimitReader(file, maxInputFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", what, path, err)
	}
	if len(buf) > maxInputFile {
		return nil, fmt.Errorf("%s: %s is more than the %d bytes a %s file may be", what, path, maxInputFile, what)
	}
	return buf, nil
}

// pathError keeps the path and the reason of an *os.PathError without Go's
// "open" prefix.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

func loadEvidence(path, what string) (*policy.Evidence, error) {
	data, err := readInput(path, what)
	if err != nil {
		return nil, err
	}
	return policy.ParseEvidence(path, data)
}

// parseApprovers reads --approved-by: names, each optionally NAME:ROLE or
// NAME:ROLE+ROLE.
func parseApprovers(list []string) ([]policy.Approver, error) {
	var out []policy.Approver
	for _, item := range list {
		if strings.TrimSpace(item) == "" {
			continue
		}
		a, err := parseApprover(item)
		if err != nil {
			return nil, fmt.Errorf("--approved-by %q: %w", strings.TrimSpace(item), err)
		}
		out = append(out, a)
	}
	return out, nil
}

// parseApprover reads one approver: NAME, NAME:ROLE or NAME:ROLE+ROLE.
func parseApprover(item string) (policy.Approver, error) {
	name, roles, hasRoles := strings.Cut(strings.TrimSpace(item), ":")
	a := policy.Approver{Name: strings.TrimSpace(name)}
	if a.Name == "" {
		return a, errors.New("an approver needs a name")
	}
	if hasRoles {
		for _, r := range strings.Split(roles, "+") {
			if r = strings.TrimSpace(r); r == "" {
				return a, errors.New("empty role")
			}
			a.Roles = append(a.Roles, r)
		}
	}
	return a, nil
}

// verifySignature checks the artifact's signature when one is given and
// records the outcome in the gate's input. Missing pieces and unreadable
// files are usage errors; a signature that does not verify is a result that
// blocks.
func verifySignature(f signatureFiles, in *policy.Input) error {
	if f.artifact == "" && f.sig == "" && f.bundle == "" && f.key == "" {
		return nil
	}
	switch {
	case f.artifact == "":
		return errors.New("--artifact is needed to verify a signature")
	case f.key == "":
		return errors.New("--key is needed to verify a signature (the trusted public key)")
	case f.sig == "" && f.bundle == "":
		return errors.New("--signature or --bundle is needed to verify the artifact")
	case f.sig != "" && f.bundle != "":
		return errors.New("give --signature or --bundle, not both")
	}
	keyPEM, err := readInput(f.key, "key")
	if err != nil {
		return err
	}
	pub, err := signature.ParsePublicKey(keyPEM)
	if err != nil {
		return fmt.Errorf("key %s: %w", f.key, err)
	}
	file, err := os.Open(f.artifact)
	if err != nil {
		return fmt.Errorf("artifact: %w", pathError(err))
	}
	digest, _, err := signature.Digest(file)
	file.Close()
	if err != nil {
		return fmt.Errorf("artifact %s: %w", f.artifact, err)
	}
	in.SignatureChecked = true
	var verr error
	var what string
	if f.sig != "" {
		sig, err := readInput(f.sig, "signature")
		if err != nil {
			return err
		}
		what = "signature " + f.sig
		verr = signature.Verify(pub, digest, sig)
	} else {
		b, err := readInput(f.bundle, "bundle")
		if err != nil {
			return err
		}
		what = "bundle " + f.bundle
		verr = signature.VerifyBundle(pub, digest, b)
	}
	if verr != nil {
		in.SignatureNote = fmt.Sprintf("%s over %s does not verify with key %s: %v", what, f.artifact, f.key, verr)
		return nil
	}
	in.Signed = true
	in.SignatureNote = fmt.Sprintf("%s over %s (sha256:%x) verified with key %s", what, f.artifact, digest, f.key)
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
