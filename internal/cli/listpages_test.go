package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/promote"
)

// TestListPagesAgainstServe: promote models list, promotions list, holds
// list and rollout list page with --limit, --before and --after against a real
// server: the table's first column is the cursor (SEQ; a hold's ID), the
// SEQ of a page's last row gives the next page, and following it back,
// or forth from the oldest, lists every row once, newest first.
func TestListPagesAgainstServe(t *testing.T) {
	_, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	// Written into the store before the server starts: 25 promotions of
	// credit-risk, each with a rollout and a hold, and some of another
	// model in between, which --model leaves out.
	const total = 25
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var want []string                          // oldest first
	models := []string{"churn", "credit-risk"} // newest first
	db, err := sqlite.Open(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(t.Context(), func(tx promote.Tx) error {
		for _, m := range []string{"credit-risk", "churn"} {
			if _, err := tx.CreateModel(promote.Model{Name: m, CreatedBy: "ci", CreatedAt: at}); err != nil {
				return err
			}
			if err := tx.CreateVersion(promote.Version{Model: m, Version: "1", ArtifactURI: "file:///model.bin", Digest: "sha256:" + strings.Repeat("ab", 32),
				Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: at}); err != nil {
				return err
			}
		}
		for i := range total + total/3 {
			m := "credit-risk"
			if i%4 == 3 {
				m = "churn"
			}
			id := fmt.Sprintf("pr_%016d", i)
			if _, err := tx.CreatePromotion(promote.Promotion{ID: id, Model: m, Version: "1", Environment: "dev", Digest: "sha256:" + strings.Repeat("ab", 32),
				State: promote.StateSucceeded, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
			if err := tx.SaveRollout(promote.Rollout{PromotionID: id, Model: m, Version: "1", Environment: "dev", Stable: "0", Strategy: "canary",
				State: promote.RolloutSucceeded, Weight: 1, StartedAt: at, StepStartedAt: at, UpdatedAt: at}); err != nil {
				return err
			}
			if _, err := tx.AddHold(promote.Hold{Model: m, Version: "1", Environment: "dev", Reason: id, SetBy: "ci", SetAt: at}); err != nil {
				return err
			}
			if m == "credit-risk" {
				want = append(want, id)
			}
		}
		for i := range total {
			m := fmt.Sprintf("model-%02d", i)
			if _, err := tx.CreateModel(promote.Model{Name: m, CreatedBy: "ci", CreatedAt: at}); err != nil {
				return err
			}
			models = append([]string{m}, models...)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want) // newest first

	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile)
	_, must := clientOf(t, server)
	for _, l := range []struct {
		name   string
		args   []string
		header string
		key    func(row map[string]any) string
		seq    string // the JSON field of the cursor
		want   []string
	}{
		{"promotions", []string{"promotions", "list", "--model", "credit-risk"}, "SEQ ", func(r map[string]any) string { return r["id"].(string) }, "seq", want},
		{"rollouts", []string{"rollout", "list", "--model", "credit-risk"}, "SEQ ", func(r map[string]any) string { return r["promotion_id"].(string) }, "seq", want},
		{"holds", []string{"holds", "list", "--model", "credit-risk"}, "ID ", func(r map[string]any) string { return r["reason"].(string) }, "id", want},
		{"models", []string{"models", "list"}, "SEQ ", func(r map[string]any) string { return r["name"].(string) }, "seq", models},
	} {
		want := l.want
		t.Run(l.name, func(t *testing.T) {
			page := func(args ...string) []map[string]any {
				t.Helper()
				var rows []map[string]any
				out := must(0, ci, append(append(slices.Clone(l.args), "-o", "json"), args...)...)
				if err := json.Unmarshal([]byte(out), &rows); err != nil {
					t.Fatalf("%s %s: %v\n%s", strings.Join(l.args, " "), strings.Join(args, " "), err, out)
				}
				return rows
			}
			cursor := func(r map[string]any) string { return strconv.FormatInt(int64(r[l.seq].(float64)), 10) }

			// The table shows the cursor first.
			all := page()
			if len(all) != len(want) {
				t.Fatalf("%s = %d rows, want %d", strings.Join(l.args, " "), len(all), len(want))
			}
			table := strings.Split(strings.TrimSpace(must(0, ci, append(slices.Clone(l.args), "--limit", "2")...)), "\n")
			if len(table) != 3 || !strings.HasPrefix(table[0], l.header) || !strings.HasPrefix(table[1], cursor(all[0])+" ") ||
				!strings.HasPrefix(table[2], cursor(all[1])+" ") {
				t.Errorf("%s --limit 2 =\n%s\nwant the header, starting %q, and the two newest rows, each after its cursor", strings.Join(l.args, " "),
					strings.Join(table, "\n"), l.header)
			}

			var back []string
			for before := ""; ; {
				args := []string{"--limit", "7"}
				if before != "" {
					args = append(args, "--before", before)
				}
				rows := page(args...)
				if len(rows) == 0 {
					break
				}
				for _, r := range rows {
					back = append(back, l.key(r))
				}
				before = cursor(rows[len(rows)-1])
			}
			if !slices.Equal(want, back) {
				t.Errorf("%s paged back by 7 = %q, want %q", l.name, back, want)
			}
			var forth []string
			for after := cursor(all[len(all)-1]); ; {
				rows := page("--limit", "7", "--after", after)
				if len(rows) == 0 {
					break
				}
				var keys []string
				for _, r := range rows {
					keys = append(keys, l.key(r))
				}
				forth = append(keys, forth...)
				after = cursor(rows[0])
			}
			if !slices.Equal(want[:len(want)-1], forth) {
				t.Errorf("%s paged forth by 7 = %q, want %q", l.name, forth, want[:len(want)-1])
			}
		})
	}
}
