package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/promote-ml/promote/promote"
)

// leaseSQL is what the lease methods need to know about a database beyond
// its Dialect.
type leaseSQL struct {
	// clock reads the database's clock in Unix nanoseconds. A database
	// that every replica shares has one clock for all of them: timing
	// leases by it means replicas' clocks need not agree, and a replica
	// whose clock runs ahead cannot take a lease early. Empty: the
	// database has no clock of its own that others share (SQLite, on one
	// machine), and the caller's clock is used.
	clock string
	// lock follows the SELECT of CheckLease: it holds the lease's row
	// until the transaction ends, so that a takeover (an UPDATE of the
	// row) waits for the checked transaction's writes to commit. Empty
	// when the write transaction holds the database's one write lock
	// (SQLite's BEGIN IMMEDIATE), which no takeover can pass either.
	lock string
}

// leaseDialects holds leaseSQL by Dialect.Name; a database not listed uses
// the caller's clock and no lock clause.
var leaseDialects = map[string]leaseSQL{
	"postgres": {
		// Microseconds are the clock's resolution; clock_timestamp(),
		// unlike now(), is the time of the call, not of the transaction's
		// start, which may have waited for a lock.
		clock: "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000",
		lock:  " FOR SHARE",
	},
}

// leaseClock returns the time the lease methods go by, in Unix nanoseconds:
// the database's clock where it has one that replicas share, else now.
func (t *tx) leaseClock(what string, now time.Time) (int64, error) {
	if now.IsZero() {
		return 0, promote.Errorf(promote.Invalid, "%s: the time is not set", what)
	}
	if err := checkTime("now", now); err != nil {
		return 0, err
	}
	q := leaseDialects[t.db.dialect.Name].clock
	if q == "" {
		return nanos(now), nil
	}
	var n int64
	if err := t.queryRowContext(q).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: read the database's clock: %w", what, err)
	}
	return n, nil
}

const leaseColumns = "name, holder, epoch, acquired_at, renewed_at, expires_at"

func scanLease(s scanner) (promote.Lease, error) {
	var l promote.Lease
	var acquired, renewed, expires int64
	err := s.Scan(&l.Name, &l.Holder, &l.Epoch, &acquired, &renewed, &expires)
	l.AcquiredAt, l.RenewedAt, l.ExpiresAt = fromNanos(acquired), fromNanos(renewed), fromNanos(expires)
	return l, err
}

// describe says who holds l and until when, for errors.
func describe(l promote.Lease) string {
	return fmt.Sprintf("held by %s at epoch %d until %s", l.Holder, l.Epoch, l.ExpiresAt.Format(time.RFC3339Nano))
}

// AcquireLease takes or renews the lease name for holder. One statement
// decides, so that the database settles a race: an INSERT for a lease
// never taken, else an UPDATE of the row that applies only when holder
// holds it or it has expired. PostgreSQL evaluates that condition on the
// row as the winner of a race left it (ON CONFLICT locks the row first);
// SQLite runs one write transaction at a time.
func (t *tx) AcquireLease(name, holder string, ttl time.Duration, now time.Time) (promote.Lease, error) {
	what := fmt.Sprintf("acquire lease %q for %s", name, holder)
	if err := t.writable(what); err != nil {
		return promote.Lease{}, err
	}
	switch {
	case name == "":
		return promote.Lease{}, promote.Errorf(promote.Invalid, "acquire a lease: the lease's name is empty")
	case holder == "":
		return promote.Lease{}, promote.Errorf(promote.Invalid, "acquire lease %q: the holder is empty", name)
	case ttl <= 0:
		return promote.Lease{}, promote.Errorf(promote.Invalid, "%s: the time to live %s is not positive", what, ttl)
	}
	at, err := t.leaseClock(what, now)
	if err != nil {
		return promote.Lease{}, err
	}
	expires := fromNanos(at).Add(ttl)
	if err := checkTime("expires_at", expires); err != nil {
		return promote.Lease{}, err
	}
	// A renewal is by the holder of a lease that has not expired; any
	// other update begins a new term, even the holder's own after its
	// lease lapsed: writes fenced by the lapsed term must stay refused.
	l, err := scanLease(t.queryRowContext(`INSERT INTO leases (`+leaseColumns+`)
		VALUES (?, ?, 1, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.renewed_at
				THEN leases.epoch ELSE leases.epoch + 1 END,
			acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.renewed_at
				THEN leases.acquired_at ELSE excluded.acquired_at END,
			holder = excluded.holder,
			renewed_at = excluded.renewed_at,
			expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.renewed_at
		RETURNING `+leaseColumns,
		name, holder, at, at, nanos(expires)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The condition failed: another holder holds the lease.
		cur, err := t.Lease(name)
		if err != nil {
			return promote.Lease{}, fmt.Errorf("%s: %w", what, err)
		}
		return cur, promote.Errorf(promote.Conflict, "lease %q is %s", name, describe(cur))
	case err != nil:
		return promote.Lease{}, fmt.Errorf("%s: %w", what, err)
	}
	return l, nil
}

// ReleaseLease ends holder's term at epoch: the lease expires now.
func (t *tx) ReleaseLease(name, holder string, epoch int64, now time.Time) error {
	what := fmt.Sprintf("release lease %q of %s at epoch %d", name, holder, epoch)
	if err := t.writable(what); err != nil {
		return err
	}
	at, err := t.leaseClock(what, now)
	if err != nil {
		return err
	}
	ok, err := t.changed(what, "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND epoch = ? AND expires_at > ?",
		at, name, holder, epoch, at)
	if err != nil || ok {
		return err
	}
	cur, err := t.Lease(name)
	switch {
	case err != nil:
		return err
	case cur.Holder == holder && cur.Epoch == epoch:
		return nil // the term had expired already
	}
	return promote.Errorf(promote.Conflict, "%s: lease %q is %s", what, name, describe(cur))
}

// CheckLease is the fencing check. It reads the lease's row with the
// dialect's lock, which a takeover's UPDATE waits for until the
// transaction ends.
func (t *tx) CheckLease(name, holder string, epoch int64, now time.Time) error {
	what := fmt.Sprintf("check lease %q of %s at epoch %d", name, holder, epoch)
	if err := t.writable(what); err != nil {
		return err
	}
	at, err := t.leaseClock(what, now)
	if err != nil {
		return err
	}
	l, err := scanLease(t.queryRowContext("SELECT "+leaseColumns+" FROM leases WHERE name = ?"+
		leaseDialects[t.db.dialect.Name].lock, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return promote.Errorf(promote.Conflict, "deposed: lease %q is held by no one", name)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case l.Holder != holder || l.Epoch != epoch:
		return promote.Errorf(promote.Conflict, "deposed: lease %q is held by %s at epoch %d", name, l.Holder, l.Epoch)
	case at >= nanos(l.ExpiresAt):
		return promote.Errorf(promote.Conflict, "deposed: lease %q of %s at epoch %d expired at %s",
			name, holder, epoch, l.ExpiresAt.Format(time.RFC3339Nano))
	}
	return nil
}

// Lease returns the lease as stored; NotFound when it was never taken.
func (t *tx) Lease(name string) (promote.Lease, error) {
	return one(t, fmt.Sprintf("read lease %q", name), fmt.Sprintf("lease %q not found", name), scanLease,
		"SELECT "+leaseColumns+" FROM leases WHERE name = ?", name)
}
