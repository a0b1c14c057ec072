package webui

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// TestChainMetrics checks the metrics of the audit chain's verification
// on a real store: exported from the start, the time of the last
// verification that found the chain whole, full or of the events
// appended since, and a count of those that found it broken, which a full
// verification that still finds the break adds to.
func TestChainMetrics(t *testing.T) {
	ctx := context.Background()
	reg := telemetry.NewRegistry()
	clock := time.Date(2026, 12, 1, 9, 0, 0, 500_000_000, time.UTC)
	const start = 1796115600.5 // clock, in seconds since the Unix epoch
	f := newFixture(t, func(o *Options) {
		o.Metrics = reg
		o.Now = func() time.Time { return clock }
	})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range families {
		names = append(names, mf.GetName())
	}
	for _, name := range []string{audit.MetricChainVerified, audit.MetricChainFailures} {
		if !slices.Contains(names, name) {
			t.Errorf("before any verification, /metrics has %v, want %s among them", names, name)
		}
	}
	c := f.ui.chain
	check := func(when string, verified, failures float64) {
		t.Helper()
		if v, n := testtool.Samples(t, reg, audit.MetricChainVerified)[""], testtool.Samples(t, reg, audit.MetricChainFailures)[""]; v != verified || n != failures {
			t.Errorf("%s: %s = %v, %s = %v; want %v, %v", when, audit.MetricChainVerified, v, audit.MetricChainFailures, n, verified, failures)
		}
	}
	check("before any verification", 0, 0)

	if err := c.Full(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a full verification", start, 0)

	clock = clock.Add(time.Minute)
	err = f.env.Store.Update(ctx, func(tx promote.Tx) error {
		_, err := tx.AppendAudit(promote.AuditEvent{Time: clock, Actor: "alice", Action: promote.ActionHoldSet, Model: "m"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(ctx); st.Broken != nil {
		t.Fatalf("status = %+v, want whole", st.Broken)
	}
	check("after the events appended since were verified", start+60, 0)

	if _, err := f.rawDB().ExecContext(ctx, `UPDATE audit_events SET body = replace(body, '"seq":', '"seq": ') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	if err := c.Full(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a full verification found a break", start+60, 1)
	c.Status(ctx) // the break stands: nothing verified, nothing counted
	if err := c.Full(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a second full verification found it still", start+60, 2)
}
