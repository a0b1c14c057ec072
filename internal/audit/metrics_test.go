package audit_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
)

// TestChainMetrics checks the verification's metrics as /metrics exports
// them: both from the start, the time of the last verification that found
// the chain whole, and a count of those that found it broken; a nil
// *ChainMetrics records nothing.
func TestChainMetrics(t *testing.T) {
	reg := telemetry.NewRegistry()
	m, err := audit.NewChainMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	const (
		verifiedHelp = "When this replica's verification of the audit chain (in full at start and every interval, and of the events appended since on each view of the web UI's audit page) last found it whole, in seconds since the Unix epoch; 0 until then."
		failuresHelp = "The verifications of the audit chain by this replica that found it broken: once a break is found, each full verification that still finds it counts again."
	)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	help := map[string]string{}
	for _, mf := range families {
		help[mf.GetName()] = mf.GetHelp()
	}
	if diff := cmp.Diff(map[string]string{
		// The names the alerts read (deploy/prometheus/promote-rules.yaml).
		"promote_audit_chain_verified_timestamp_seconds":  verifiedHelp,
		"promote_audit_chain_verification_failures_total": failuresHelp,
	}, help); diff != "" {
		t.Errorf("the families and their help (-want +got):\n%s", diff)
	}
	check := func(when string, verified, failures float64) {
		t.Helper()
		got := []map[string]float64{testtool.Samples(t, reg, audit.MetricChainVerified), testtool.Samples(t, reg, audit.MetricChainFailures)}
		if diff := cmp.Diff([]map[string]float64{{"": verified}, {"": failures}}, got); diff != "" {
			t.Errorf("%s: %s and %s (-want +got):\n%s", when, audit.MetricChainVerified, audit.MetricChainFailures, diff)
		}
	}
	check("before any verification", 0, 0)
	at := time.Date(2026, 12, 1, 9, 0, 0, 500_000_000, time.UTC)
	m.Record(true, at)
	check("after a verification found the chain whole", 1796115600.5, 0)
	m.Record(false, at.Add(time.Hour))
	m.Record(false, at.Add(2*time.Hour))
	check("after two found it broken", 1796115600.5, 2)
	var none *audit.ChainMetrics
	none.Record(true, at.Add(3*time.Hour))
	none.Record(false, at.Add(3*time.Hour))
	check("after a nil ChainMetrics recorded", 1796115600.5, 2)
}
