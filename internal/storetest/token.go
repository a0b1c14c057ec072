package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

func testTokens(t *testing.T, s promote.Store) {
	tokens := []promote.Token{
		{ID: "t1", Name: "ci", Role: promote.RoleSubmitter, Hash: "aa11", CreatedBy: "admin", CreatedAt: at(1)},
		{ID: "t2", Name: "carol", Role: promote.RoleApprover, Groups: []string{"ml-lead", "risk"}, Hash: "bb22",
			CreatedBy: "admin", CreatedAt: at(2)},
		{ID: "t3", Name: "root", Role: promote.RoleAdmin, Hash: "cc33", CreatedBy: "init", CreatedAt: at(3)},
	}
	update(t, s, func(tx promote.Tx) error {
		for _, tok := range tokens {
			if err := tx.CreateToken(tok); err != nil {
				return err
			}
		}
		return nil
	})
	revoked := at(10)
	update(t, s, func(tx promote.Tx) error { return tx.RevokeToken("t1", revoked) })
	tokens[0].RevokedAt = &revoked

	tests := []struct {
		hash string
		want promote.Token
	}{
		{"aa11", tokens[0]}, // revoked tokens are found too: the caller refuses them
		{"bb22", tokens[1]},
		{"cc33", tokens[2]},
	}
	for _, tt := range tests {
		t.Run(tt.hash, func(t *testing.T) {
			view(t, s, func(tx promote.Tx) error {
				got, err := tx.TokenByHash(tt.hash)
				if err != nil {
					return err
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("TokenByHash(%q) mismatch (-want +got):\n%s", tt.hash, diff)
				}
				return nil
			})
		})
	}
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Tokens()
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Token{tokens[2], tokens[1], tokens[0]}, got); diff != "" {
			t.Errorf("Tokens() mismatch, want newest first (-want +got):\n%s", diff)
		}
		return nil
	})
}
