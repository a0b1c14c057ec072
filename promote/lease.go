package promote

import (
	"context"
	"time"
)

// Lease is a named, time-limited right to act alone, kept in the store so
// that several replicas of the server agree on who holds it: the replica
// holding the "controllers" lease is the one that runs the controllers.
//
// Epoch numbers the holder's terms: it grows by one each time the lease is
// taken, whether from another holder or after it lapsed, and stays the same
// while the holder renews it. Writes made on a lease's behalf carry the
// epoch (a Fence) and are checked against it, so those of a holder whose
// term has ended are refused.
type Lease struct {
	Name       string    `json:"name"`
	Holder     string    `json:"holder"`
	Epoch      int64     `json:"epoch"`
	AcquiredAt time.Time `json:"acquired_at"` // the start of the term
	RenewedAt  time.Time `json:"renewed_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// HeldAt reports whether the lease is held at now: it is free from its
// expiry on.
func (l Lease) HeldAt(now time.Time) bool { return now.Before(l.ExpiresAt) }

// Fence is what a lease holder's writes carry: the lease's name, the holder
// and the epoch of its term. A store checks it (Tx.CheckLease) in the
// transaction of the writes, which then fail with Conflict once another
// term has begun or the lease has lapsed.
type Fence struct {
	Name   string `json:"name"`
	Holder string `json:"holder"`
	Epoch  int64  `json:"epoch"`
}

// fenceKey is the context key of a Fence.
type fenceKey struct{}

// WithFence returns a copy of ctx carrying f: writes made with it are
// fenced by f.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// CheckFence checks the fence ctx carries, if any, in tx (Tx.CheckLease at
// now): the first thing a write made on a lease's behalf does in its
// transaction, so that the writes of a holder whose term has ended fail
// with Conflict and change nothing. Without a fence it does nothing.
func CheckFence(ctx context.Context, tx Tx, now time.Time) error {
	f, ok := FenceFrom(ctx)
	if !ok {
		return nil
	}
	return tx.CheckLease(f.Name, f.Holder, f.Epoch, now)
}
