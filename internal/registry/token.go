package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/promote-ml/promote/promote"
)

// TokenPrefix starts every token secret, so that a leaked one is easy to
// recognise (and to scan for).
const TokenPrefix = "prm_"

// HashToken returns the stored form of a token secret: hex SHA-256.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// LocalAdminActor names a person who runs a local command against the
// store directly (promote token create without a server): whoever can open
// the data directory administers it.
const LocalAdminActor = "local-admin"

// SystemActors are the names the audit log gives Promote's own actions
// and its local administrator. No token may take one (in any case), so
// that an event by one of them was never made with an API token.
var SystemActors = []string{GitOpsActor, RolloutActor.Name, AutoPromoteActor.Name, LocalAdminActor}

// ReservedName returns the system actor (SystemActors) that a token named
// name would pass for, in any case, and whether there is one.
func ReservedName(name string) (string, bool) {
	i := slices.IndexFunc(SystemActors, func(a string) bool { return strings.EqualFold(a, name) })
	if i < 0 {
		return "", false
	}
	return SystemActors[i], true
}

// ReservedNameTokens returns the tokens not revoked whose name is reserved
// (ReservedName): made before the names were, they keep working, and the
// audit log reads their actions as Promote's own. serve names them at
// start, so that an admin revokes them. It reads the store as the server,
// not as a person.
func (s *Service) ReservedNameTokens(ctx context.Context) ([]promote.Token, error) {
	var out []promote.Token
	err := s.store.View(ctx, func(tx promote.Tx) error {
		all, err := tx.Tokens()
		if err != nil {
			return err
		}
		for _, t := range all {
			if _, reserved := ReservedName(t.Name); reserved && t.RevokedAt == nil {
				out = append(out, t)
			}
		}
		return nil
	})
	return out, err
}

// TokenRequest describes a token to create.
type TokenRequest struct {
	Name   string       `json:"name"`
	Role   promote.Role `json:"role"`
	Groups []string     `json:"groups,omitempty"`
}

// CreateToken makes a token and returns its secret, shown this once: only
// its hash is stored. who must be an admin; the CLI's bootstrap passes a
// local admin principal.
func (s *Service) CreateToken(ctx context.Context, who promote.Principal, req TokenRequest) (string, promote.Token, error) {
	if err := Authorize(who, promote.RoleAdmin, "creating a token"); err != nil {
		return "", promote.Token{}, err
	}
	if err := promote.ValidateName("token name", req.Name); err != nil {
		return "", promote.Token{}, err
	}
	if actor, reserved := ReservedName(req.Name); reserved {
		return "", promote.Token{}, promote.Errorf(promote.Invalid,
			"token name %q is reserved: the audit log names Promote's own %s so (%s); choose another name",
			req.Name, actor, strings.Join(SystemActors, ", "))
	}
	if !req.Role.Valid() {
		return "", promote.Token{}, promote.Errorf(promote.Invalid, "role %q is not one of viewer, submitter, approver, admin", req.Role)
	}
	for _, g := range req.Groups {
		if err := promote.ValidateName("group", g); err != nil {
			return "", promote.Token{}, err
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", promote.Token{}, err
	}
	secret := TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
	t := promote.Token{ID: newID("tok_"), Name: req.Name, Role: req.Role, Groups: req.Groups, Hash: HashToken(secret),
		CreatedBy: who.Name, CreatedAt: s.clock()}
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		if err := tx.CreateToken(t); err != nil {
			return err
		}
		reasons := []string{"token " + t.ID + " for " + t.Name}
		if len(t.Groups) > 0 {
			reasons = append(reasons, "groups: "+strings.Join(t.Groups, ","))
		}
		return audit(tx, promote.AuditEvent{Time: t.CreatedAt, Actor: who.Name, Action: promote.ActionTokenCreated,
			Decision: string(t.Role), Reasons: reasonsJSON(reasons...)})
	})
	if err != nil {
		return "", promote.Token{}, err
	}
	return secret, t, nil
}

// tokenCacheTTL is how long a checked token is trusted without asking the
// store again. A revocation through this process takes effect at once;
// through another replica, within this time.
const tokenCacheTTL = 5 * time.Second

// tokenCache remembers recently checked tokens by the hash of their secret,
// so that a busy reader does not cost a store query per request.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry
	// gen counts the clears. A check that read the store before a clear
	// (a revocation) may not put what it read in the cache after it:
	// the token would pass for valid until the entry expired.
	gen uint64
}

type tokenEntry struct {
	who     promote.Principal
	expires time.Time
}

// get returns the cached principal of hash, or, on a miss, the
// generation to give put with what the store says.
func (c *tokenCache) get(hash string, now time.Time) (promote.Principal, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.After(e.expires) {
		return promote.Principal{}, c.gen, false
	}
	return e.who, c.gen, true
}

// put caches who for hash, unless the cache was cleared since get
// returned gen.
func (c *tokenCache) put(hash string, who promote.Principal, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[string]tokenEntry{}
	}
	c.entries[hash] = tokenEntry{who, now.Add(tokenCacheTTL)}
}

func (c *tokenCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.gen++
	c.mu.Unlock()
}

// Authenticate returns the principal a token secret stands for. A missing,
// unknown or revoked token is Unauthorized, with no hint which.
func (s *Service) Authenticate(ctx context.Context, secret string) (promote.Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return promote.Principal{}, promote.Errorf(promote.Unauthorized, "missing or malformed token")
	}
	return s.AuthenticateHash(ctx, HashToken(secret))
}

// AuthenticateHash is Authenticate for a token known by the hash of its
// secret (HashToken): the web UI's sessions keep the hash, never the
// secret, and check it again at every request, so that revoking a token
// ends the sessions opened with it.
func (s *Service) AuthenticateHash(ctx context.Context, hash string) (promote.Principal, error) {
	now := time.Now()
	who, gen, ok := s.tokens.get(hash, now)
	if ok {
		return who, nil
	}
	var t promote.Token
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		t, err = tx.TokenByHash(hash)
		return err
	})
	if promote.ErrorCode(err) == promote.NotFound || (err == nil && t.RevokedAt != nil) {
		return promote.Principal{}, promote.Errorf(promote.Unauthorized, "invalid or revoked token")
	}
	if err != nil {
		return promote.Principal{}, err
	}
	who = promote.Principal{Name: t.Name, Role: t.Role, Groups: t.Groups, TokenID: t.ID}
	s.tokens.put(hash, who, now, gen)
	return who, nil
}

// RevokeToken revokes a token by its ID.
func (s *Service) RevokeToken(ctx context.Context, who promote.Principal, id string) error {
	if err := Authorize(who, promote.RoleAdmin, "revoking a token"); err != nil {
		return err
	}
	defer s.tokens.clear()
	return s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		if err := tx.RevokeToken(id, now); err != nil {
			return err
		}
		return audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionTokenRevoked, Decision: "revoked",
			Reasons: reasonsJSON("token " + id)})
	})
}

// Tokens lists the tokens (never their secrets).
func (s *Service) Tokens(ctx context.Context, who promote.Principal) ([]promote.Token, error) {
	if err := Authorize(who, promote.RoleAdmin, "listing tokens"); err != nil {
		return nil, err
	}
	var out []promote.Token
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Tokens()
		return err
	})
	return out, err
}
