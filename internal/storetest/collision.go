package storetest

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// RunInsertCollisions checks that each insert that stands aside for a
// collision (CreatePromotion, CreateVersion, AddApproval, CreateSession,
// CreateToken, StartWebhookCursor) answers for the collisions it means and
// for no other: a row that breaks another unique index (one a later schema
// may add; here one made through db, a plain connection to s's database)
// fails as a Conflict naming that index's columns or its name, not as the
// collision meant, and nothing is stored.
func RunInsertCollisions(t *testing.T, s promote.Store, db *sql.DB) {
	seed(t, s)
	write := func(t *testing.T, fn func(tx promote.Tx) error) error {
		return s.Update(t.Context(), fn)
	}
	createPromotion := func(p promote.Promotion) func(tx promote.Tx) error {
		return func(tx promote.Tx) error { _, err := tx.CreatePromotion(p); return err }
	}
	startCursor := func(c promote.WebhookCursor) func(tx promote.Tx) error {
		return func(tx promote.Tx) error { _, err := tx.StartWebhookCursor(c); return err }
	}

	noted := promotion("p1", "fraud", "1.0", "prod", 1)
	noted.Note = "retrained on March data"
	sameNote := promotion("p3", "churn", "1.0", "staging", 4)
	sameNote.Note = noted.Note
	v2 := version("fraud", "2.0", 5)
	sameURI := version("churn", "2.0", 6)
	sameURI.ArtifactURI = v2.ArtifactURI
	approval := promote.Approval{PromotionID: "pa", Approver: "carol", Approve: true, Comment: "checked the drift report", At: at(8)}
	sameComment := approval
	sameComment.Approver = "dave"
	session := promote.Session{IDHash: strings.Repeat("a1", 32), TokenHash: "tok-a1", CSRF: "csrf-a1", CreatedAt: at(1), ExpiresAt: at(60)}
	sameTokenHash := session
	sameTokenHash.IDHash, sameTokenHash.CSRF = strings.Repeat("b2", 32), "csrf-b2"
	token := promote.Token{ID: "t1", Name: "ci", Role: promote.RoleSubmitter, Hash: "aa11", CreatedBy: "admin", CreatedAt: at(1)}
	cursor := promote.WebhookCursor{Endpoint: "ops", Seq: 2, UpdatedAt: at(20)}

	tests := []struct {
		name  string
		first func(tx promote.Tx) error // stores the row the others collide with
		meant func(t *testing.T)        // checks the collisions the insert means
		index string                    // another unique index, which a later schema may add
		other func(tx promote.Tx) error // breaks that index alone
		msgs  []string                  // the other's error must mention each
		not   string                    // and not this, the answer to a collision meant
		count string                    // counts the rows the other would store
	}{
		{
			name:  "CreatePromotion",
			first: createPromotion(noted),
			meant: func(t *testing.T) {
				wantError(t, "CreatePromotion of a taken ID", write(t, createPromotion(promotion("p1", "churn", "1.0", "staging", 2))),
					promote.Conflict, `promotion "p1" already exists`)
				wantError(t, "CreatePromotion into a held slot", write(t, createPromotion(promotion("p2", "fraud", "1.1", "prod", 3))),
					promote.Conflict, `model "fraud" already has an active promotion to "prod": p1`)
			},
			index: "CREATE UNIQUE INDEX promotions_one_note ON promotions (note) WHERE note <> ''",
			other: createPromotion(sameNote),
			msgs:  []string{`create promotion "p3"`, "note"},
			not:   "active promotion",
			count: "SELECT COUNT(*) FROM promotions WHERE id = 'p3'",
		},
		{
			name:  "CreateVersion",
			first: func(tx promote.Tx) error { return tx.CreateVersion(v2) },
			meant: func(t *testing.T) {
				again := version("fraud", "2.0", 7)
				wantError(t, "CreateVersion of a taken version", write(t, func(tx promote.Tx) error { return tx.CreateVersion(again) }),
					promote.Conflict, `version "2.0" of model "fraud" already exists`)
			},
			index: "CREATE UNIQUE INDEX versions_one_artifact_uri ON versions (artifact_uri)",
			other: func(tx promote.Tx) error { return tx.CreateVersion(sameURI) },
			msgs:  []string{`create version "2.0" of model "churn"`, "artifact_uri"},
			not:   "already exists",
			count: "SELECT COUNT(*) FROM versions WHERE model = 'churn' AND version = '2.0'",
		},
		{
			name: "AddApproval",
			first: func(tx promote.Tx) error {
				if _, err := tx.CreatePromotion(promotion("pa", "churn", "1.0", "prod", 8)); err != nil {
					return err
				}
				return tx.AddApproval(approval)
			},
			meant: func(t *testing.T) {
				again := approval
				again.Approve, again.At = false, at(9)
				wantError(t, "AddApproval by an approver who decided", write(t, func(tx promote.Tx) error { return tx.AddApproval(again) }),
					promote.Conflict, `carol has already decided on promotion "pa"`)
			},
			index: "CREATE UNIQUE INDEX approvals_one_comment ON approvals (comment) WHERE comment <> ''",
			other: func(tx promote.Tx) error { return tx.AddApproval(sameComment) },
			msgs:  []string{`add approval by "dave" to promotion "pa"`, "comment"},
			not:   "already decided",
			count: "SELECT COUNT(*) FROM approvals WHERE approver = 'dave'",
		},
		{
			name:  "CreateSession",
			first: func(tx promote.Tx) error { return tx.CreateSession(session) },
			meant: func(t *testing.T) {
				again := session
				again.TokenHash, again.CSRF = "tok-other", "csrf-other"
				wantError(t, "CreateSession of a taken ID", write(t, func(tx promote.Tx) error { return tx.CreateSession(again) }),
					promote.Conflict, "a session with the same ID exists")
			},
			index: "CREATE UNIQUE INDEX ui_sessions_one_token_hash ON ui_sessions (token_hash)",
			other: func(tx promote.Tx) error { return tx.CreateSession(sameTokenHash) },
			msgs:  []string{"create session", "token_hash"},
			not:   "same ID",
			count: "SELECT COUNT(*) FROM ui_sessions WHERE id_hash = '" + sameTokenHash.IDHash + "'",
		},
		{
			name:  "CreateToken",
			first: func(tx promote.Tx) error { return tx.CreateToken(token) },
			meant: func(t *testing.T) {
				sameID, sameHash := token, token
				sameID.Hash, sameHash.ID = "bb22", "t2"
				wantError(t, "CreateToken of a taken ID", write(t, func(tx promote.Tx) error { return tx.CreateToken(sameID) }),
					promote.Conflict, `token "t1" already exists`)
				wantError(t, "CreateToken of a taken hash", write(t, func(tx promote.Tx) error { return tx.CreateToken(sameHash) }),
					promote.Conflict, `token "t2": another token has the same secret`)
			},
			index: "CREATE UNIQUE INDEX tokens_one_name ON tokens (name)",
			other: func(tx promote.Tx) error {
				return tx.CreateToken(promote.Token{ID: "t3", Name: token.Name, Role: promote.RoleViewer, Hash: "cc33", CreatedAt: at(2)})
			},
			msgs:  []string{`create token "t3"`, "name"},
			not:   "same secret",
			count: "SELECT COUNT(*) FROM tokens WHERE id = 't3'",
		},
		{
			name:  "StartWebhookCursor",
			first: startCursor(cursor),
			meant: func(t *testing.T) {
				var got promote.WebhookCursor
				err := write(t, func(tx promote.Tx) (err error) {
					got, err = tx.StartWebhookCursor(promote.WebhookCursor{Endpoint: "ops", Seq: 9, UpdatedAt: at(21)})
					return err
				})
				if err != nil || got.Seq != cursor.Seq {
					t.Errorf("StartWebhookCursor(ops) again = seq %d, %v, want the stored cursor's seq %d", got.Seq, err, cursor.Seq)
				}
			},
			index: "CREATE UNIQUE INDEX webhook_cursors_one_seq ON webhook_cursors (seq)",
			other: startCursor(promote.WebhookCursor{Endpoint: "audit", Seq: cursor.Seq, UpdatedAt: at(22)}),
			msgs:  []string{`start webhook cursor "audit"`, "seq"},
			not:   "not found",
			count: "SELECT COUNT(*) FROM webhook_cursors WHERE endpoint = 'audit'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			update(t, s, tt.first)
			tt.meant(t)
			if _, err := db.ExecContext(t.Context(), tt.index); err != nil {
				t.Fatal(err)
			}
			err := write(t, tt.other)
			wantError(t, tt.name+" breaking another unique index", err, promote.Conflict, tt.msgs...)
			if err != nil && strings.Contains(err.Error(), tt.not) {
				t.Errorf("%s breaking another unique index = %v, want no word of %q: that is not what collided", tt.name, err, tt.not)
			}
			var n int
			if err := db.QueryRowContext(t.Context(), tt.count).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s breaking another unique index stored %d rows (%s), want 0", tt.name, n, tt.count)
			}
		})
	}
}
