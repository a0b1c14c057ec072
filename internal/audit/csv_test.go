package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// A cell that a spreadsheet would read as a formula (it starts with =, +,
// -, @, a tab or a carriage return) gets a leading apostrophe, anywhere in
// the row and in the reasons' words; every field is quoted, quotes
// doubled, rows ended by CRLF (RFC 4180), so that a comma, a quote, a line
// break or a semicolon stays in its cell. A character that reorders or
// hides text (invisible.Is) is written as its code point, so that a
// spreadsheet shows it instead of obeying it.
func TestCSVWriter(t *testing.T) {
	at := time.Date(2026, 11, 26, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
	for _, tt := range []struct {
		name string
		e    promote.AuditEvent
		want []string // the row as a CSV reader reads it
		raw  string   // the row's bytes, when given
	}{
		{"plain", promote.AuditEvent{Seq: 7, Time: at, Actor: "lena", Action: "promotion.approval", Model: "credit-risk", Version: "3",
			Environment: "prod", PromotionID: "pr_1666366d7061efa4", TokenID: "tok_3f9c2a71d04b8e65", Digest: "sha256:98", Decision: "approved",
			Reasons: json.RawMessage(`{"roles":["approver"],"comment":"metrics ok"}`), Hash: "ab12"},
			[]string{"7", "2026-11-26T12:00:00.123456789Z", "lena", "promotion.approval", "credit-risk", "3", "prod", "pr_1666366d7061efa4", "tok_3f9c2a71d04b8e65", "sha256:98", "approved", "as approver: metrics ok", "ab12"},
			`"7","2026-11-26T12:00:00.123456789Z","lena","promotion.approval","credit-risk","3","prod","pr_1666366d7061efa4","tok_3f9c2a71d04b8e65","sha256:98","approved","as approver: metrics ok","ab12"` + "\r\n"},
		{"quoting", promote.AuditEvent{Seq: 8, Time: at, Actor: "ci", Action: "version.rejected", Decision: "rejected",
			Reasons: json.RawMessage(`["it said \"no\", twice;\nthen left"]`)},
			[]string{"8", "2026-11-26T12:00:00.123456789Z", "ci", "version.rejected", "", "", "", "", "", "", "rejected", "it said \"no\", twice;\nthen left", ""},
			`"8","2026-11-26T12:00:00.123456789Z","ci","version.rejected","","","","","","","rejected","it said ""no"", twice;` + "\nthen left\",\"\"\r\n"},
		{"formulas", promote.AuditEvent{Seq: 9, Time: at, Actor: "@evil", Action: "hold.set", Model: "+m", Version: "-1", Environment: "\tprod",
			PromotionID: "\rpr", TokenID: "=tok", Decision: "=1+1", Reasons: json.RawMessage(`["=HYPERLINK(\"http://x\",\"y\")"]`)},
			[]string{"9", "2026-11-26T12:00:00.123456789Z", "'@evil", "hold.set", "'+m", "'-1", "'\tprod", "'\rpr", "'=tok", "", "'=1+1", `'=HYPERLINK("http://x","y")`, ""}, ""},
		{"invisible", promote.AuditEvent{Seq: 11, Time: at, Actor: "le\u200bna", Action: "hold.set", Model: "\u202e=m", Environment: "prod\x1b[2J",
			Decision: "held", Reasons: json.RawMessage(`["cost \u2066is fine\u2069 \u202eok\ttab\nline"]`)},
			[]string{"11", "2026-11-26T12:00:00.123456789Z", "le⟨U+200B⟩na", "hold.set", "⟨U+202E⟩=m", "", "prod⟨U+001B⟩[2J", "", "", "", "held",
				"cost ⟨U+2066⟩is fine⟨U+2069⟩ ⟨U+202E⟩ok\ttab\nline", ""}, ""},
		{"not formulas", promote.AuditEvent{Seq: 10, Time: at, Actor: "a=b", Action: "hold.set", Version: "1-rc", Decision: " =x",
			Reasons: json.RawMessage(`["x;=cmd|' /C calc'!A0"]`)},
			[]string{"10", "2026-11-26T12:00:00.123456789Z", "a=b", "hold.set", "", "1-rc", "", "", "", "", " =x", "x;=cmd|' /C calc'!A0", ""}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w := NewCSVWriter(&b)
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(tt.e); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			header := `"seq","time","actor","action","model","version","environment","promotion_id","token_id","digest","decision","reasons","hash"` + "\r\n"
			if got := b.String(); len(got) < len(header) || got[:len(header)] != header {
				t.Fatalf("CSV = %q, want the header row %q first", got, header)
			}
			if tt.raw != "" && b.String()[len(header):] != tt.raw {
				t.Errorf("row = %q, want %q", b.String()[len(header):], tt.raw)
			}
			r := csv.NewReader(&b)
			rows, err := r.ReadAll()
			if err != nil {
				t.Fatalf("the CSV does not read back: %v\n%s", err, b.String())
			}
			if diff := cmp.Diff([][]string{CSVHeader, tt.want}, rows); diff != "" {
				t.Errorf("rows read back (-want +got):\n%s", diff)
			}
		})
	}
}

// ListAll reads every event once, newest first, from pages smaller than
// the log, between the filter's before and after, and ends on an empty
// page even when the lister holds its pages to fewer events than asked.
func TestListAll(t *testing.T) {
	log := make([]promote.AuditEvent, 0, 23)
	for seq := int64(23); seq >= 1; seq-- {
		log = append(log, promote.AuditEvent{Seq: seq})
	}
	calls := 0
	// list is a store that holds a page to at most 4 events.
	list := func(_ context.Context, f promote.AuditFilter) ([]promote.AuditEvent, error) {
		calls++
		if f.AfterSeq != 0 {
			return nil, errors.New("after reached the lister")
		}
		var out []promote.AuditEvent
		for _, e := range log {
			if (f.BeforeSeq == 0 || e.Seq < f.BeforeSeq) && len(out) < min(f.Limit, 4) {
				out = append(out, e)
			}
		}
		return out, nil
	}
	seqs := func(from, to int64) []int64 {
		var out []int64
		for s := from; s >= to; s-- {
			out = append(out, s)
		}
		return out
	}
	for _, tt := range []struct {
		name          string
		before, after int64
		size          int
		want          []int64
	}{
		{"all", 0, 0, 5, seqs(23, 1)},
		{"pages of one", 0, 0, 1, seqs(23, 1)},
		{"before", 20, 0, 3, seqs(19, 1)},
		{"after", 0, 17, 3, seqs(23, 18)},
		{"between", 20, 2, 3, seqs(19, 3)},
		{"nothing between", 5, 4, 3, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			err := ListAll(t.Context(), list, promote.AuditFilter{BeforeSeq: tt.before, AfterSeq: tt.after, Limit: 2}, tt.size, func(evs []promote.AuditEvent) error {
				if len(evs) == 0 {
					t.Error("fn called with an empty page")
				}
				for _, e := range evs {
					got = append(got, e.Seq)
				}
				return nil
			})
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("ListAll(before %d, after %d, size %d) = %v, %v; want %v", tt.before, tt.after, tt.size, got, err, tt.want)
			}
		})
	}
	stop := errors.New("stop")
	calls = 0
	if err := ListAll(t.Context(), list, promote.AuditFilter{}, 4, func([]promote.AuditEvent) error { return stop }); err != stop || calls != 1 {
		t.Errorf("ListAll with fn failing = %v after %d calls, want fn's error after 1", err, calls)
	}
}
