package registry_test

import (
	"context"
	"sync"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// viewHook is a store that calls after, once, when a View returns: a
// change made by another request between a read and what the reader does
// with it.
type viewHook struct {
	promote.Store
	mu    sync.Mutex
	after func()
}

func (s *viewHook) View(ctx context.Context, fn func(promote.Tx) error) error {
	err := s.Store.View(ctx, fn)
	s.mu.Lock()
	after := s.after
	s.after = nil
	s.mu.Unlock()
	if after != nil {
		after()
	}
	return err
}

func (s *viewHook) arm(after func()) {
	s.mu.Lock()
	s.after = after
	s.mu.Unlock()
}

// A token revoked while a request was checking it is refused from then
// on: the check that read it before the revocation may not put it back in
// the token cache after the revocation emptied it, where it would be taken
// for valid until the cache entry expires.
func TestRevocationDuringAuthenticationSticks(t *testing.T) {
	var store *viewHook
	f := newFixtureWith(t, func(t *testing.T, dir string) promote.Store {
		store = &viewHook{Store: openSQLite(t, dir)}
		return store
	}, policyYAML)
	ctx := context.Background()
	secret, tok, err := f.svc.CreateToken(ctx, admin, registry.TokenRequest{Name: "lena", Role: promote.RoleApprover, Groups: []string{"ml-lead"}})
	if err != nil {
		t.Fatal(err)
	}
	store.arm(func() {
		if err := f.svc.RevokeToken(ctx, admin, tok.ID); err != nil {
			t.Errorf("RevokeToken = %v", err)
		}
	})
	// This request read the token before it was revoked: it may pass.
	if _, err := f.svc.Authenticate(ctx, secret); err != nil {
		t.Fatalf("Authenticate, in flight when the token was revoked = %v", err)
	}
	if who, err := f.svc.Authenticate(ctx, secret); promote.ErrorCode(err) != promote.Unauthorized {
		t.Errorf("Authenticate after the revocation = %+v, %v, want Unauthorized", who, err)
	}
}
