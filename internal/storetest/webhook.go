package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// testWebhooks checks the webhook cursors and the delivery log.
func testWebhooks(t *testing.T, s promote.Store) {
	t.Run("Cursors", func(t *testing.T) { testWebhookCursors(t, s) })
	t.Run("Deliveries", func(t *testing.T) { testWebhookDeliveries(t, s) })
	t.Run("Resends", func(t *testing.T) { testWebhookResends(t, s) })
}

func testWebhookCursors(t *testing.T, s promote.Store) {
	cursor := func(endpoint string, seq int64, n int) promote.WebhookCursor {
		return promote.WebhookCursor{Endpoint: endpoint, Seq: seq, UpdatedAt: at(n)}
	}
	stored := func(endpoint string) (promote.WebhookCursor, error) {
		var c promote.WebhookCursor
		err := s.View(t.Context(), func(tx promote.Tx) (err error) {
			c, err = tx.WebhookCursor(endpoint)
			return err
		})
		return c, err
	}
	_, err := stored("ops")
	wantError(t, "WebhookCursor(ops) before any", err, promote.NotFound, "ops")

	steps := []struct {
		name string
		op   func(tx promote.Tx) (promote.WebhookCursor, error)
		want promote.WebhookCursor
	}{
		{"start creates", func(tx promote.Tx) (promote.WebhookCursor, error) { return tx.StartWebhookCursor(cursor("ops", 5, 1)) }, cursor("ops", 5, 1)},
		{"start again keeps the stored one", func(tx promote.Tx) (promote.WebhookCursor, error) { return tx.StartWebhookCursor(cursor("ops", 9, 2)) }, cursor("ops", 5, 1)},
		{"advance moves forward", func(tx promote.Tx) (promote.WebhookCursor, error) {
			return tx.AdvanceWebhookCursor(cursor("ops", 8, 3))
		}, cursor("ops", 8, 3)},
		{"advance never moves back", func(tx promote.Tx) (promote.WebhookCursor, error) {
			return tx.AdvanceWebhookCursor(cursor("ops", 6, 4))
		}, cursor("ops", 8, 3)},
		{"advance to the same seq changes nothing", func(tx promote.Tx) (promote.WebhookCursor, error) {
			return tx.AdvanceWebhookCursor(cursor("ops", 8, 5))
		}, cursor("ops", 8, 3)},
		{"advance creates", func(tx promote.Tx) (promote.WebhookCursor, error) {
			return tx.AdvanceWebhookCursor(cursor("chat", 2, 6))
		}, cursor("chat", 2, 6)},
	}
	for _, st := range steps {
		var got promote.WebhookCursor
		update(t, s, func(tx promote.Tx) (err error) {
			got, err = st.op(tx)
			return err
		})
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("%s: returned cursor (-want +got):\n%s", st.name, diff)
		}
		if now, err := stored(st.want.Endpoint); err != nil || !cmp.Equal(st.want, now) {
			t.Errorf("%s: WebhookCursor(%q) = %+v, %v; want %+v", st.name, st.want.Endpoint, now, err, st.want)
		}
	}

	// A cursor written in a transaction that fails is not kept.
	boom := fmt.Errorf("boom")
	if err := s.Update(t.Context(), func(tx promote.Tx) error {
		if _, err := tx.AdvanceWebhookCursor(cursor("ops", 20, 7)); err != nil {
			return err
		}
		return boom
	}); err != boom {
		t.Errorf("Update() = %v, want the function's error", err)
	}
	if now, _ := stored("ops"); now.Seq != 8 {
		t.Errorf("after a rolled-back advance, seq = %d, want 8", now.Seq)
	}

	for _, bad := range []promote.WebhookCursor{cursor("", 1, 1), cursor("ops", -1, 1)} {
		err := s.Update(t.Context(), func(tx promote.Tx) error {
			_, err := tx.AdvanceWebhookCursor(bad)
			return err
		})
		wantError(t, fmt.Sprintf("AdvanceWebhookCursor(%+v)", bad), err, promote.Invalid)
		err = s.Update(t.Context(), func(tx promote.Tx) error {
			_, err := tx.StartWebhookCursor(bad)
			return err
		})
		wantError(t, fmt.Sprintf("StartWebhookCursor(%+v)", bad), err, promote.Invalid)
	}
}

func testWebhookDeliveries(t *testing.T, s promote.Store) {
	list := func(limit int) []promote.WebhookDelivery {
		var ds []promote.WebhookDelivery
		view(t, s, func(tx promote.Tx) (err error) {
			ds, err = tx.WebhookDeliveries(promote.WebhookDeliveryFilter{Limit: limit})
			return err
		})
		return ds
	}
	if got := list(0); len(got) != 0 {
		t.Errorf("WebhookDeliveries(0) on an empty log = %v, want none", got)
	}
	want := []promote.WebhookDelivery{
		{ID: "dlv_1", EventID: "ev_3_aa", EventType: "promotion.requested", Endpoint: "ops", AuditSeq: 3, Attempt: 1,
			Status: "retrying", Code: 503, Error: "receiver answered 503", At: at(1), Duration: 1500 * time.Millisecond},
		{ID: "dlv_1", EventID: "ev_3_aa", EventType: "promotion.requested", Endpoint: "ops", AuditSeq: 3, Attempt: 2,
			Status: "delivered", Code: 200, At: at(2), Duration: time.Millisecond},
		{ID: "dlv_2", EventID: "ev_4_bb", EventType: "gate.failed", Endpoint: "chat", AuditSeq: 4, Attempt: 1,
			Status: "failed", Error: "post: connection refused", At: at(3)},
	}
	update(t, s, func(tx promote.Tx) error {
		for i := range want {
			d, err := tx.RecordWebhookDelivery(want[i], promote.WebhookDeliveriesKept)
			if err != nil {
				return err
			}
			if d.Seq <= 0 || i > 0 && d.Seq <= want[i-1].Seq {
				t.Errorf("RecordWebhookDelivery(%d).Seq = %d, want it to grow", i, d.Seq)
			}
			want[i].Seq = d.Seq
		}
		return nil
	})
	newest := []promote.WebhookDelivery{want[2], want[1], want[0]}
	if diff := cmp.Diff(newest, list(0)); diff != "" {
		t.Errorf("WebhookDeliveries(0), want newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(newest[:2], list(2)); diff != "" {
		t.Errorf("WebhookDeliveries(2) (-want +got):\n%s", diff)
	}
	err := s.View(t.Context(), func(tx promote.Tx) error {
		_, err := tx.WebhookDeliveries(promote.WebhookDeliveryFilter{Limit: -1})
		return err
	})
	wantError(t, "WebhookDeliveries(-1)", err, promote.Invalid)
	err = s.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.RecordWebhookDelivery(promote.WebhookDelivery{ID: "dlv_3", At: at(4)}, 10)
		return err
	})
	wantError(t, "RecordWebhookDelivery(no event)", err, promote.Invalid)

	// The log keeps the newest keep entries.
	update(t, s, func(tx promote.Tx) error {
		for i := range 5 {
			_, err := tx.RecordWebhookDelivery(promote.WebhookDelivery{ID: fmt.Sprintf("dlv_n%d", i), EventID: "ev_9_cc",
				EventType: "rollout.step", Endpoint: "ops", AuditSeq: 9, Attempt: 1, Status: "delivered", Code: 200, At: at(5)}, 3)
			if err != nil {
				return err
			}
		}
		return nil
	})
	var ids []string
	for _, d := range list(0) {
		ids = append(ids, d.ID)
	}
	if diff := cmp.Diff([]string{"dlv_n4", "dlv_n3", "dlv_n2"}, ids); diff != "" {
		t.Errorf("after recording with keep 3, the log (-want +got):\n%s", diff)
	}
}

// testWebhookResends checks the filters of the delivery log, its sums and
// the re-sends, on endpoints of their own (the log is shared with
// testWebhookDeliveries).
func testWebhookResends(t *testing.T, s promote.Store) {
	const ep = "resend-ep"
	entry := func(id string, attempt int, status string, n int) promote.WebhookDelivery {
		return promote.WebhookDelivery{ID: id, EventID: "ev_" + id, EventType: "gate.failed", Endpoint: ep, AuditSeq: 7,
			Attempt: attempt, Status: status, At: at(n)}
	}
	record := func(ds ...promote.WebhookDelivery) []promote.WebhookDelivery {
		update(t, s, func(tx promote.Tx) error {
			for i := range ds {
				d, err := tx.RecordWebhookDelivery(ds[i], promote.WebhookDeliveriesKept)
				if err != nil {
					return err
				}
				ds[i] = d
			}
			return nil
		})
		return ds
	}
	stats := func() promote.WebhookStats {
		var all []promote.WebhookStats
		view(t, s, func(tx promote.Tx) (err error) {
			all, err = tx.WebhookStats()
			return err
		})
		for _, st := range all {
			if st.Endpoint == ep {
				return st
			}
		}
		return promote.WebhookStats{}
	}
	// r1 fails for good; r2 is delivered after a retry; r3 is retrying.
	got := record(entry("r1", 1, "retrying", 10), entry("r1", 2, promote.WebhookFailed, 11),
		entry("r2", 1, "retrying", 12), entry("r2", 2, promote.WebhookDelivered, 13), entry("r3", 1, "retrying", 14))
	var failed []promote.WebhookDelivery
	view(t, s, func(tx promote.Tx) (err error) {
		failed, err = tx.WebhookDeliveries(promote.WebhookDeliveryFilter{Endpoint: ep, Status: promote.WebhookFailed})
		return err
	})
	if diff := cmp.Diff([]promote.WebhookDelivery{got[1]}, failed); diff != "" {
		t.Errorf("WebhookDeliveries(%s, failed) (-want +got):\n%s", ep, diff)
	}
	var last promote.WebhookDelivery
	view(t, s, func(tx promote.Tx) (err error) {
		last, err = tx.LastWebhookDelivery("r2")
		return err
	})
	if diff := cmp.Diff(got[3], last); diff != "" {
		t.Errorf("LastWebhookDelivery(r2) (-want +got):\n%s", diff)
	}
	err := s.View(t.Context(), func(tx promote.Tx) error {
		_, err := tx.LastWebhookDelivery("nope")
		return err
	})
	wantError(t, "LastWebhookDelivery(nope)", err, promote.NotFound)
	if diff := cmp.Diff(promote.WebhookStats{Endpoint: ep, Failed: 1, LastDelivered: at(13)}, stats()); diff != "" {
		t.Errorf("WebhookStats() for %s (-want +got):\n%s", ep, diff)
	}

	r := promote.WebhookResend{ID: "r1", FailedSeq: got[1].Seq, EventID: "ev_r1", AuditSeq: 7, Endpoint: ep, RequestedBy: "alice", RequestedAt: at(15)}
	update(t, s, func(tx promote.Tx) error { return tx.RequestWebhookResend(r) })
	if st := stats(); st.Failed != 0 {
		t.Errorf("WebhookStats().Failed after a re-send is requested = %d, want 0", st.Failed)
	}
	err = s.Update(t.Context(), func(tx promote.Tx) error { return tx.RequestWebhookResend(r) })
	wantError(t, "RequestWebhookResend(again)", err, promote.Conflict)
	pending := func() []promote.WebhookResend {
		var rs []promote.WebhookResend
		view(t, s, func(tx promote.Tx) (err error) {
			rs, err = tx.WebhookResends(ep)
			return err
		})
		return rs
	}
	if diff := cmp.Diff([]promote.WebhookResend{r}, pending()); diff != "" {
		t.Errorf("WebhookResends(%s) (-want +got):\n%s", ep, diff)
	}
	// The new series fails again: the delivery counts as failed once more,
	// and its new failure can be re-sent.
	again := record(entry("r1", 1, promote.WebhookFailed, 16))
	update(t, s, func(tx promote.Tx) error { return tx.FinishWebhookResend("r1", r.FailedSeq, at(16)) })
	if got := pending(); len(got) != 0 {
		t.Errorf("WebhookResends(%s) after FinishWebhookResend = %v, want none", ep, got)
	}
	if st := stats(); st.Failed != 1 {
		t.Errorf("WebhookStats().Failed after the re-send failed again = %d, want 1", st.Failed)
	}
	err = s.Update(t.Context(), func(tx promote.Tx) error { return tx.RequestWebhookResend(r) })
	wantError(t, "RequestWebhookResend(done)", err, promote.Conflict)
	r2 := r
	r2.FailedSeq = again[0].Seq
	update(t, s, func(tx promote.Tx) error { return tx.RequestWebhookResend(r2) })
	err = s.Update(t.Context(), func(tx promote.Tx) error { return tx.FinishWebhookResend("r9", 1, at(17)) })
	wantError(t, "FinishWebhookResend(unknown)", err, promote.NotFound)
}
