package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/textfit"
)

type driftFlags struct {
	reference, current string
	bins               int
	features           []string
	out                string
	output             string
}

// driftFormats are the values --output accepts.
var driftFormats = []string{"text", "json"}

func newDriftCmd(s *streams) *cobra.Command {
	var f driftFlags
	cmd := &cobra.Command{
		Use:   "drift --reference FILE --current FILE",
		Short: "Measure data drift between a reference sample and a current one (PSI, KS, JS)",
		Long: `Compare the features of a current sample (recent production inputs) with a reference
sample (the training data), feature by feature:

  PSI   population stability index on the reference's quantile bins
  KS    two-sample Kolmogorov-Smirnov statistic D and its p-value (numeric features)
  JS    Jensen-Shannon distance (base 2, between 0 and 1) on the same bins

Samples are CSV (a header row, one column per feature), TSV or JSON (an object of
columns or an array of records). A column is numeric when every non-empty cell is a
number, categorical otherwise; empty cells are missing values and are skipped.

The JSON report (--out or --output json) is also a metrics file: its "metrics" object
holds drift_psi_max, drift_ks_max, drift_ks_pvalue_min, drift_js_max and the same
figures per feature (drift_psi_<feature>, ...), which a policy can test, e.g.
drift_psi_max: "<= 0.2". Pass it to 'promote gate --drift'. See docs/drift.md.

Exit codes: 0 success, 2 bad input or usage.`,
		Example: `  # A table of drift per feature, and the report for the gate
  promote drift --reference train.csv --current last-week.csv --out drift.json
  promote gate --policy policy.yaml --candidate metrics.json --drift drift.json

  # Two features, 20 bins, JSON on stdout
  promote drift --reference train.csv --current today.json --features age,income \
    --bins 20 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDrift(s, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.reference, "reference", "", "reference sample `FILE` (CSV, TSV or JSON), e.g. the training data")
	fl.StringVar(&f.current, "current", "", "current sample `FILE` (CSV, TSV or JSON), e.g. recent production inputs")
	fl.IntVar(&f.bins, "bins", policy.DefaultDriftBins, "number of quantile bins for numeric features (at least 2)")
	fl.StringSliceVar(&f.features, "features", nil, "compare only these features, comma-separated (default: all, which both samples must have)")
	fl.StringVar(&f.out, "out", "", "also write the JSON report to `FILE`")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: "+strings.Join(driftFormats, ", "))
	_ = cmd.MarkFlagRequired("reference")
	_ = cmd.MarkFlagRequired("current")
	for _, name := range []string{"reference", "current", "out"} {
		_ = cmd.MarkFlagFilename(name)
	}
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(driftFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runDrift(s *streams, f *driftFlags) error {
	if !slices.Contains(driftFormats, f.output) {
		return usageErrorf("--output %q: want one of %s", f.output, strings.Join(driftFormats, ", "))
	}
	if f.bins < 2 {
		return usageErrorf("--bins %d: want at least 2", f.bins)
	}
	var features []string
	for _, name := range f.features {
		if name = strings.TrimSpace(name); name != "" {
			features = append(features, name)
		}
	}
	ref, err := driftLoadSamples(f.reference, "reference")
	if err != nil {
		return usageError(err)
	}
	cur, err := driftLoadSamples(f.current, "current")
	if err != nil {
		return usageError(err)
	}
	rep, err := policy.Drift(ref, cur, policy.DriftOptions{Bins: f.bins, Features: features})
	if err != nil {
		return usageError(err)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode drift report: %w", err)
	}
	data = append(data, '\n')
	if f.out != "" {
		if err := os.WriteFile(f.out, data, 0o644); err != nil {
			return usageError(fmt.Errorf("--out: %w", driftPathError(err)))
		}
	}
	if f.output == "json" {
		_, err := s.out.Write(data)
		return err
	}
	if err := writeDriftTable(s.out, outputWidth(s.out), rep); err != nil {
		return err
	}
	if f.out != "" {
		_, err := fmt.Fprintf(s.out, "Report written to %s\n", f.out)
		return err
	}
	return nil
}

// driftLoadSamples reads and parses the sample file named by --reference or
// --current.
func driftLoadSamples(path, what string) (policy.Samples, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return policy.Samples{}, fmt.Errorf("%s: %w", what, driftPathError(err))
	}
	return policy.ParseSamples(path, data)
}

// driftPathError keeps the path and the reason of an *os.PathError without
// the operation's name.
func driftPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// writeDriftTable prints one row per feature, sorted by name, and a summary.
// In a terminal of width columns (0: a file or a pipe), the table and the
// summary fit it, as the client commands' tables do (textfit); feature
// names, which come from the samples, are shown as escapes (printable).
func writeDriftTable(w io.Writer, width int, rep policy.DriftReport) error {
	names := make([]string, 0, len(rep.Drift.Features))
	for name := range rep.Drift.Features {
		names = append(names, name)
	}
	slices.Sort(names)
	w = printable{w}
	tw := &table{W: w, Width: width}
	fmt.Fprintln(tw, "FEATURE\tTYPE\tPSI\tKS D\tKS P\tJS")
	var numeric int
	var psiAt, ksAt, pAt, jsAt string
	for _, name := range names {
		fd := rep.Drift.Features[name]
		ksD, ksP := "-", "-"
		if fd.KSStatistic != nil && fd.KSPValue != nil {
			numeric++
			ksD, ksP = fmt.Sprintf("%.4f", *fd.KSStatistic), fmt.Sprintf("%.3g", *fd.KSPValue)
			if ksAt == "" || *fd.KSStatistic > *rep.Drift.Features[ksAt].KSStatistic {
				ksAt = name
			}
			if pAt == "" || *fd.KSPValue < *rep.Drift.Features[pAt].KSPValue {
				pAt = name
			}
		}
		if psiAt == "" || fd.PSI > rep.Drift.Features[psiAt].PSI {
			psiAt = name
		}
		if jsAt == "" || fd.JSDistance > rep.Drift.Features[jsAt].JSDistance {
			jsAt = name
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t%s\t%.4f\n", name, fd.Type, fd.PSI, ksD, ksP, fd.JSDistance)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d %s (%d numeric, %d categorical): max PSI %.4f (%s)",
		len(names), plural(len(names), "feature", "features"), numeric, len(names)-numeric,
		rep.Metrics[policy.MetricDriftPSIMax], psiAt)
	if numeric > 0 {
		summary += fmt.Sprintf(", max KS D %.4f (%s), min KS p %.3g (%s)",
			rep.Metrics[policy.MetricDriftKSMax], ksAt, rep.Metrics[policy.MetricDriftKSPValueMin], pAt)
	}
	summary += fmt.Sprintf(", max JS %.4f (%s)", rep.Metrics[policy.MetricDriftJSMax], jsAt)
	summary += fmt.Sprintf("; %s against %s", rep.Drift.Current, rep.Drift.Reference)
	if width > 0 {
		summary = strings.TrimSuffix(textfit.Hanging("", summary, width), "\n")
	}
	_, err := fmt.Fprintf(w, "\n%s\n", summary)
	return err
}

// plural returns one when n is 1, else many.
func plural[N int | int64](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
