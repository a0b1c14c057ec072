package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// testSessions checks the web UI's sessions: stored by the hash of their
// ID, found until they expire, deleted one by one or swept when expired.
func testSessions(t *testing.T, s promote.Store) {
	session := func(id string, created, expires int) promote.Session {
		return promote.Session{IDHash: strings.Repeat(id, 64/len(id)), TokenHash: "tok-" + id, CSRF: "csrf-" + id,
			CreatedAt: at(created), ExpiresAt: at(expires)}
	}
	get := func(idHash string, now time.Time) (promote.Session, error) {
		var got promote.Session
		err := s.View(t.Context(), func(tx promote.Tx) (err error) {
			got, err = tx.Session(idHash, now)
			return err
		})
		return got, err
	}
	a, b, c := session("a1", 0, 60), session("b2", 1, 10), session("c3", 2, 20)
	update(t, s, func(tx promote.Tx) error {
		for _, ses := range []promote.Session{a, b, c} {
			if err := tx.CreateSession(ses); err != nil {
				return err
			}
		}
		return nil
	})

	t.Run("Get", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			now  time.Time
			want promote.Session
			code promote.Code
		}{
			{"live", a.IDHash, at(5), a, ""},
			{"just before expiry", b.IDHash, at(10).Add(-time.Nanosecond), b, ""},
			{"at expiry", b.IDHash, at(10), promote.Session{}, promote.NotFound},
			{"after expiry", c.IDHash, at(30), promote.Session{}, promote.NotFound},
			{"unknown", strings.Repeat("ff", 32), at(5), promote.Session{}, promote.NotFound},
			{"zero time", a.IDHash, time.Time{}, promote.Session{}, promote.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := get(tt.id, tt.now)
				if tt.code != "" {
					wantError(t, "Session("+tt.name+")", err, tt.code)
					return
				}
				if err != nil {
					t.Fatalf("Session(%s) = %v", tt.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Session(%s) mismatch (-want +got):\n%s", tt.name, diff)
				}
			})
		}
	})

	t.Run("CreateRefuses", func(t *testing.T) {
		tests := []struct {
			name string
			ses  promote.Session
			code promote.Code
		}{
			{"taken ID", promote.Session{IDHash: a.IDHash, TokenHash: "other", CSRF: "other", CreatedAt: at(3), ExpiresAt: at(9)}, promote.Conflict},
			{"no ID", promote.Session{TokenHash: "t", CSRF: "c", CreatedAt: at(3), ExpiresAt: at(9)}, promote.Invalid},
			{"no token hash", promote.Session{IDHash: "d4", CSRF: "c", CreatedAt: at(3), ExpiresAt: at(9)}, promote.Invalid},
			{"no form token", promote.Session{IDHash: "d4", TokenHash: "t", CreatedAt: at(3), ExpiresAt: at(9)}, promote.Invalid},
			{"expires before created", promote.Session{IDHash: "d4", TokenHash: "t", CSRF: "c", CreatedAt: at(3), ExpiresAt: at(3)}, promote.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.Update(t.Context(), func(tx promote.Tx) error { return tx.CreateSession(tt.ses) })
				wantError(t, "CreateSession("+tt.name+")", err, tt.code)
			})
		}
		// The taken ID kept its session.
		if got, err := get(a.IDHash, at(5)); err != nil || got.TokenHash != a.TokenHash {
			t.Errorf("after a conflicting create, Session(a) = %+v, %v; want the first one", got, err)
		}
		if _, err := get("d4", at(5)); promote.ErrorCode(err) != promote.NotFound {
			t.Errorf("Session(d4) after refused creates = %v, want NotFound", err)
		}
	})

	t.Run("RolledBack", func(t *testing.T) {
		d := session("d4", 3, 40)
		boom := fmt.Errorf("boom")
		if err := s.Update(t.Context(), func(tx promote.Tx) error {
			if err := tx.CreateSession(d); err != nil {
				return err
			}
			return boom
		}); err != boom {
			t.Fatalf("Update() = %v, want the function's error", err)
		}
		if _, err := get(d.IDHash, at(5)); promote.ErrorCode(err) != promote.NotFound {
			t.Errorf("a session created in a rolled-back transaction: Session = %v, want NotFound", err)
		}
	})

	t.Run("Sweep", func(t *testing.T) {
		// At minute 25, b (expired at 10) and c (at 20) have expired; a
		// (at 60) has not. A limit of 1 takes the longest expired first.
		var n1, n2, n3 int
		update(t, s, func(tx promote.Tx) (err error) {
			n1, err = tx.DeleteExpiredSessions(at(25), 1)
			return err
		})
		if n1 != 1 {
			t.Errorf("DeleteExpiredSessions(limit 1) = %d, want 1", n1)
		}
		// Reading as of minute 5 sees what is still stored.
		if _, err := get(b.IDHash, at(5)); promote.ErrorCode(err) != promote.NotFound {
			t.Errorf("after the first sweep, b (expired first) is still stored: %v", err)
		}
		if _, err := get(c.IDHash, at(5)); err != nil {
			t.Errorf("after the first sweep, c (expired later) = %v, want it kept by the limit", err)
		}
		update(t, s, func(tx promote.Tx) (err error) {
			if n2, err = tx.DeleteExpiredSessions(at(25), 10); err != nil {
				return err
			}
			n3, err = tx.DeleteExpiredSessions(at(25), 10)
			return err
		})
		if n2 != 1 || n3 != 0 {
			t.Errorf("DeleteExpiredSessions again, and a third time = %d, %d; want 1, 0", n2, n3)
		}
		if _, err := get(c.IDHash, at(5)); promote.ErrorCode(err) != promote.NotFound {
			t.Errorf("after the second sweep, c is still stored: %v", err)
		}
		if got, err := get(a.IDHash, at(25)); err != nil || got.IDHash != a.IDHash {
			t.Errorf("the sweep deleted a live session: %+v, %v", got, err)
		}
		err := s.Update(t.Context(), func(tx promote.Tx) error {
			_, err := tx.DeleteExpiredSessions(at(25), 0)
			return err
		})
		wantError(t, "DeleteExpiredSessions(limit 0)", err, promote.Invalid)
	})

	t.Run("Delete", func(t *testing.T) {
		update(t, s, func(tx promote.Tx) error { return tx.DeleteSession(a.IDHash) })
		if _, err := get(a.IDHash, at(5)); promote.ErrorCode(err) != promote.NotFound {
			t.Errorf("Session after DeleteSession = %v, want NotFound", err)
		}
		// Deleting it again, or one never stored, does nothing.
		update(t, s, func(tx promote.Tx) error { return tx.DeleteSession(a.IDHash) })
		update(t, s, func(tx promote.Tx) error { return tx.DeleteSession(strings.Repeat("ee", 32)) })
	})

	t.Run("ReadOnly", func(t *testing.T) {
		err := s.View(t.Context(), func(tx promote.Tx) error { return tx.CreateSession(session("e5", 0, 9)) })
		if err == nil {
			t.Error("CreateSession in View succeeded, want an error")
		}
	})
}
