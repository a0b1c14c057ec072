package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// verifyChain reads the whole chain with ScanAudit, recomputes every hash
// from the stored bodies and returns the records.
func verifyChain(t *testing.T, s promote.Store) []promote.AuditRecord {
	t.Helper()
	var records []promote.AuditRecord
	prev := promote.GenesisHash
	err := s.ScanAudit(t.Context(), 0, func(r promote.AuditRecord) error {
		want := int64(len(records) + 1)
		if r.Seq != want {
			return fmt.Errorf("record %d has seq %d, want %d: the chain has a gap or is out of order", want, r.Seq, want)
		}
		if r.PrevHash != prev {
			return fmt.Errorf("record %d: prev_hash %s, want the previous hash %s", r.Seq, r.PrevHash, prev)
		}
		if h := promote.ChainHash(r.PrevHash, r.Body); h != r.Hash {
			return fmt.Errorf("record %d: ChainHash over its body = %s, stored hash %s", r.Seq, h, r.Hash)
		}
		prev = r.Hash
		records = append(records, r)
		return nil
	})
	if err != nil {
		t.Fatalf("verify the audit chain: %v", err)
	}
	return records
}

func testAuditChain(t *testing.T, s promote.Store) {
	if got := verifyChain(t, s); len(got) != 0 {
		t.Fatalf("a new store has %d audit records, want none", len(got))
	}
	tokyo := time.FixedZone("JST", 9*3600)
	events := []promote.AuditEvent{
		{Time: t0, Actor: "alice", Action: promote.ActionModelCreated, Model: "fraud"},
		{Time: at(1), Actor: "ci", Action: promote.ActionPromotionRequested, Model: "fraud", Version: "1.1", Environment: "prod",
			PromotionID: "p1", Decision: "requested", Note: "retrained;\nsee the \"fairness\" report"},
		{Time: at(1).In(tokyo), Actor: "ci", Action: promote.ActionVersionRegistered, Model: "fraud", Version: "1.1",
			Digest: "sha256:" + fmt.Sprintf("%064x", 1)},
		{Time: at(2), Actor: "gate", Action: promote.ActionPromotionGated, Model: "fraud", Version: "1.1", Environment: "prod",
			PromotionID: "p1", Decision: "allowed",
			Reasons: json.RawMessage(`[{"rule":"accuracy_delta","result":"pass","actual":0.01,"threshold":">= 0"}]`)},
		{Time: at(3), Actor: "carol", Action: promote.ActionPromotionApproval, PromotionID: "p1", Decision: "approved",
			Approvers: []string{"carol", "dave"}},
		{Time: at(4), Actor: "controller", Action: promote.ActionLiveChanged, Model: "fraud", Version: "1.1", Environment: "prod",
			Live: map[string]string{"staging": "1.1", "prod": "1.1", "dev": "1.2"}, Reasons: json.RawMessage(`"promoted, \u00e9t\u00e9 \u2713"`)},
	}
	var appended []promote.AuditEvent
	update(t, s, func(tx promote.Tx) error {
		for _, e := range events {
			got, err := tx.AppendAudit(e)
			if err != nil {
				return err
			}
			appended = append(appended, got)
		}
		return nil
	})
	prev := promote.GenesisHash
	for i, got := range appended {
		// Returned as stored: the canonical body decoded (in UTC, its
		// reasons compacted and escaped as encoding/json does), with the
		// hashes.
		e := events[i]
		e.Seq = int64(i + 1)
		body, err := e.Body()
		if err != nil {
			t.Fatal(err)
		}
		r := promote.AuditRecord{Seq: e.Seq, PrevHash: prev, Hash: promote.ChainHash(prev, body), Body: body}
		want, err := r.Event()
		if err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AppendAudit(%d) mismatch (-want +got):\n%s", i, diff)
		}
	}

	records := verifyChain(t, s)
	if len(records) != len(events) {
		t.Fatalf("ScanAudit read %d records, want %d", len(records), len(events))
	}
	for i, r := range records {
		// The stored body is exactly the canonical encoding.
		body, err := appended[i].Body()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Body, body) {
			t.Errorf("record %d body = %s, want %s", r.Seq, r.Body, body)
		}
		e, err := r.Event()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(appended[i], e); diff != "" {
			t.Errorf("record %d decoded mismatch (-appended +decoded):\n%s", r.Seq, diff)
		}
	}

	// The chain goes on from its head in a later transaction.
	update(t, s, func(tx promote.Tx) error {
		e, err := tx.AppendAudit(promote.AuditEvent{Time: at(5), Actor: "x", Action: promote.ActionHoldSet})
		if err == nil && (e.Seq != int64(len(events)+1) || e.PrevHash != appended[len(appended)-1].Hash) {
			t.Errorf("AppendAudit after %d events = seq %d prev %s, want seq %d prev %s",
				len(events), e.Seq, e.PrevHash, len(events)+1, appended[len(appended)-1].Hash)
		}
		return err
	})
	verifyChain(t, s)
}

func testAuditScan(t *testing.T, s promote.Store) {
	// More events than one batch of a streaming scan, to cross its seams.
	const n = 2345
	update(t, s, func(tx promote.Tx) error {
		for i := range n {
			e := promote.AuditEvent{Time: t0.Add(time.Duration(i) * time.Second), Actor: "ci",
				Action: promote.ActionVersionRegistered, Model: "fraud", Version: fmt.Sprint(i)}
			if _, err := tx.AppendAudit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if got := verifyChain(t, s); len(got) != n {
		t.Fatalf("ScanAudit(0) read %d records, want %d", len(got), n)
	}

	tests := []struct {
		after      int64
		first, num int64
	}{
		{0, 1, n},
		{999, 1000, n - 999},
		{1000, 1001, n - 1000},
		{1234, 1235, n - 1234},
		{n - 1, n, 1},
		{n, 0, 0},
		{n + 50, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.after), func(t *testing.T) {
			var count, first, last int64
			err := s.ScanAudit(t.Context(), tt.after, func(r promote.AuditRecord) error {
				if count == 0 {
					first = r.Seq
				} else if r.Seq != last+1 {
					return fmt.Errorf("seq %d after %d", r.Seq, last)
				}
				last = r.Seq
				count++
				return nil
			})
			if err != nil {
				t.Fatalf("ScanAudit(%d): %v", tt.after, err)
			}
			if count != tt.num || (count > 0 && first != tt.first) {
				t.Errorf("ScanAudit(%d) read %d records from seq %d, want %d from %d", tt.after, count, first, tt.num, tt.first)
			}
		})
	}

	// An error from fn ends the scan and is returned.
	stop := errors.New("stop here")
	calls := 0
	err := s.ScanAudit(t.Context(), 0, func(r promote.AuditRecord) error {
		calls++
		if r.Seq == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 10 {
		t.Errorf("ScanAudit with fn failing at seq 10 = %v after %d calls, want %v after 10", err, calls, stop)
	}
}

// Token IDs of testAuditEvents' events.
const (
	tokenA = "tok_aaaaaaaaaaaaaaaa"
	tokenB = "tok_bbbbbbbbbbbbbbbb"
	tokenC = "tok_cccccccccccccccc"
)

func testAuditEvents(t *testing.T, s promote.Store) {
	type ev struct{ model, env, promotion, action string }
	evs := []ev{
		{"fraud", "", "", promote.ActionModelCreated},                // 1
		{"fraud", "staging", "p1", promote.ActionPromotionRequested}, // 2
		{"churn", "", "", promote.ActionModelCreated},                // 3
		{"fraud", "staging", "p1", promote.ActionPromotionGated},     // 4
		{"fraud", "prod", "p2", promote.ActionPromotionRequested},    // 5
		{"churn", "staging", "p3", promote.ActionPromotionRequested}, // 6
		{"fraud", "staging", "p1", promote.ActionPromotionState},     // 7
		{"", "", "", promote.ActionTokenCreated},                     // 8
		{"fraud", "prod", "p2", promote.ActionPromotionGated},        // 9
		{"fraud", "staging", "", promote.ActionLiveChanged},          // 10
		{"fraud", "prod", "p2", promote.ActionPromotionApproval},     // 11
		{"churn", "staging", "p3", promote.ActionPromotionGated},     // 12
		{"fraud", "prod", "", promote.ActionHoldSet},                 // 13
		{"fraud", "prod", "p2", promote.ActionPromotionState},        // 14
		{"churn", "staging", "p3", promote.ActionPromotionState},     // 15
		{"fraud", "staging", "p4", promote.ActionPromotionRequested}, // 16
		{"", "", "", promote.ActionTokenRevoked},                     // 17
		{"fraud", "staging", "p4", promote.ActionPromotionGated},     // 18
		{"fraud", "prod", "", promote.ActionFreezeOverride},          // 19
		{"fraud", "staging", "p4", promote.ActionPromotionApproval},  // 20
		{"churn", "prod", "", promote.ActionVersionRejected},         // 21
		{"fraud", "staging", "", promote.ActionHoldCleared},          // 22
		{"fraud", "staging", "p4", promote.ActionPromotionState},     // 23
		{"fraud", "prod", "p5", promote.ActionPromotionRequested},    // 24
		{"fraud", "", "", promote.ActionVersionRegistered},           // 25
		{"churn", "", "", promote.ActionVersionRegistered},           // 26
		{"fraud", "prod", "p5", promote.ActionPromotionGated},        // 27
		{"fraud", "prod", "p5", promote.ActionPromotionApproval},     // 28
		{"fraud", "prod", "p5", promote.ActionPromotionState},        // 29
		{"fraud", "prod", "", promote.ActionLiveChanged},             // 30
	}
	update(t, s, func(tx promote.Tx) error {
		for i, e := range evs {
			actor := "x"
			if e.promotion == "p5" {
				actor = "lena"
			}
			// x acted with two tokens, p2 with one and p4 with the
			// other; lena with a third; the rest without one (gitops,
			// rollout, or before the token was recorded).
			token := map[string]string{"p2": tokenA, "p4": tokenB, "p5": tokenC}[e.promotion]
			// A promotion's events name its version: p5's is "5".
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: at(i), Actor: actor, Action: e.action, Model: e.model,
				Version: strings.TrimPrefix(e.promotion, "p"), Environment: e.env, PromotionID: e.promotion, TokenID: token}); err != nil {
				return err
			}
		}
		return nil
	})
	// match returns the seqs of evs that keep says, newest first.
	match := func(keep func(ev) bool) []int64 {
		out := []int64{}
		for i := len(evs) - 1; i >= 0; i-- {
			if keep(evs[i]) {
				out = append(out, int64(i+1))
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    promote.AuditFilter
		want []int64
	}{
		{"all", promote.AuditFilter{}, match(func(ev) bool { return true })},
		{"model", promote.AuditFilter{Model: "churn"}, match(func(e ev) bool { return e.model == "churn" })},
		{"environment", promote.AuditFilter{Environment: "prod"}, match(func(e ev) bool { return e.env == "prod" })},
		{"promotion", promote.AuditFilter{PromotionID: "p2"}, []int64{14, 11, 9, 5}},
		{"action", promote.AuditFilter{Action: promote.ActionPromotionGated},
			match(func(e ev) bool { return e.action == promote.ActionPromotionGated })},
		{"model and environment", promote.AuditFilter{Model: "fraud", Environment: "staging"},
			match(func(e ev) bool { return e.model == "fraud" && e.env == "staging" })},
		{"every filter", promote.AuditFilter{Model: "fraud", Environment: "prod", PromotionID: "p5", Action: promote.ActionPromotionState},
			[]int64{29}},
		{"actor", promote.AuditFilter{Actor: "lena"}, match(func(e ev) bool { return e.promotion == "p5" })},
		{"version", promote.AuditFilter{Model: "fraud", Version: "5"}, []int64{29, 28, 27, 24}},
		{"who approved a version into prod", promote.AuditFilter{Model: "fraud", Version: "5", Environment: "prod",
			Action: promote.ActionPromotionApproval}, []int64{28}},
		{"a version of another model", promote.AuditFilter{Model: "churn", Version: "5"}, []int64{}},
		{"actor and action", promote.AuditFilter{Actor: "lena", Action: promote.ActionPromotionApproval}, []int64{28}},
		{"another actor's promotion", promote.AuditFilter{Actor: "x", PromotionID: "p5"}, []int64{}},
		{"token", promote.AuditFilter{TokenID: tokenA}, []int64{14, 11, 9, 5}},
		{"another token of the same actor", promote.AuditFilter{TokenID: tokenB}, []int64{23, 20, 18, 16}},
		{"token and actor", promote.AuditFilter{Actor: "x", TokenID: tokenB}, []int64{23, 20, 18, 16}},
		{"token and action: what a token approved", promote.AuditFilter{TokenID: tokenA, Action: promote.ActionPromotionApproval}, []int64{11}},
		{"token of another actor", promote.AuditFilter{Actor: "x", TokenID: tokenC}, []int64{}},
		{"a token that made nothing", promote.AuditFilter{TokenID: "tok_0000000000000000"}, []int64{}},
		{"before", promote.AuditFilter{BeforeSeq: 4}, []int64{3, 2, 1}},
		{"before with a filter", promote.AuditFilter{PromotionID: "p1", BeforeSeq: 7}, []int64{4, 2}},
		{"limit", promote.AuditFilter{Limit: 2}, []int64{30, 29}},
		{"before and limit", promote.AuditFilter{BeforeSeq: 20, Limit: 3}, []int64{19, 18, 17}},
		{"before the first", promote.AuditFilter{BeforeSeq: 1}, []int64{}},
		{"after", promote.AuditFilter{AfterSeq: 27}, []int64{30, 29, 28}},
		{"after and limit: the events just after", promote.AuditFilter{AfterSeq: 10, Limit: 3}, []int64{13, 12, 11}},
		{"after with a filter", promote.AuditFilter{PromotionID: "p2", AfterSeq: 5, Limit: 2}, []int64{11, 9}},
		{"between", promote.AuditFilter{AfterSeq: 3, BeforeSeq: 7}, []int64{6, 5, 4}},
		{"after the last", promote.AuditFilter{AfterSeq: 30}, []int64{}},
		{"none", promote.AuditFilter{Model: "nope"}, []int64{}},
		// Event i+1 was recorded at at(i): since is inclusive, until
		// exclusive, to the nanosecond.
		{"since", promote.AuditFilter{Since: at(26)}, []int64{30, 29, 28, 27}},
		{"since, a nanosecond later", promote.AuditFilter{Since: at(26).Add(time.Nanosecond)}, []int64{30, 29, 28}},
		{"until", promote.AuditFilter{Until: at(3)}, []int64{3, 2, 1}},
		{"until, a nanosecond later", promote.AuditFilter{Until: at(3).Add(time.Nanosecond)}, []int64{4, 3, 2, 1}},
		{"since and until", promote.AuditFilter{Since: at(9), Until: at(14)}, []int64{14, 13, 12, 11, 10}},
		{"since and until in another zone", promote.AuditFilter{Since: at(9).In(time.FixedZone("UTC-8", -8*3600)),
			Until: at(14).In(time.FixedZone("UTC+9", 9*3600))}, []int64{14, 13, 12, 11, 10}},
		{"since equals until", promote.AuditFilter{Since: at(9), Until: at(9)}, []int64{}},
		{"since after the last", promote.AuditFilter{Since: at(30)}, []int64{}},
		{"until before the first", promote.AuditFilter{Until: at(0)}, []int64{}},
		{"a time range and other filters", promote.AuditFilter{Model: "fraud", Environment: "prod", Since: at(10), Until: at(27)},
			[]int64{27, 24, 19, 14, 13, 11}},
		{"a time range and before", promote.AuditFilter{Since: at(9), Until: at(20), BeforeSeq: 13, Limit: 2}, []int64{12, 11}},
		{"a time range and after", promote.AuditFilter{Since: at(9), Until: at(20), AfterSeq: 5, Limit: 2}, []int64{11, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view(t, s, func(tx promote.Tx) error {
				got, err := tx.AuditEvents(tt.f)
				if err != nil {
					return err
				}
				seqs := []int64{}
				for _, e := range got {
					seqs = append(seqs, e.Seq)
					if e.Hash == "" || e.PrevHash == "" {
						t.Errorf("AuditEvents(%+v): event %d without its hashes", tt.f, e.Seq)
					}
				}
				if diff := cmp.Diff(tt.want, seqs); diff != "" {
					t.Errorf("AuditEvents(%+v) mismatch (-want +got):\n%s", tt.f, diff)
				}
				return nil
			})
		})
	}

	// Paging backwards with BeforeSeq visits every event once, newest first.
	t.Run("paging", func(t *testing.T) {
		var seqs []int64
		before := int64(0)
		for page := 0; page < 20; page++ {
			var got []promote.AuditEvent
			view(t, s, func(tx promote.Tx) error {
				var err error
				got, err = tx.AuditEvents(promote.AuditFilter{Model: "fraud", BeforeSeq: before, Limit: 4})
				return err
			})
			if len(got) == 0 {
				break
			}
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			before = got[len(got)-1].Seq
		}
		if diff := cmp.Diff(match(func(e ev) bool { return e.model == "fraud" }), seqs); diff != "" {
			t.Errorf("paging AuditEvents(fraud) by 4 mismatch (-want +got):\n%s", diff)
		}
	})

	// A time range that spans pages: paging backwards with BeforeSeq, and
	// forwards with AfterSeq, each visit the range's events once.
	t.Run("paging a time range", func(t *testing.T) {
		f := promote.AuditFilter{Model: "fraud", Since: at(4), Until: at(24), Limit: 3}
		want := []int64{}
		for seq := int64(24); seq >= 5; seq-- {
			if evs[seq-1].model == "fraud" {
				want = append(want, seq)
			}
		}
		page := func(f promote.AuditFilter) []promote.AuditEvent {
			var got []promote.AuditEvent
			view(t, s, func(tx promote.Tx) error {
				var err error
				got, err = tx.AuditEvents(f)
				return err
			})
			return got
		}
		var back []int64
		for f.BeforeSeq = 0; len(back) < 40; {
			got := page(f)
			if len(got) == 0 {
				break
			}
			for _, e := range got {
				back = append(back, e.Seq)
			}
			f.BeforeSeq = got[len(got)-1].Seq
		}
		if diff := cmp.Diff(want, back); diff != "" {
			t.Errorf("paging AuditEvents(%+v) back by 3 mismatch (-want +got):\n%s", f, diff)
		}
		// Forwards from event 1, which is before the range (after 0
		// would be no bound: the newest page).
		var fwd []int64
		for f.BeforeSeq, f.AfterSeq = 0, 1; len(fwd) < 40; {
			got := page(f)
			if len(got) == 0 {
				break
			}
			var seqs []int64 // newest first, as every page
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			fwd = append(seqs, fwd...)
			f.AfterSeq = got[0].Seq
		}
		if diff := cmp.Diff(want, fwd); diff != "" {
			t.Errorf("paging AuditEvents(%+v) forward by 3 mismatch (-want +got):\n%s", f, diff)
		}
	})
}
