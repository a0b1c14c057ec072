package promote

import (
	"slices"
	"time"
)

// Role is what a token may do. Each role includes the ones before it.
type Role string

// The roles, from least to most.
const (
	RoleViewer    Role = "viewer"    // read everything
	RoleSubmitter Role = "submitter" // register versions, request promotions
	RoleApprover  Role = "approver"  // approve or reject promotions, clear holds
	RoleAdmin     Role = "admin"     // everything, freeze overrides, tokens
)

// Roles lists the roles in order.
var Roles = []Role{RoleViewer, RoleSubmitter, RoleApprover, RoleAdmin}

// Allows reports whether a holder of r may act as need.
func (r Role) Allows(need Role) bool {
	have, want := slices.Index(Roles, r), slices.Index(Roles, need)
	return have >= 0 && want >= 0 && have >= want
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Token is an API token as stored: its secret is kept only as a hash.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"` // the person or system it identifies: the audit actor
	Role      Role       `json:"role"`
	Groups    []string   `json:"groups,omitempty"` // e.g. ml-lead: matched by policy approval roles
	Hash      string     `json:"-"`                // hex SHA-256 of the secret
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Principal is who is acting: the name on their token, their role and
// groups, and the token's ID, which the audit events they cause record.
type Principal struct {
	Name   string
	Role   Role
	Groups []string
	// TokenID is the ID of the token they authenticated with (Token.ID),
	// empty for a principal that no token stands for (the local admin,
	// Promote's own controllers).
	TokenID string
}
