package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// chain builds n records the way a store does.
func chain(t *testing.T, n int) []promote.AuditRecord {
	t.Helper()
	prev := promote.GenesisHash
	var out []promote.AuditRecord
	for i := 1; i <= n; i++ {
		e := promote.AuditEvent{Seq: int64(i), Time: time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC), Actor: "alice",
			Action: promote.ActionPromotionState, Model: "m", Version: "1", Environment: "prod", Decision: "approved",
			Live: map[string]string{"prod": "1", "dev": "2"}}
		body, err := e.Body()
		if err != nil {
			t.Fatal(err)
		}
		h := promote.ChainHash(prev, body)
		out = append(out, promote.AuditRecord{Seq: int64(i), PrevHash: prev, Hash: h, Body: body})
		prev = h
	}
	return out
}

func verify(records []promote.AuditRecord) Result {
	v := NewVerifier()
	for _, r := range records {
		if !v.Add(r) {
			break
		}
	}
	return v.Result()
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]promote.AuditRecord) []promote.AuditRecord
		seq    int64
		kind   string
	}{
		{"intact", func(r []promote.AuditRecord) []promote.AuditRecord { return r }, 0, ""},
		{"body modified", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[4].Body = bytes.Replace(r[4].Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
			return r
		}, 5, BreakModified},
		{"body and hash modified", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[4].Body = bytes.Replace(r[4].Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
			r[4].Hash = promote.ChainHash(r[4].PrevHash, r[4].Body)
			return r
		}, 6, BreakReordered},
		{"deleted", func(r []promote.AuditRecord) []promote.AuditRecord { return append(r[:3], r[4:]...) }, 5, BreakDeleted},
		{"deleted first", func(r []promote.AuditRecord) []promote.AuditRecord { return r[1:] }, 2, BreakDeleted},
		{"reordered", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[2].Seq, r[3].Seq = r[3].Seq, r[2].Seq
			r[2], r[3] = r[3], r[2]
			return r
		}, 3, BreakReordered},
		{"inserted duplicate", func(r []promote.AuditRecord) []promote.AuditRecord {
			return append(r[:5], append([]promote.AuditRecord{r[2]}, r[5:]...)...)
		}, 3, BreakInserted},
		{"inserted with renumbering", func(r []promote.AuditRecord) []promote.AuditRecord {
			forged := promote.AuditEvent{Seq: 4, Actor: "mallory", Action: "promotion.state"}
			body, _ := forged.Body()
			ins := promote.AuditRecord{Seq: 4, PrevHash: r[2].Hash, Hash: promote.ChainHash(r[2].Hash, body), Body: body}
			out := append([]promote.AuditRecord{}, r[:3]...)
			out = append(out, ins)
			for _, x := range r[3:] {
				x.Seq++
				out = append(out, x)
			}
			return out
		}, 5, BreakInserted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := verify(tt.tamper(chain(t, 8)))
			if tt.kind == "" {
				if !res.OK || res.Events != 8 || res.HeadSeq != 8 {
					t.Fatalf("Verify(intact) = %+v", res)
				}
				return
			}
			if res.OK || res.Broken == nil || res.Broken.Seq != tt.seq || res.Broken.Kind != tt.kind {
				t.Fatalf("Verify(%s) = %+v %+v, want broken at %d (%s)", tt.name, res, res.Broken, tt.seq, tt.kind)
			}
			if !strings.Contains(res.Broken.Message, "event") {
				t.Errorf("message %q does not name the event", res.Broken.Message)
			}
		})
	}
}

// A break's message says which check failed, naming the event: its body
// does not match its hash; its previous-hash link was edited (its body
// matches its hash on the previous event's); the link is broken (it names
// another previous hash than the event before it has); or events are
// missing, a gap in the sequence.
func TestVerifyMessages(t *testing.T) {
	records := chain(t, 5)
	h := func(i int) string { return short(records[i].Hash) }
	tests := []struct {
		name   string
		tamper func(r []promote.AuditRecord) []promote.AuditRecord
		want   Break
	}{
		{"a body edited", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[2].Body = bytes.Replace(r[2].Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
			return r
		}, Break{Seq: 3, Kind: BreakModified, Message: fmt.Sprintf("event 3 was modified: its body does not match its hash: the stored hash is %s, but the event hashes to %s",
			h(2), short(promote.ChainHash(records[1].Hash, bytes.Replace(records[2].Body, []byte(`"alice"`), []byte(`"mallory"`), 1))))}},
		{"a stored hash replaced", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[2].Hash = r[3].Hash
			return r
		}, Break{Seq: 3, Kind: BreakModified, Message: fmt.Sprintf("event 3 was modified: its body does not match its hash: the stored hash is %s, but the event hashes to %s", h(3), h(2))}},
		{"a previous hash edited", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[2].PrevHash = r[0].Hash
			return r
		}, Break{Seq: 3, Kind: BreakModified, Message: fmt.Sprintf("event 3's previous-hash link was edited: it names %s as the previous hash, but its hash was made on event 2's hash, %s, and its body matches it", h(0), h(1))}},
		{"a body edited and rehashed", func(r []promote.AuditRecord) []promote.AuditRecord {
			r[2].Body = bytes.Replace(r[2].Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
			r[2].Hash = promote.ChainHash(r[2].PrevHash, r[2].Body)
			return r
		}, Break{Seq: 4, Kind: BreakReordered, Message: fmt.Sprintf("event 4's previous-hash link is broken: it names %s as the previous hash, but event 3's hash is %s (an event before it was modified, inserted or removed)",
			h(2), short(promote.ChainHash(records[1].Hash, bytes.Replace(records[2].Body, []byte(`"alice"`), []byte(`"mallory"`), 1))))}},
		{"an event deleted", func(r []promote.AuditRecord) []promote.AuditRecord { return append(r[:2], r[3:]...) },
			Break{Seq: 4, Kind: BreakDeleted, Message: "event 3 is missing, a gap in the sequence: the log goes from 2 to 4"}},
		{"two events deleted", func(r []promote.AuditRecord) []promote.AuditRecord { return append(r[:1], r[3:]...) },
			Break{Seq: 4, Kind: BreakDeleted, Message: "events 2 to 3 are missing, a gap in the sequence: the log goes from 1 to 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := verify(tt.tamper(slices.Clone(records)))
			if res.OK || res.Broken == nil {
				t.Fatalf("Verify(%s) = %+v, want broken", tt.name, res)
			}
			if diff := cmp.Diff(tt.want, *res.Broken); diff != "" {
				t.Errorf("Verify(%s): the break differs (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestVerifyExport(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range chain(t, 5) {
		if err := enc.Encode(Line{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Body: string(r.Body)}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := VerifyExport(bytes.NewReader(buf.Bytes()))
	if err != nil || !res.OK || res.Events != 5 {
		t.Fatalf("VerifyExport = %+v, %v", res, err)
	}
	tampered := strings.Replace(buf.String(), `\"actor\":\"alice\"`, `\"actor\":\"bob\"`, 1)
	if tampered == buf.String() {
		t.Fatal("the tamper did not apply")
	}
	res, err = VerifyExport(strings.NewReader(tampered))
	if err != nil || res.OK || res.Broken.Seq != 1 || res.Broken.Kind != BreakModified {
		t.Fatalf("VerifyExport(tampered) = %+v %+v, %v", res, res.Broken, err)
	}
	if _, err := VerifyExport(strings.NewReader("{\"seq\": 1, \"extra\": 2}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("VerifyExport(bad line) error = %v", err)
	}
}

// An independent check of the documented algorithm: SHA-256 over the
// previous hash, a newline and the body, for a fixed event.
func TestChainHashKnownValue(t *testing.T) {
	body := []byte(`{"seq":1,"time":"2026-11-25T10:00:00Z","actor":"alice","action":"model.created","model":"m"}`)
	// Computed with coreutils: printf '%s\n%s' "$GENESIS" "$body" | sha256sum
	const want = "d61f70290533b725465b8fafc7f9ff08e032dc8ae1be6f3efeb7a0c6f4cd9b16"
	if got := promote.ChainHash(promote.GenesisHash, body); got != want {
		t.Errorf("ChainHash(genesis, body) = %s, want %s", got, want)
	}
}

// A verifier started at a verified head checks what follows as a full
// verification would, and catches a break after it.
func TestVerifierAtContinues(t *testing.T) {
	recs := chain(t, 6)
	full := NewVerifier()
	for _, r := range recs[:3] {
		if !full.Add(r) {
			t.Fatalf("the first events do not verify: %+v", full.Result())
		}
	}
	head := full.Result()
	v := NewVerifierAt(head.HeadSeq, head.HeadHash)
	for _, r := range recs[3:] {
		if !v.Add(r) {
			t.Fatalf("Add(event %d) after the head = false: %+v", r.Seq, v.Result().Broken)
		}
	}
	if got := v.Result(); got.HeadSeq != 6 || got.HeadHash != recs[5].Hash {
		t.Errorf("head after continuing = %d %s, want 6 %s", got.HeadSeq, got.HeadHash, recs[5].Hash)
	}
	// Started at the wrong head hash, the next event does not follow.
	v = NewVerifierAt(head.HeadSeq, promote.GenesisHash)
	if v.Add(recs[3]) || v.Result().Broken.Kind != BreakReordered {
		t.Errorf("event 4 after a wrong head: %+v, want a reordering break", v.Result().Broken)
	}
	// Started past a gap, the gap is a deletion.
	v = NewVerifierAt(head.HeadSeq, head.HeadHash)
	if v.Add(recs[4]) || v.Result().Broken.Kind != BreakDeleted {
		t.Errorf("event 5 right after event 3: %+v, want a deletion", v.Result().Broken)
	}
}

// TestVerifyColumns checks that the indexed copies a store keeps of an
// event's fields must match its body: the audit list's filters read them.
func TestVerifyColumns(t *testing.T) {
	e := promote.AuditEvent{Seq: 1, Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Actor: `a "<lena>" & \co`,
		Action: promote.ActionPromotionApproval, Model: "credit-risk", Version: "2", Environment: "prod",
		PromotionID: "pr_508d4c30406ca72a", TokenID: "tok_3f9c2a71d04b8e65", Decision: "approved", Reasons: json.RawMessage(`{"actor":"x","model":"y"}`),
		Approvers: []string{"lena"}}
	body, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	match := promote.AuditColumns{Time: e.Time, Model: e.Model, Version: e.Version, Environment: e.Environment, PromotionID: e.PromotionID, Action: e.Action, Actor: e.Actor,
		TokenID: e.TokenID}
	// An event recorded before the token ID was kept, or made by no
	// token: its body has no token_id.
	without := e
	without.TokenID = ""
	tests := []struct {
		name    string
		columns func(c *promote.AuditColumns)
		body    []byte
		broken  bool
		message string
	}{
		{name: "agree", columns: func(*promote.AuditColumns) {}},
		{name: "actor changed", columns: func(c *promote.AuditColumns) { c.Actor = "bob" }, broken: true,
			message: `event 1 was modified: its stored actor is "bob" but its body says "a \"<lena>\" & \\co" (filtered lists read the stored actor)`},
		{name: "environment changed", columns: func(c *promote.AuditColumns) { c.Environment = "staging" }, broken: true,
			message: `event 1 was modified: its stored environment is "staging" but its body says "prod" (filtered lists read the stored environment)`},
		{name: "promotion cleared", columns: func(c *promote.AuditColumns) { c.PromotionID = "" }, broken: true,
			message: `event 1 was modified: its stored promotion_id is "" but its body says "pr_508d4c30406ca72a" (filtered lists read the stored promotion_id)`},
		{name: "model added", body: mustBody(t, promote.AuditEvent{Seq: 1, Time: e.Time, Actor: e.Actor, Action: e.Action}),
			columns: func(c *promote.AuditColumns) { c.Version, c.Environment, c.PromotionID = "", "", "" }, broken: true,
			message: `event 1 was modified: its stored model is "credit-risk" but its body says "" (filtered lists read the stored model)`},
		{name: "version changed", columns: func(c *promote.AuditColumns) { c.Version = "3" }, broken: true,
			message: `event 1 was modified: its stored version is "3" but its body says "2" (filtered lists read the stored version)`},
		{name: "action changed", columns: func(c *promote.AuditColumns) { c.Action = promote.ActionHoldSet }, broken: true,
			message: `event 1 was modified: its stored action is "hold.set" but its body says "promotion.approval" (filtered lists read the stored action)`},
		{name: "time in another zone", columns: func(c *promote.AuditColumns) { c.Time = c.Time.In(time.FixedZone("CET", 3600)) }},
		{name: "time moved a day", columns: func(c *promote.AuditColumns) { c.Time = c.Time.AddDate(0, 0, -1) }, broken: true,
			message: `event 1 was modified: its stored time is "2026-11-24T10:00:00Z" but its body says "2026-11-25T10:00:00Z" (filtered lists read the stored time)`},
		{name: "time moved a nanosecond", columns: func(c *promote.AuditColumns) { c.Time = c.Time.Add(time.Nanosecond) }, broken: true,
			message: `event 1 was modified: its stored time is "2026-11-25T10:00:00.000000001Z" but its body says "2026-11-25T10:00:00Z" (filtered lists read the stored time)`},
		{name: "time cleared", columns: func(c *promote.AuditColumns) { c.Time = time.Time{} }, broken: true,
			message: `event 1 was modified: its stored time is "0001-01-01T00:00:00Z" but its body says "2026-11-25T10:00:00Z" (filtered lists read the stored time)`},
		{name: "token ID changed", columns: func(c *promote.AuditColumns) { c.TokenID = "tok_0000000000000001" }, broken: true,
			message: `event 1 was modified: its stored token_id is "tok_0000000000000001" but its body says "tok_3f9c2a71d04b8e65" (filtered lists read the stored token_id)`},
		{name: "token ID cleared", columns: func(c *promote.AuditColumns) { c.TokenID = "" }, broken: true,
			message: `event 1 was modified: its stored token_id is "" but its body says "tok_3f9c2a71d04b8e65" (filtered lists read the stored token_id)`},
		{name: "token ID given to an event made without one", body: mustBody(t, without), columns: func(*promote.AuditColumns) {}, broken: true,
			message: `event 1 was modified: its stored token_id is "tok_3f9c2a71d04b8e65" but its body says "" (filtered lists read the stored token_id)`},
		{name: "no token ID in either", body: mustBody(t, without), columns: func(c *promote.AuditColumns) { c.TokenID = "" }},
		// The objects that close a body, policy and metrics, come after the
		// copied fields too: a body with them and none of the fields before
		// them is as canonical as any, and names the copy that differs.
		{name: "actor changed, a body ending in policy and metrics", body: mustBody(t, promote.AuditEvent{Seq: 1, Time: e.Time, Actor: e.Actor, Action: e.Action,
			Model: e.Model, Version: e.Version, Environment: e.Environment, PromotionID: e.PromotionID, TokenID: e.TokenID,
			Policy:  &promote.AuditPolicy{File: "p.yaml", Digest: "sha256:" + strings.Repeat("ab", 32)},
			Metrics: &promote.AuditMetrics{Candidate: "sha256:" + strings.Repeat("cd", 32)}}),
			columns: func(c *promote.AuditColumns) { c.Actor = "bob" }, broken: true,
			message: `event 1 was modified: its stored actor is "bob" but its body says "a \"<lena>\" & \\co" (filtered lists read the stored actor)`},
		{name: "actor changed, a body ending in metrics", body: mustBody(t, promote.AuditEvent{Seq: 1, Time: e.Time, Actor: e.Actor, Action: e.Action,
			Model: e.Model, Version: e.Version, Environment: e.Environment, PromotionID: e.PromotionID, TokenID: e.TokenID,
			Metrics: &promote.AuditMetrics{Candidate: "sha256:" + strings.Repeat("cd", 32)}}),
			columns: func(c *promote.AuditColumns) { c.Actor = "bob" }, broken: true,
			message: `event 1 was modified: its stored actor is "bob" but its body says "a \"<lena>\" & \\co" (filtered lists read the stored actor)`},
		{name: "no time in either", body: mustBody(t, promote.AuditEvent{Seq: 1, Actor: e.Actor, Action: e.Action, Model: e.Model, Version: e.Version,
			Environment: e.Environment, PromotionID: e.PromotionID, TokenID: e.TokenID}), columns: func(c *promote.AuditColumns) { c.Time = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body
			if tt.body != nil {
				b = tt.body
			}
			c := match
			tt.columns(&c)
			r := promote.AuditRecord{Seq: 1, PrevHash: promote.GenesisHash, Hash: promote.ChainHash(promote.GenesisHash, b), Body: b, Columns: &c}
			res := verify([]promote.AuditRecord{r})
			if !tt.broken {
				if !res.OK {
					t.Fatalf("Verify(%+v) = %+v, want ok", c, res.Broken)
				}
				return
			}
			if res.OK || res.Broken.Kind != BreakModified || res.Broken.Seq != 1 || res.Broken.Message != tt.message {
				t.Fatalf("Verify(%+v) = %+v %+v, want modified at 1: %s", c, res, res.Broken, tt.message)
			}
		})
	}
}

// TestVerifyColumnsFastPath checks that the usual event's copies, its
// time among them, are found equal to its body by comparing bytes, without
// decoding the body's fields, and that a copy of its time that differs in
// any digit is not.
func TestVerifyColumnsFastPath(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 0, 120_000_000, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 0, 123_456_789, time.FixedZone("PST", -8*3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC),
		{},
	} {
		e := promote.AuditEvent{Seq: 7, Time: at, Actor: "lena", Action: promote.ActionPromotionApproval, Model: "credit-risk",
			Version: "2", Environment: "prod", PromotionID: "pr_508d4c30406ca72a", TokenID: "tok_3f9c2a71d04b8e65", Reasons: json.RawMessage(`{"time":"x"}`)}
		body := mustBody(t, e)
		c := promote.AuditColumns{Time: at, Model: e.Model, Version: e.Version, Environment: e.Environment,
			PromotionID: e.PromotionID, Action: e.Action, Actor: e.Actor, TokenID: e.TokenID}
		if !columnsMatch(body, &c) {
			t.Errorf("columnsMatch(%s, %+v) = false, want true", body, c)
		}
		for _, d := range []time.Duration{time.Nanosecond, -time.Nanosecond, time.Millisecond, time.Hour} {
			c.Time = at.Add(d)
			if columnsMatch(body, &c) {
				t.Errorf("columnsMatch(%s) with the time's copy %v = true, want false", body, c.Time)
			}
			if _, _, _, ok := columnsAgree(promote.AuditRecord{Body: body, Columns: &c}); ok {
				t.Errorf("columnsAgree(%s) with the time's copy %v = true, want false", body, c.Time)
			}
		}
	}
}

func mustBody(t *testing.T, e promote.AuditEvent) []byte {
	t.Helper()
	b, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyExpectHead checks a chain against a head kept apart from it:
// the chain alone verifies whole when its end is cut off or rewritten.
func TestVerifyExpectHead(t *testing.T) {
	records := chain(t, 5)
	rewritten := chain(t, 5)
	rewritten[4].Body = bytes.Replace(rewritten[4].Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
	rewritten[4].Hash = promote.ChainHash(rewritten[4].PrevHash, rewritten[4].Body)
	tests := []struct {
		name    string
		records []promote.AuditRecord
		head    Head
		want    *Break
	}{
		{"the head is the end", records, Head{5, records[4].Hash}, nil},
		{"the head is earlier", records, Head{3, records[2].Hash}, nil},
		{"no head", records, Head{0, promote.GenesisHash}, nil},
		{"the end cut off", records[:3], Head{5, records[4].Hash}, &Break{Seq: 5, Kind: BreakTruncated,
			Message: "the store's head is event 5 (hash " + short(records[4].Hash) + "), but the log ends at event 3: events were removed from its end"}},
		{"every event removed", nil, Head{5, records[4].Hash}, &Break{Seq: 5, Kind: BreakTruncated,
			Message: "the store's head is event 5 (hash " + short(records[4].Hash) + "), but the log ends at event 0: events were removed from its end"}},
		{"the end rewritten", rewritten, Head{5, records[4].Hash}, &Break{Seq: 5, Kind: BreakRewritten,
			Message: "event 5's hash is " + short(rewritten[4].Hash) + ", but the store's head has " + short(records[4].Hash) + ": the log was rewritten up to event 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier()
			v.ExpectHead(tt.head, "the store's head")
			for _, r := range tt.records {
				v.Add(r)
			}
			res := v.Result()
			if res.OK != (tt.want == nil) || (tt.want != nil && *res.Broken != *tt.want) {
				t.Fatalf("Result() = %+v %+v, want %+v", res, res.Broken, tt.want)
			}
			if n := int64(len(tt.records)); res.HeadSeq != n {
				t.Errorf("Result().HeadSeq = %d, want %d (the last event verified)", res.HeadSeq, n)
			}
		})
	}
}

// exportOf writes records as promote audit export does: one Line each.
func exportOf(rs []promote.AuditRecord) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range rs {
		enc.Encode(Line{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Body: string(r.Body)})
	}
	return buf.String()
}

// TestKeptHeads checks an export, and a server's result, against heads
// kept from earlier verifications (promote audit verify --head).
func TestKeptHeads(t *testing.T) {
	records := chain(t, 5)
	full, cut := exportOf(records), exportOf(records[:3])
	tests := []struct {
		name   string
		export string
		kept   []Head
		want   string // the break's kind, "" for intact
	}{
		{"no kept head", cut, nil, ""},
		{"a kept head the export holds", full, []Head{{3, records[2].Hash}}, ""},
		{"two kept heads", full, []Head{{2, records[1].Hash}, {5, records[4].Hash}}, ""},
		{"the export ends before the kept head", cut, []Head{{5, records[4].Hash}}, BreakTruncated},
		{"the kept head has another hash", full, []Head{{4, records[2].Hash}}, BreakRewritten},
		{"the second of two kept heads fails", full, []Head{{2, records[1].Hash}, {4, records[2].Hash}}, BreakRewritten},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := VerifyExport(strings.NewReader(tt.export), tt.kept...)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if !res.OK {
				got = res.Broken.Kind
				if !strings.Contains(res.Broken.Message, KeptHead) {
					t.Errorf("message %q does not say it is the kept head", res.Broken.Message)
				}
			}
			if got != tt.want {
				t.Errorf("VerifyExport = %+v %+v, want break %q", res, res.Broken, tt.want)
			}
		})
	}

	// A result verified by a server, checked with the event it lists.
	ok := Result{OK: true, Events: 3, HeadSeq: 3, HeadHash: records[2].Hash}
	if res := CheckHead(ok, Head{2, records[1].Hash}, records[1].Hash, true, KeptHead); !res.OK {
		t.Errorf("CheckHead(the same hash) = %+v", res.Broken)
	}
	if res := CheckHead(ok, Head{2, records[1].Hash}, records[0].Hash, true, KeptHead); res.OK || res.Broken.Kind != BreakRewritten {
		t.Errorf("CheckHead(another hash) = %+v %+v, want rewritten", res, res.Broken)
	}
	if res := CheckHead(ok, Head{5, records[4].Hash}, "", false, KeptHead); res.OK || res.Broken.Kind != BreakTruncated || res.Broken.Seq != 5 {
		t.Errorf("CheckHead(past the end) = %+v %+v, want truncated at 5", res, res.Broken)
	}
	broken := Result{Broken: &Break{Seq: 2, Kind: BreakModified}}
	if res := CheckHead(broken, Head{5, records[4].Hash}, "", false, KeptHead); res.Broken.Kind != BreakModified {
		t.Errorf("CheckHead kept the first break? %+v", res.Broken)
	}
}

// TestVerifyExportFromKeptHead checks an export that starts after the
// first event: it verifies from the head kept for the event before its
// first line, and proves nothing without one.
func TestVerifyExportFromKeptHead(t *testing.T) {
	records := chain(t, 8)
	part := exportOf(records[4:]) // events 5 to 8
	forged := chain(t, 8)         // the same events, hashed onto another event 4
	forged[4].PrevHash = strings.Repeat("ab", 32)
	forged[4].Hash = promote.ChainHash(forged[4].PrevHash, forged[4].Body)
	for i := 5; i < 8; i++ {
		forged[i].PrevHash = forged[i-1].Hash
		forged[i].Hash = promote.ChainHash(forged[i].PrevHash, forged[i].Body)
	}
	tampered := strings.Replace(part, `\"actor\":\"alice\"`, `\"actor\":\"mallory\"`, 1)
	tests := []struct {
		name      string
		export    string
		kept      []Head
		wantOK    bool
		wantAfter int64
		wantBreak Break // Kind, Seq and a part of the message
	}{
		{name: "anchored on the kept head", export: part, kept: []Head{{4, records[3].Hash}}, wantOK: true, wantAfter: 4},
		{name: "anchored, with a kept head at its end", export: part, kept: []Head{{4, records[3].Hash}, {8, records[7].Hash}}, wantOK: true, wantAfter: 4},
		{name: "no kept head", export: part,
			wantBreak: Break{Seq: 5, Kind: BreakDeleted, Message: "verifies from a head kept for the event before it: --head 4:HASH"}},
		{name: "a kept head for another event", export: part, kept: []Head{{8, records[7].Hash}},
			wantBreak: Break{Seq: 5, Kind: BreakDeleted, Message: "--head 4:HASH"}},
		{name: "hashed onto another event 4", export: exportOf(forged[4:]), kept: []Head{{4, records[3].Hash}}, wantAfter: 4,
			wantBreak: Break{Seq: 4, Kind: BreakRewritten, Message: "the export does not continue the chain you kept"}},
		{name: "an event modified", export: tampered, kept: []Head{{4, records[3].Hash}}, wantAfter: 4,
			wantBreak: Break{Seq: 5, Kind: BreakModified, Message: "event 5 was modified"}},
		{name: "its last events cut off", export: exportOf(records[4:6]), kept: []Head{{4, records[3].Hash}, {8, records[7].Hash}}, wantAfter: 4,
			wantBreak: Break{Seq: 8, Kind: BreakTruncated, Message: "the log ends at event 6"}},
		// An export after the newest event is empty: it shows nothing of
		// the chain, so it does not verify, but nor does it show events
		// removed.
		{name: "empty", export: "", kept: []Head{{4, records[3].Hash}},
			wantBreak: Break{Seq: 4, Kind: BreakTruncated, Message: "the export holds no events, so it cannot show event 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := VerifyExport(strings.NewReader(tt.export), tt.kept...)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tt.wantOK || res.After != tt.wantAfter {
				t.Errorf("VerifyExport = %+v %+v, want ok %v after %d", res, res.Broken, tt.wantOK, tt.wantAfter)
			}
			if tt.wantOK {
				if res.Events != 4 || res.HeadSeq != 8 || res.HeadHash != records[7].Hash {
					t.Errorf("VerifyExport = %+v, want 4 events to head 8 %s", res, records[7].Hash)
				}
				return
			}
			if b := res.Broken; b == nil || b.Kind != tt.wantBreak.Kind || b.Seq != tt.wantBreak.Seq || !strings.Contains(b.Message, tt.wantBreak.Message) {
				t.Errorf("VerifyExport break = %+v, want %+v", b, tt.wantBreak)
			}
		})
	}

	// Heads it cannot check are bad input, never a pass.
	for _, kept := range [][]Head{
		{{4, records[3].Hash}, {2, records[1].Hash}},
		{{4, records[3].Hash}, {4, records[2].Hash}},
	} {
		if res, err := VerifyExport(strings.NewReader(part), kept...); err == nil {
			t.Errorf("VerifyExport(kept %v) = %+v %+v, want an error", kept, res, res.Broken)
		}
	}
}

// An event's policy is encoded last, and left out when there is none: the
// bodies of events recorded before it was kept are the bytes they were,
// and hash as they did.
func TestBodyPolicyLast(t *testing.T) {
	e := promote.AuditEvent{Seq: 7, Time: time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC), Actor: "ci", Action: promote.ActionPromotionState,
		Model: "m", Version: "1", Environment: "prod", PromotionID: "pr_0123456789abcdef", Decision: "gated",
		Reasons: json.RawMessage(`[]`), Live: map[string]string{"dev": "1"}}
	const before = `{"seq":7,"time":"2026-11-25T10:00:00.5Z","actor":"ci","action":"promotion.state","model":"m","version":"1","environment":"prod","promotion_id":"pr_0123456789abcdef","decision":"gated","reasons":[],"live":{"dev":"1"}}`
	if got := string(mustBody(t, e)); got != before {
		t.Errorf("Body() without a policy =\n%s\nwant\n%s", got, before)
	}
	e.Policy = &promote.AuditPolicy{File: "policies/prod.yaml", Digest: "sha256:" + strings.Repeat("ab", 32)}
	want := strings.TrimSuffix(before, "}") + `,"policy":{"file":"policies/prod.yaml","digest":"sha256:` + strings.Repeat("ab", 32) + `"}}`
	if got := string(mustBody(t, e)); got != want {
		t.Errorf("Body() with a policy =\n%s\nwant\n%s", got, want)
	}
}

// The digests of the metrics a gate judged are encoded after its policy,
// and left out when there are none. A chain of events recorded before
// Promote kept either, stored as the bytes they were, verifies with the
// events that have both appended to it, in a store and in an export.
func TestBodyMetricsLast(t *testing.T) {
	cand, base := "sha256:"+strings.Repeat("cd", 32), "sha256:"+strings.Repeat("ef", 32)
	e := promote.AuditEvent{Seq: 3, Time: time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC), Actor: "ci", Action: promote.ActionPromotionState,
		Model: "m", Version: "2", Environment: "prod", PromotionID: "pr_0123456789abcdef", Decision: "gated", Reasons: json.RawMessage(`[]`),
		Policy:  &promote.AuditPolicy{File: "policies/prod.yaml", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Metrics: &promote.AuditMetrics{Candidate: cand, Baseline: base}}
	const withPolicy = `{"seq":3,"time":"2026-11-25T10:00:00.5Z","actor":"ci","action":"promotion.state","model":"m","version":"2","environment":"prod","promotion_id":"pr_0123456789abcdef","decision":"gated","reasons":[],"policy":{"file":"policies/prod.yaml","digest":"sha256:abababababababababababababababababababababababababababababababab"}`
	want := withPolicy + `,"metrics":{"candidate":"` + cand + `","baseline":"` + base + `"}}`
	if got := string(mustBody(t, e)); got != want {
		t.Errorf("Body() with both digests =\n%s\nwant\n%s", got, want)
	}
	e.Metrics.Baseline = ""
	want = withPolicy + `,"metrics":{"candidate":"` + cand + `"}}`
	if got := string(mustBody(t, e)); got != want {
		t.Errorf("Body() without a baseline =\n%s\nwant\n%s", got, want)
	}
	e.Metrics = nil
	if got := string(mustBody(t, e)); got != withPolicy+"}" {
		t.Errorf("Body() without metrics =\n%s\nwant\n%s}", got, withPolicy)
	}

	// Events 1 and 2 as an earlier release wrote them, byte for byte,
	// then event 3 with the policy and the metrics' digests.
	bodies := [][]byte{
		[]byte(`{"seq":1,"time":"2026-11-20T09:00:00Z","actor":"ci","action":"promotion.state","model":"m","version":"1","environment":"prod","promotion_id":"pr_00000000000000aa","decision":"gated","reasons":[]}`),
		[]byte(`{"seq":2,"time":"2026-11-21T09:00:00Z","actor":"ci","action":"promotion.state","model":"m","version":"1","environment":"prod","promotion_id":"pr_00000000000000aa","decision":"approved","reasons":["allowed by the gate; no approval needed"],"policy":{"file":"policies/prod.yaml","digest":"sha256:abababababababababababababababababababababababababababababababab"}}`),
		mustBody(t, promote.AuditEvent{Seq: 3, Time: e.Time, Actor: "ci", Action: promote.ActionPromotionState, Decision: "gated",
			Metrics: &promote.AuditMetrics{Candidate: cand, Baseline: base}}),
	}
	var records []promote.AuditRecord
	prev := promote.GenesisHash
	for i, b := range bodies {
		h := promote.ChainHash(prev, b)
		records = append(records, promote.AuditRecord{Seq: int64(i + 1), PrevHash: prev, Hash: h, Body: b})
		prev = h
	}
	if res := verify(records); !res.OK || res.HeadSeq != 3 {
		t.Errorf("verify(old events, then one with metrics) = %+v, want OK through event 3", res)
	}
	res, err := VerifyExport(strings.NewReader(exportOf(records)))
	if err != nil || !res.OK || res.HeadSeq != 3 {
		t.Errorf("VerifyExport(old events, then one with metrics) = %+v, %v; want OK through event 3", res, err)
	}
	for i, r := range records[:2] {
		ev, err := r.Event()
		if err != nil {
			t.Fatal(err)
		}
		if body := mustBody(t, ev); string(body) != string(bodies[i]) {
			t.Errorf("old event %d re-encodes as\n%s\nwant the bytes it was\n%s", r.Seq, body, bodies[i])
		}
	}
}

func TestParseHead(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	if h, err := ParseHead(" 68:" + strings.ToUpper(hash) + "\n"); err != nil || h != (Head{68, hash}) {
		t.Errorf("ParseHead = %+v, %v", h, err)
	}
	for _, bad := range []string{"", "68", ":" + hash, "0:" + hash, "-1:" + hash, "x:" + hash, "68:" + hash[:63], "68:" + hash + "0", "68:" + strings.Repeat("g", 64), "+68:" + hash} {
		if _, err := ParseHead(bad); err == nil || !strings.Contains(err.Error(), "head") {
			t.Errorf("ParseHead(%q) = %v, want an error naming the head", bad, err)
		}
	}
}

// An export line is one JSON object: anything after it is an error, as
// for any other line that is not an export line.
func TestVerifyExportTrailingContent(t *testing.T) {
	r := chain(t, 1)[0]
	line, _ := json.Marshal(Line{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Body: string(r.Body)})
	if res, err := VerifyExport(strings.NewReader(string(line) + "  \n")); err != nil || !res.OK {
		t.Fatalf("VerifyExport(a line with trailing blanks) = %+v, %v", res, err)
	}
	for _, tail := range []string{"garbage", "{}", ` {"seq":2}`} {
		if _, err := VerifyExport(strings.NewReader(string(line) + tail + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("VerifyExport(line + %q) error = %v, want one naming line 1", tail, err)
		}
	}
}

// FuzzColumnsMatch checks the copies' fast path against the decoding one:
// columnsMatch never accepts copies that columnsAgree refuses, and both
// accept an event's own copies, its time whatever its nanoseconds.
func FuzzColumnsMatch(f *testing.F) {
	f.Add(int64(1_764_151_200_120_000_000), int64(0), "lena", "credit-risk", "2", "prod", "pr_508d4c30406ca72a", "tok_3f9c2a71d04b8e65", "", "", "")
	f.Add(int64(-1), int64(1), `a "b" \c`, "m", "", "", "", "", "x", "", "")
	f.Add(int64(0), int64(-1_000_000_000), "x", "", "", "", "", "", "", "prod", "")
	f.Add(int64(0), int64(0), "x", "m", "", "", "", "", "", "", "tok_0000000000000001")
	f.Fuzz(func(t *testing.T, nanos, shift int64, actor, model, version, env, promotion, token, cModel, cEnv, cToken string) {
		for _, s := range []string{actor, model, version, env, promotion, token, cModel, cEnv, cToken} {
			if !utf8.ValidString(s) {
				t.Skip() // names are valid UTF-8 (promote.ValidateName); the encoder would replace the bytes
			}
		}
		at := time.Unix(0, nanos).UTC()
		e := promote.AuditEvent{Seq: 3, Time: at, Actor: actor, Action: promote.ActionHoldSet, Model: model, Version: version,
			Environment: env, PromotionID: promotion, TokenID: token, Reasons: json.RawMessage(`["a reason"]`)}
		body, err := e.Body()
		if err != nil {
			t.Skip()
		}
		own := promote.AuditColumns{Time: at, Model: model, Version: version, Environment: env, PromotionID: promotion,
			Action: e.Action, Actor: actor, TokenID: token}
		if _, _, _, ok := columnsAgree(promote.AuditRecord{Body: body, Columns: &own}); !ok {
			t.Fatalf("columnsAgree(%s) refuses the event's own copies %+v", body, own)
		}
		other := own
		other.Time = at.Add(time.Duration(shift))
		if cModel != "" {
			other.Model = cModel
		}
		if cEnv != "" {
			other.Environment = cEnv
		}
		if cToken != "" {
			other.TokenID = cToken
		}
		if columnsMatch(body, &other) {
			if field, stored, said, ok := columnsAgree(promote.AuditRecord{Body: body, Columns: &other}); !ok {
				t.Fatalf("columnsMatch(%s, %+v) = true, but its %s is %q, not %q", body, other, field, stored, said)
			}
		}
	})
}

// memChain is a store's audit log in memory: its records, and the heads
// its AuditHead returns, one a call (the last again once they run out),
// as a store whose head moves between two reads would.
type memChain struct {
	records []promote.AuditRecord
	heads   []Head
}

func (c *memChain) ScanAudit(_ context.Context, after int64, fn func(promote.AuditRecord) error) error {
	for _, r := range c.records {
		if r.Seq <= after {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (c *memChain) AuditHead(context.Context) (int64, string, error) {
	h := c.heads[0]
	if len(c.heads) > 1 {
		c.heads = c.heads[1:]
	}
	return h.Seq, h.Hash, nil
}

// TestVerifyPastTheHead: a store moves its head with every append, so an
// event past the head is one added to the log alone. Hashed onto the last
// real event, it passes every check of the chain; the head, read again
// after the scan, shows it, and tells it from an event appended during
// the scan, which moved the head too.
func TestVerifyPastTheHead(t *testing.T) {
	records := chain(t, 6)
	forged := promote.AuditEvent{Seq: 6, Time: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), Actor: "mallory",
		Action: promote.ActionPromotionApproval, Model: "m", Version: "1", Environment: "prod", Decision: "approved"}
	body, err := forged.Body()
	if err != nil {
		t.Fatal(err)
	}
	withForged := append(slices.Clone(records[:5]), promote.AuditRecord{Seq: 6, PrevHash: records[4].Hash, Hash: promote.ChainHash(records[4].Hash, body), Body: body})
	head := func(n int) Head {
		if n == 0 {
			return Head{0, promote.GenesisHash}
		}
		return Head{int64(n), records[n-1].Hash}
	}
	tests := []struct {
		name     string
		records  []promote.AuditRecord
		heads    []Head
		want     *Break
		wantHead int64
	}{
		{"the head at the end", records, []Head{head(6)}, nil, 6},
		{"an event appended during the scan", records, []Head{head(5), head(6)}, nil, 6},
		{"events appended during and after the scan", records[:5], []Head{head(4), head(6)}, nil, 5},
		{"an event added past the head", withForged, []Head{head(5)}, &Break{Seq: 6, Kind: BreakInserted,
			Message: "event 6 comes after the store's head, event 5: it was added to the log without moving the head, which every append moves"}, 5},
		{"events added past the head", records, []Head{head(3)}, &Break{Seq: 4, Kind: BreakInserted,
			Message: "event 4 comes after the store's head, event 3: it was added to the log without moving the head, which every append moves"}, 3},
		{"an event added to a log with no head", records[:1], []Head{head(0)}, &Break{Seq: 1, Kind: BreakInserted,
			Message: "event 1 comes after the store's head, which records no event: it was added to the log without moving the head, which every append moves"}, 0},
		{"an event added past the head moved during the scan", withForged, []Head{head(4), head(5)}, &Break{Seq: 6, Kind: BreakInserted,
			Message: "event 6 comes after the store's head, event 5: it was added to the log without moving the head, which every append moves"}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(t.Context(), &memChain{records: tt.records, heads: tt.heads})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != (tt.want == nil) || (tt.want != nil && *res.Broken != *tt.want) {
				t.Fatalf("Verify = %+v %+v, want %+v", res, res.Broken, tt.want)
			}
			if res.HeadSeq != tt.wantHead {
				t.Errorf("Verify's HeadSeq = %d, want %d (the last event verified)", res.HeadSeq, tt.wantHead)
			}
		})
	}
}
