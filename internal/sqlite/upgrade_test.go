package sqlite_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// schema0010 is a data directory's database written by promote serve at
// schema 0010 (the main branch at 870b2db), with GitOps, the local agent
// and webhooks on; testdata/README.md says how it was made. It holds a
// canary rollout and a shadow rollout left running mid-step with their
// analysis state, a rollback, holds (one set by the rollout, one by a
// person), approvals, a webhook cursor and 142 audit events.
const schema0010 = "testdata/schema-0010.db.gz"

// The fixture's audit head, as promote audit verify printed it before the
// upgrade.
const (
	fixtureHeadSeq  = 142
	fixtureHeadHash = "8decbf0be131154b97632ffe6b1b4d74ce3b247aaad1796f18b08808c8c3ac14"
)

// fixtureDir writes the database of the gzipped fixture at path into a new
// data directory and returns the directory.
func fixtureDir(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sqlite.FileName), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestUpgradeFromSchema0010 opens a database an earlier Promote wrote, as
// the new binary does on an upgrade in place: the missing migrations
// apply, the audit chain still verifies to the same head, and the old
// records read back as they were stored, the running rollouts' analysis
// state byte for byte (the controller resumes from it).
func TestUpgradeFromSchema0010(t *testing.T) {
	dir := fixtureDir(t, schema0010)

	// What the old version stored, read before the upgrade.
	r := raw(t, dir)
	stored := map[string][]byte{}
	rows, err := r.Query("SELECT promotion_id, analysis_state FROM rollouts WHERE state = 'running'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var state []byte
		if err := rows.Scan(&id, &state); err != nil {
			t.Fatal(err)
		}
		stored[id] = state
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("the fixture has %d running rollouts, want 2", len(stored))
	}
	// Migration 0024 numbers the models in the order of their registration.
	var registered []string // oldest first
	rows, err = r.Query("SELECT name FROM models ORDER BY created_at, name")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		registered = append(registered, name)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(registered) == 0 {
		t.Fatal("the fixture has no model")
	}
	r.Close()

	db := open(t, dir)

	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	r = raw(t, dir)
	var applied int
	if err := r.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("schema_migrations has %d rows after the upgrade, want %d", applied, len(files))
	}

	res, err := audit.Verify(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.HeadSeq != fixtureHeadSeq || res.HeadHash != fixtureHeadHash {
		t.Fatalf("audit.Verify after the upgrade = %+v, want OK with head %d %s", res, fixtureHeadSeq, fixtureHeadHash)
	}

	if err := db.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "after-upgrade", CreatedBy: "ci", CreatedAt: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(t.Context(), func(tx promote.Tx) error {
		ms, err := tx.Models(promote.ModelFilter{})
		if err != nil {
			return err
		}
		var names []string
		var seqs []int64
		for _, m := range ms {
			names, seqs = append(names, m.Name), append(seqs, m.Seq)
		}
		wantModels := []string{"after-upgrade"}
		for i := len(registered) - 1; i >= 0; i-- {
			wantModels = append(wantModels, registered[i]) // newest first
		}
		if diff := cmp.Diff(wantModels, names); diff != "" {
			t.Errorf("Models() after the upgrade, want the stored ones by registration time and the new one first (-want +got):\n%s", diff)
		}
		if seqs[0] != int64(len(registered)+1) || seqs[len(seqs)-1] != 1 {
			t.Errorf("Models() seqs = %v, want 1 to %d", seqs, len(registered)+1)
		}
		ps, err := tx.Promotions(promote.PromotionFilter{})
		if err != nil {
			return err
		}
		states := map[promote.State]int{}
		for _, p := range ps {
			states[p.State]++
		}
		want := map[promote.State]int{
			promote.StateSucceeded: 11, promote.StateRollingOut: 2, promote.StateRolledBack: 1, promote.StateBlocked: 1,
		}
		if diff := cmp.Diff(want, states); diff != "" {
			t.Errorf("Promotions() by state (-want +got):\n%s", diff)
		}

		// The stored promotions, rollouts and holds have their keys as
		// cursors: by pages of one, back and forth, they list as the
		// whole list does.
		seq := func(p promote.Promotion) int64 { return p.Seq }
		back := storetest.Walk(t, "Promotions", 0, 1, seq, func(before, after int64) ([]promote.Promotion, error) {
			return tx.Promotions(promote.PromotionFilter{BeforeSeq: before, AfterSeq: after, Limit: 1})
		})
		if diff := cmp.Diff(ps, back); diff != "" {
			t.Errorf("Promotions() by pages of 1 (-whole list +pages):\n%s", diff)
		}
		if len(ps) > 1 {
			forth := storetest.Walk(t, "Promotions", ps[len(ps)-1].Seq, 1, seq, func(before, after int64) ([]promote.Promotion, error) {
				return tx.Promotions(promote.PromotionFilter{BeforeSeq: before, AfterSeq: after, Limit: 1})
			})
			if diff := cmp.Diff(ps[:len(ps)-1], forth); diff != "" {
				t.Errorf("Promotions() forth by pages of 1 (-whole list +pages):\n%s", diff)
			}
		}
		allRollouts, err := tx.Rollouts(promote.RolloutFilter{})
		if err != nil {
			return err
		}
		rolloutPages := storetest.Walk(t, "Rollouts", 0, 1, func(r promote.Rollout) int64 { return r.Seq }, func(before, after int64) ([]promote.Rollout, error) {
			return tx.Rollouts(promote.RolloutFilter{BeforeSeq: before, AfterSeq: after, Limit: 1})
		})
		if len(allRollouts) < 2 || !cmp.Equal(allRollouts, rolloutPages) {
			t.Errorf("Rollouts() by pages of 1 = %d rollouts, want the %d of the whole list, in its order", len(rolloutPages), len(allRollouts))
		}
		allHolds, err := tx.Holds(promote.HoldFilter{IncludeCleared: true})
		if err != nil {
			return err
		}
		holdPages := storetest.Walk(t, "Holds", 0, 1, func(h promote.Hold) int64 { return h.ID }, func(before, after int64) ([]promote.Hold, error) {
			return tx.Holds(promote.HoldFilter{IncludeCleared: true, BeforeSeq: before, AfterSeq: after, Limit: 1})
		})
		if diff := cmp.Diff(allHolds, holdPages); len(allHolds) < 2 || diff != "" {
			t.Errorf("Holds() by pages of 1 (-whole list +pages), of %d holds:\n%s", len(allHolds), diff)
		}

		live, err := tx.Live("credit-risk")
		if err != nil {
			return err
		}
		gotLive := map[string]string{}
		for env, l := range live {
			gotLive[env] = l.Version + " " + l.Commit
			if l.CommitError != nil {
				t.Errorf("Live(credit-risk)[%s].CommitError = %+v, want none", env, l.CommitError)
			}
		}
		wantLive := map[string]string{
			"dev":     "5 246cff35e3994087a6c2c5ccec14efb0b07439b2",
			"staging": "5 9cbc66d7eb44b3ad278a910980d902a3fcfd0258",
			"prod":    "4 83046d7b4ea5ce936c2ce8d00b8d367e0bc51010",
		}
		if diff := cmp.Diff(wantLive, gotLive); diff != "" {
			t.Errorf("Live(credit-risk) (-want +got):\n%s", diff)
		}

		holds, err := tx.Holds(promote.HoldFilter{})
		if err != nil {
			return err
		}
		var gotHolds []string
		for _, h := range holds {
			gotHolds = append(gotHolds, h.Version+" "+h.Environment+" "+h.SetBy)
		}
		if diff := cmp.Diff([]string{"1 staging admin", "3 prod rollout"}, gotHolds); diff != "" {
			t.Errorf("Holds() (-want +got):\n%s", diff)
		}

		running, err := tx.Rollouts(promote.RolloutFilter{ActiveOnly: true})
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, ro := range running {
			got[ro.PromotionID] = ro.Strategy + " " + string(ro.State)
			if !bytes.Equal(ro.AnalysisState, stored[ro.PromotionID]) {
				t.Errorf("Rollout(%s).AnalysisState changed in the upgrade:\n got %s\nwant %s", ro.PromotionID, ro.AnalysisState, stored[ro.PromotionID])
			}
			// Stored before the step's requests were: the step counts
			// on from 0, its needs unknown until the controller judges.
			if ro.StepRequests != 0 || ro.StepNeeds != nil {
				t.Errorf("Rollout(%s) after the upgrade: step requests %g, needs %+v; want 0 and none", ro.PromotionID, ro.StepRequests, ro.StepNeeds)
			}
		}
		wantRunning := map[string]string{
			"pr_4e44e878ef8e4413": "canary running",
			"pr_c8b5f2067045ab49": "shadow running",
		}
		if diff := cmp.Diff(wantRunning, got); diff != "" {
			t.Errorf("running rollouts (-want +got):\n%s", diff)
		}

		c, err := tx.WebhookCursor("ops")
		if err != nil {
			return err
		}
		if c.Seq != fixtureHeadSeq {
			t.Errorf("WebhookCursor(ops).Seq = %d, want %d", c.Seq, fixtureHeadSeq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The migrated store takes the new version's writes: a verdict beside
	// the stored state, a commit error on a new change, an audit event
	// chained to the old head.
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	if err := db.Update(t.Context(), func(tx promote.Tx) error {
		id := "pr_4e44e878ef8e4413"
		if err := tx.SaveRolloutAnalysis(id, stored[id], json.RawMessage(`{"decision":"continue"}`)); err != nil {
			return err
		}
		if err := tx.SaveRolloutStep(id, 6, &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300}); err != nil {
			return err
		}
		if err := tx.SetLive(promote.Live{Model: "credit-risk", Environment: "dev", Version: "4", PromotionID: "pr_upgrade_test",
			SetBy: "ci", SetAt: now, Reason: "after the upgrade"}); err != nil {
			return err
		}
		if err := tx.SetLiveCommitError("credit-risk", "dev", "pr_upgrade_test", "push refused", now); err != nil {
			return err
		}
		_, err := tx.AppendAudit(promote.AuditEvent{Time: now, Actor: "ci", Action: "test.upgrade", Model: "credit-risk"})
		return err
	}); err != nil {
		t.Fatalf("write after the upgrade: %v", err)
	}
	res, err = audit.Verify(t.Context(), db)
	if err != nil || !res.OK || res.HeadSeq != fixtureHeadSeq+1 {
		t.Fatalf("audit.Verify after a write = %+v, %v, want OK with head %d", res, err, fixtureHeadSeq+1)
	}
	if err := db.View(t.Context(), func(tx promote.Tx) error {
		live, err := tx.Live("credit-risk")
		if err != nil {
			return err
		}
		if ce := live["dev"].CommitError; ce == nil || ce.Message != "push refused" || !ce.Since.Equal(now) {
			t.Errorf("Live(credit-risk)[dev].CommitError = %+v, want push refused since %v", ce, now)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
