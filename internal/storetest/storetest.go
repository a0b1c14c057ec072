// Package storetest is the contract suite that every promote.Store
// implementation passes: call Run from the implementation's tests.
package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// Run runs the contract suite. open returns a new, empty store for the
// test it is given, and closes it when that test ends (t.Cleanup). Each
// subtest opens its own store, and they run in parallel.
func Run(t *testing.T, open func(t *testing.T) promote.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s promote.Store)
	}{
		{"Errors", testErrors},
		{"Models", testModels},
		{"Versions", testVersions},
		{"VersionPages", testVersionPages},
		{"ModelPages", testModelPages},
		{"ListPages", testListPages},
		{"Promotions", testPromotions},
		{"PromotionFilters", testPromotionFilters},
		{"OneActivePromotion", testOneActivePromotion},
		{"Approvals", testApprovals},
		{"Live", testLive},
		{"LiveCommit", testLiveCommit},
		{"LiveCommitError", testLiveCommitError},
		{"LiveChanges", testLiveChanges},
		{"PipelineCounts", testPipelineCounts},
		{"Rollouts", testRollouts},
		{"RolloutSamples", testRolloutSamples},
		{"Holds", testHolds},
		{"HoldCells", testHoldCells},
		{"Limits", testLimits},
		{"AuditChain", testAuditChain},
		{"AuditScan", testAuditScan},
		{"AuditEvents", testAuditEvents},
		{"Tokens", testTokens},
		{"Leases", testLeaseContract},
		{"Webhooks", testWebhooks},
		{"Sessions", testSessions},
		{"Rollback", testRollback},
		{"View", testView},
		{"Context", testContext},
		{"ConcurrentPromotions", func(t *testing.T, s promote.Store) { racePromotions(t, []promote.Store{s}) }},
		{"ConcurrentAudit", func(t *testing.T, s promote.Store) { raceAudit(t, []promote.Store{s}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

// RunShared runs the part of the contract that needs two stores on one
// database, as two processes or replicas have: open returns two stores on
// a new, empty database, closed when t ends. Appends from both make one
// chain, races for a promotion slot have one winner across them, and what
// one commits the other reads.
func RunShared(t *testing.T, open func(t *testing.T) (promote.Store, promote.Store)) {
	tests := []struct {
		name string
		run  func(t *testing.T, stores []promote.Store)
	}{
		{"ConcurrentPromotions", racePromotions},
		{"ConcurrentAudit", raceAudit},
		{"Visibility", testVisibility},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := open(t)
			tt.run(t, []promote.Store{a, b})
		})
	}
}

// testVisibility checks that what one store commits, the other reads.
func testVisibility(t *testing.T, stores []promote.Store) {
	seed(t, stores[0])
	update(t, stores[1], func(tx promote.Tx) error {
		_, err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "prod", 0))
		return err
	})
	view(t, stores[0], func(tx promote.Tx) error {
		_, err := tx.Promotion("p1")
		return err
	})
}

// t0 is the suite's clock: nanoseconds included, to check they survive.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// at returns t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// update runs fn in s.Update and fails the test on an error.
func update(t *testing.T, s promote.Store, fn func(tx promote.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in s.View and fails the test on an error.
func view(t *testing.T, s promote.Store, fn func(tx promote.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// check returns an error naming what when err is not nil, for use in fn.
func check(what string, err error) error {
	if err != nil {
		return errors.New(what + ": " + err.Error())
	}
	return nil
}

// wantError fails the test unless err has the code and its message holds
// every one of msgs.
func wantError(t *testing.T, what string, err error, code promote.Code, msgs ...string) {
	t.Helper()
	if got := promote.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
		return
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q, want it to mention %s", what, err, m)
		}
	}
}

// model returns a model named name, created at t0.
func model(name string) promote.Model {
	return promote.Model{Name: name, Description: "the " + name + " model", CreatedBy: "alice", CreatedAt: t0}
}

// version returns a version with every field set, created n minutes
// after t0.
func version(model, v string, n int) promote.Version {
	return promote.Version{
		Model:       model,
		Version:     v,
		ArtifactURI: "s3://models/" + model + "/" + v + "/model.bin",
		Digest:      "sha256:" + strings.Repeat("ab", 32),
		Size:        1 << 20,
		Signatures:  []promote.Signature{{Signature: "MEUCIQ==", Verified: true, KeyID: "cosign.pub"}},
		Metrics:     map[string]float64{"accuracy": 0.91, "latency_p95_ms": 140},
		Checks:      map[string]bool{"tests_passed": true},
		Groups:      map[string]map[string]float64{"female": {"tpr": 0.82, "count": 1200}},
		Lineage:     promote.Lineage{DatasetDigest: "sha256:00", CodeCommit: "abc123", TrainingRun: "run-7"},
		CreatedBy:   "ci",
		CreatedAt:   at(n),
	}
}

// promotion returns a requested promotion of model's v to env.
func promotion(id, model, v, env string, n int) promote.Promotion {
	return promote.Promotion{
		ID: id, Model: model, Version: v, Environment: env,
		Digest: "sha256:" + strings.Repeat("ab", 32), State: promote.StateRequested,
		RequestedBy: "bob", RequestedAt: at(n), UpdatedAt: at(n),
	}
}

// seed stores models fraud (versions 1.0 and 1.1) and churn (1.0).
func seed(t *testing.T, s promote.Store) {
	t.Helper()
	update(t, s, func(tx promote.Tx) error {
		for _, m := range []string{"fraud", "churn"} {
			if _, err := tx.CreateModel(model(m)); err != nil {
				return err
			}
		}
		for _, v := range []promote.Version{version("fraud", "1.0", 1), version("fraud", "1.1", 2), version("churn", "1.0", 3)} {
			if err := check(v.Model+" "+v.Version, tx.CreateVersion(v)); err != nil {
				return err
			}
		}
		return nil
	})
}
