package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/promote"
)

// RunTamper checks that audit verification catches every kind of direct
// tampering with the database: open returns a store and a raw connection
// to the same database, through which the test edits the audit table as an
// attacker with database access would. Queries use $1-style parameters,
// which both SQLite and PostgreSQL accept.
func RunTamper(t *testing.T, open func(t *testing.T) (promote.Store, *sql.DB)) {
	tests := []struct {
		name   string
		tamper func(ctx context.Context, t *testing.T, db *sql.DB)
		seq    int64
		kind   string
	}{
		{"an event's body modified", func(ctx context.Context, t *testing.T, db *sql.DB) {
			body := readBody(ctx, t, db, 5)
			exec(ctx, t, db, "UPDATE audit_events SET body = $1 WHERE seq = 5", bytes.Replace(body, []byte(`"alice"`), []byte(`"mallory"`), 1))
		}, 5, audit.BreakModified},
		{"an event modified and its hash recomputed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			body := bytes.Replace(readBody(ctx, t, db, 5), []byte(`"alice"`), []byte(`"mallory"`), 1)
			var prev string
			if err := db.QueryRowContext(ctx, "SELECT prev_hash FROM audit_events WHERE seq = 5").Scan(&prev); err != nil {
				t.Fatal(err)
			}
			// A careful forger updates the indexed copy too, or the
			// event itself would be reported as modified.
			exec(ctx, t, db, "UPDATE audit_events SET body = $1, actor = 'mallory' WHERE seq = 5", body)
			exec(ctx, t, db, "UPDATE audit_events SET hash = $1 WHERE seq = 5", promote.ChainHash(prev, body))
		}, 6, audit.BreakReordered},
		{"an event's stored hash replaced", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET hash = $1 WHERE seq = 7", promote.GenesisHash)
		}, 7, audit.BreakModified},
		{"an event deleted", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "DELETE FROM audit_events WHERE seq = 4")
		}, 5, audit.BreakDeleted},
		{"the first event deleted", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "DELETE FROM audit_events WHERE seq = 1")
		}, 2, audit.BreakDeleted},
		{"two events swapped", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET seq = -3 WHERE seq = 3")
			exec(ctx, t, db, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
			exec(ctx, t, db, "UPDATE audit_events SET seq = 4 WHERE seq = -3")
		}, 3, audit.BreakReordered},
		{"an event inserted and the log renumbered", func(ctx context.Context, t *testing.T, db *sql.DB) {
			var prev string
			if err := db.QueryRowContext(ctx, "SELECT hash FROM audit_events WHERE seq = 5").Scan(&prev); err != nil {
				t.Fatal(err)
			}
			exec(ctx, t, db, "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 5")
			exec(ctx, t, db, "UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000")
			forge(ctx, t, db, prev, promote.AuditEvent{Seq: 6, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Actor: "mallory",
				Action: promote.ActionLiveChanged, Model: "m", Version: "6", Environment: "prod"})
		}, 7, audit.BreakInserted},
		{"an event deleted and the log renumbered", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "DELETE FROM audit_events WHERE seq = 4")
			exec(ctx, t, db, "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 4")
			exec(ctx, t, db, "UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000")
			exec(ctx, t, db, "UPDATE audit_head SET seq = 9, hash = (SELECT hash FROM audit_events WHERE seq = 9) WHERE id = 1")
		}, 4, audit.BreakReordered},
		// The filters of the audit list read these copies, not the body:
		// an edited copy hides an event from, or adds it to, a filtered
		// list ("who approved in prod") while the chain stays whole.
		{"an event's indexed actor changed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET actor = 'bob' WHERE seq = 6")
		}, 6, audit.BreakModified},
		{"an event's indexed version changed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET version = '99' WHERE seq = 7")
		}, 7, audit.BreakModified},
		// After a token leaks, its events are listed by the copy of
		// their token ID: an edited copy would hide what it did, or
		// lay another token's events at its door.
		{"an event's indexed token ID changed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET token_id = 'tok_00000000000000b2' WHERE seq = 5")
		}, 5, audit.BreakModified},
		{"an event's indexed token ID emptied", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET token_id = '' WHERE seq = 3")
		}, 3, audit.BreakModified},
		{"a token ID given to an event made without one", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET token_id = 'tok_00000000000000a1' WHERE seq = 4")
		}, 4, audit.BreakModified},
		{"an event's indexed copies shifted by a separator", func(ctx context.Context, t *testing.T, db *sql.DB) {
			// A copy that holds the separator ScanAudit joins the
			// copies with is reported, never split into shifted fields.
			exec(ctx, t, db, "UPDATE audit_events SET model = $1, version = '' WHERE seq = 4", "m\x1f3")
		}, 4, audit.BreakModified},
		{"an event's indexed time changed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			// Moved a second later, out of a time range it belongs to.
			exec(ctx, t, db, "UPDATE audit_events SET at = at + 1000000000 WHERE seq = 5")
		}, 5, audit.BreakModified},
		{"an event's indexed time moved by a nanosecond", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET at = at - 1 WHERE seq = 3")
		}, 3, audit.BreakModified},
		{"an event's indexed environment changed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET environment = 'staging' WHERE seq = 8")
		}, 8, audit.BreakModified},
		{"an event's indexed model, promotion and action changed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "UPDATE audit_events SET model = 'other', promotion_id = 'pr_0000000000000000', action = 'hold.set' WHERE seq = 9")
		}, 9, audit.BreakModified},
		// The chain alone cannot show a cut or rewritten end; the store's
		// head (audit_head, moved by every append) can, unless it was
		// moved back too.
		{"the last events deleted", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "DELETE FROM audit_events WHERE seq > 7")
		}, 10, audit.BreakTruncated},
		{"every event deleted", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "DELETE FROM audit_events")
		}, 10, audit.BreakTruncated},
		{"the last events rewritten and rehashed", func(ctx context.Context, t *testing.T, db *sql.DB) {
			var prev string
			if err := db.QueryRowContext(ctx, "SELECT hash FROM audit_events WHERE seq = 7").Scan(&prev); err != nil {
				t.Fatal(err)
			}
			for seq := 8; seq <= 10; seq++ {
				body := bytes.Replace(readBody(ctx, t, db, int64(seq)), []byte(`"alice"`), []byte(`"mallory"`), 1)
				prev = promote.ChainHash(prev, body)
				exec(ctx, t, db, "UPDATE audit_events SET body = $1, hash = $2, prev_hash = (SELECT hash FROM audit_events WHERE seq = $3), actor = 'mallory' WHERE seq = $4",
					body, prev, seq-1, seq)
			}
		}, 10, audit.BreakRewritten},
		// Every append moves the head in its transaction: an event past
		// it was added to the table alone, hashed onto the last real one.
		{"an event appended without moving the store's head", func(ctx context.Context, t *testing.T, db *sql.DB) {
			var prev string
			if err := db.QueryRowContext(ctx, "SELECT hash FROM audit_events WHERE seq = 10").Scan(&prev); err != nil {
				t.Fatal(err)
			}
			forge(ctx, t, db, prev, promote.AuditEvent{Seq: 11, Time: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), Actor: "mallory",
				Action: promote.ActionPromotionApproval, Model: "m", Version: "9", Environment: "prod", Decision: "approved"})
		}, 11, audit.BreakInserted},
		{"the last events deleted and the store's head moved back", func(ctx context.Context, t *testing.T, db *sql.DB) {
			exec(ctx, t, db, "DELETE FROM audit_events WHERE seq > 7")
			exec(ctx, t, db, "UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit_events WHERE seq = 7) WHERE id = 1")
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store, db := open(t)
			appendEvents(ctx, t, store, 10)
			before, err := audit.Verify(ctx, store)
			if err != nil || !before.OK || before.Events != 10 {
				t.Fatalf("Verify before tampering = %+v, %v", before, err)
			}
			kept := audit.Head{Seq: before.HeadSeq, Hash: before.HeadHash}
			tt.tamper(ctx, t, db)
			res, err := audit.Verify(ctx, store)
			if err != nil {
				t.Fatal(err)
			}
			if tt.kind == "" {
				// What a head kept outside the database must catch
				// (docs/audit.md), and does (promote audit verify
				// --head): the head before the tampering.
				if !res.OK {
					t.Fatalf("Verify after %s = %+v %+v, want ok", tt.name, res, res.Broken)
				}
				res, err := audit.Verify(ctx, store, kept)
				if err != nil {
					t.Fatal(err)
				}
				if res.OK || res.Broken.Seq != kept.Seq || res.Broken.Kind != audit.BreakTruncated || !strings.Contains(res.Broken.Message, audit.KeptHead) {
					t.Fatalf("Verify with the head kept before %s = %+v %+v, want truncated at %d", tt.name, res, res.Broken, kept.Seq)
				}
				return
			}
			if res.OK || res.Broken == nil || res.Broken.Seq != tt.seq || res.Broken.Kind != tt.kind {
				t.Fatalf("Verify after %s = %+v %+v, want broken at %d (%s)", tt.name, res, res.Broken, tt.seq, tt.kind)
			}
		})
	}
}

// RunTamperedHead checks what the store says when its audit head, the row
// every append moves, no longer matches the events: writes are refused,
// naming the tampering, and change nothing; verification says the head is
// gone. open is as for RunTamper.
func RunTamperedHead(t *testing.T, open func(t *testing.T) (promote.Store, *sql.DB)) {
	appendOne := func(ctx context.Context, s promote.Store) error {
		return s.Update(ctx, func(tx promote.Tx) error {
			_, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Actor: "alice",
				Action: promote.ActionModelCreated, Model: "n"})
			return err
		})
	}
	count := func(ctx context.Context, t *testing.T, db *sql.DB) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM audit_events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const outside = "edited outside Promote"
	t.Run("an append onto an event added past the store's head", func(t *testing.T) {
		ctx := context.Background()
		store, db := open(t)
		appendEvents(ctx, t, store, 10)
		var prev string
		if err := db.QueryRowContext(ctx, "SELECT hash FROM audit_events WHERE seq = 10").Scan(&prev); err != nil {
			t.Fatal(err)
		}
		forge(ctx, t, db, prev, promote.AuditEvent{Seq: 11, Time: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), Actor: "mallory",
			Action: promote.ActionPromotionApproval, Model: "m", Version: "9", Environment: "prod", Decision: "approved"})
		err := appendOne(ctx, store)
		// Not a Conflict, which a client may retry: no retry can pass.
		if err == nil || promote.ErrorCode(err) != promote.Internal || !strings.Contains(err.Error(), "event 11") || !strings.Contains(err.Error(), outside) {
			t.Fatalf("AppendAudit after an event added past the head = %v (%s), want an internal error naming event 11 and saying the log was %s", err, promote.ErrorCode(err), outside)
		}
		if seq, _, err := store.AuditHead(ctx); err != nil || seq != 10 || count(ctx, t, db) != 11 {
			t.Fatalf("after the refused append: head %d, %v, %d events; want head 10 and the 11 events there were", seq, err, count(ctx, t, db))
		}
	})
	t.Run("the store's head removed", func(t *testing.T) {
		ctx := context.Background()
		store, db := open(t)
		appendEvents(ctx, t, store, 10)
		exec(ctx, t, db, "DELETE FROM audit_head")
		for name, err := range map[string]error{
			"AppendAudit": appendOne(ctx, store),
			"Verify":      func() error { _, err := audit.Verify(ctx, store); return err }(),
			"Ping":        store.Ping(ctx),
		} {
			if err == nil || errors.Is(err, promote.ErrUnavailable) || !strings.Contains(err.Error(), "audit_head") || !strings.Contains(err.Error(), outside) {
				t.Errorf("%s without the head's row = %v, want an error naming audit_head and saying the store was %s", name, err, outside)
			}
		}
		if n := count(ctx, t, db); n != 10 {
			t.Fatalf("after the refused append: %d events, want 10", n)
		}
	})
}

func appendEvents(ctx context.Context, t *testing.T, s promote.Store, n int) {
	t.Helper()
	err := s.Update(ctx, func(tx promote.Tx) error {
		for i := 0; i < n; i++ {
			// Events 1, 3, 5, … were made with a token, the others
			// without one (as before it was recorded).
			token := ""
			if i%2 == 0 {
				token = "tok_00000000000000a1"
			}
			_, err := tx.AppendAudit(promote.AuditEvent{Time: time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC), Actor: "alice",
				Action: promote.ActionPromotionState, Model: "m", Version: fmt.Sprint(i), Environment: "prod", TokenID: token, Decision: "approved"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// forge inserts e into the audit table as its event e.Seq, hashed onto
// prev, with the indexed copies of its fields, as a careful forger would.
func forge(ctx context.Context, t *testing.T, db *sql.DB, prev string, e promote.AuditEvent) {
	t.Helper()
	body, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	exec(ctx, t, db, "INSERT INTO audit_events (seq, prev_hash, hash, body, at, model, version, environment, promotion_id, action, actor, token_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		e.Seq, prev, promote.ChainHash(prev, body), body, e.Time.UnixNano(), e.Model, e.Version, e.Environment, e.PromotionID, e.Action, e.Actor, e.TokenID)
}

func readBody(ctx context.Context, t *testing.T, db *sql.DB, seq int64) []byte {
	t.Helper()
	var body []byte
	if err := db.QueryRowContext(ctx, "SELECT body FROM audit_events WHERE seq = $1", seq).Scan(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

func exec(ctx context.Context, t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
