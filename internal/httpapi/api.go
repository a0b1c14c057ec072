package httpapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// The API's own bodies: what the registry's types do not already say in
// JSON. Requests carry no actor: who acts is the token's holder.

// Environment is an environment of the pipeline as the API shows it, in
// pipeline order.
type Environment struct {
	Name string `json:"name"`
	// From is the upstream environment; "" for the first.
	From   string   `json:"from,omitempty"`
	Policy string   `json:"policy"`
	Soak   Duration `json:"soak,omitempty"`
	// AutoPromote says Promote requests the promotion of the version that
	// last succeeded upstream by itself, once it has soaked there.
	AutoPromote bool           `json:"auto_promote,omitempty"`
	Strategy    string         `json:"strategy"`
	Overlay     string         `json:"overlay,omitempty"`
	Freeze      []FreezeWindow `json:"freeze,omitempty"`
	// Frozen says whether promotions to the environment are frozen now, and
	// FrozenReason why.
	Frozen       bool   `json:"frozen"`
	FrozenReason string `json:"frozen_reason,omitempty"`
}

// FreezeWindow is a freeze window as written in promote.yaml: absolute
// (start, end) or weekly (days, from, to, timezone).
type FreezeWindow struct {
	Name     string     `json:"name,omitempty"`
	Allow    bool       `json:"allow,omitempty"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Days     []string   `json:"days,omitempty"`
	From     string     `json:"from,omitempty"` // HH:MM
	To       string     `json:"to,omitempty"`   // HH:MM
	Timezone string     `json:"timezone,omitempty"`
}

// Duration is a time.Duration written in JSON as Go writes durations
// ("24h0m0s").
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// ModelDetail is a model with its status.
type ModelDetail struct {
	Model  promote.Model   `json:"model"`
	Status registry.Status `json:"status"`
}

// CreateModelRequest is the body of POST /models.
type CreateModelRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// RegisterVersionRequest is the body of POST /models/{model}/versions: a
// registry.RegisterRequest whose metrics are the metrics.json document as a
// JSON object and whose bundle is a sigstore bundle as a JSON object or a
// string. The model comes from the path; when the body names one too, it
// must be the same.
type RegisterVersionRequest struct {
	Model       string          `json:"model,omitempty"`
	Version     string          `json:"version"`
	ArtifactURI string          `json:"artifact_uri"`
	Digest      string          `json:"digest,omitempty"`
	Size        int64           `json:"size,omitempty"`
	Signature   string          `json:"signature,omitempty"`
	Bundle      json.RawMessage `json:"bundle,omitempty"`
	Metrics     json.RawMessage `json:"metrics,omitempty"`
	Lineage     promote.Lineage `json:"lineage"`
}

// ReasonRequest is the body of the routes that end or clear something and
// record why.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// RolloutOpRequest is the body of the operations on a rollout (POST
// /rollouts/{id}/{verb}).
type RolloutOpRequest struct {
	// Reason, when not empty, is recorded with the operation.
	Reason string `json:"reason"`
	// Revision, when not 0, is the rollout's revision the operation was
	// decided on (promote.Rollout.Revision): a rollout that has moved on
	// since refuses it with a Conflict naming its revision now, and
	// nothing changes. 0 operates on the rollout as it is.
	Revision int64 `json:"revision,omitempty"`
}

// HoldRequest is the body of POST /holds.
type HoldRequest struct {
	Model       string `json:"model"`
	Version     string `json:"version"`
	Environment string `json:"environment"`
	Reason      string `json:"reason"`
}

// TokenCreated is the answer to POST /tokens: the token and its secret,
// which is shown this once.
type TokenCreated struct {
	Secret string        `json:"secret"`
	Token  promote.Token `json:"token"`
}

// Leader is the body of GET /leader: which replica runs the controllers,
// as the replica that answers last saw the lease.
type Leader struct {
	// Lease names the lease ("controllers").
	Lease string `json:"lease"`
	// Self is the answering replica's holder name.
	Self string `json:"self"`
	// Leader reports whether the answering replica runs the controllers.
	Leader bool `json:"leader"`
	// Holder, Epoch and ExpiresAt are the lease as last seen: the
	// leader's name, its term and when the term ends without a renewal
	// (empty when no replica held it at the last look).
	Holder    string    `json:"holder,omitempty"`
	Epoch     int64     `json:"epoch,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Error is the store's last failure to answer the replica's election,
	// cleared by the next success.
	Error string `json:"error,omitempty"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}
