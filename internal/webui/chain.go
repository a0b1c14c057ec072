package webui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/promote"
)

// chainStatus is what the audit page says of the chain.
type chainStatus struct {
	// Verified is false until a first verification has run.
	Verified bool
	Seq      int64
	Hash     string
	At       time.Time
	Broken   *audit.Break
	// Err says, for any viewer, why verification could not run; cause
	// is the error itself, for the log.
	Err   string
	cause error
}

// chainVerifier verifies the audit chain once in full and, after that,
// only the events appended since: it remembers the last verified event's
// sequence number and hash, checks that this event is still stored as it
// was, and links each new event to it. A page view therefore reads only
// the new events, whatever the length of the log. An edit to an event
// verified earlier (other than the last) is caught by the next full
// verification (UI.Run). A break, once found, stays until a full
// verification finds the chain whole.
//
// One full verification runs at a time, and one incremental one: a
// caller that arrives while one runs waits for its result instead of
// reading the log again. Both read the store without holding mu, so that
// a page view never waits for another's I/O to read the status; each
// applies its result only if the state it started from still stands.
type chainVerifier struct {
	store   promote.Store
	now     func() time.Time
	runs    singleflight.Group
	metrics *audit.ChainMetrics // nil: none

	mu   sync.Mutex // guards the fields below
	gen  uint64     // counts the changes of the state below
	ok   bool       // a verification has run and found no break
	seq  int64
	hash string
	at   time.Time
	brk  *audit.Break
}

func newChainVerifier(store promote.Store, now func() time.Time) *chainVerifier {
	return &chainVerifier{store: store, now: now, hash: promote.GenesisHash}
}

// Singleflight keys of the two verifications.
const (
	runFull        = "full"
	runIncremental = "incremental"
)

// join runs fn under key, or waits for the run of key in progress, and
// returns its error; a caller whose ctx ends stops waiting (the run goes
// on for the others while the context of the caller that started it
// lasts).
func (c *chainVerifier) join(ctx context.Context, key string, fn func() error) error {
	ch := c.runs.DoChan(key, func() (any, error) { return nil, fn() })
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Full verifies the whole chain, or waits for the full verification in
// progress.
func (c *chainVerifier) Full(ctx context.Context) error {
	return c.join(ctx, runFull, func() error { return c.full(ctx) })
}

func (c *chainVerifier) full(ctx context.Context) error {
	c.mu.Lock()
	gen, wasOK, before := c.gen, c.ok, c.seq
	c.mu.Unlock()
	res, err := audit.Verify(ctx, c.store)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.gen != gen // by an incremental verification during the scan
	c.gen++
	c.at = c.now()
	switch {
	case !res.OK:
		c.ok, c.brk = false, res.Broken
		c.metrics.Record(false, c.at)
	case wasOK && res.HeadSeq < before:
		// Verified whole, but shorter than what was verified before: the
		// end of the log was cut off.
		c.ok, c.brk = false, &audit.Break{Seq: res.HeadSeq + 1, Kind: audit.BreakDeleted,
			Message: fmt.Sprintf("the log ends at event %d, but event %d was verified before: events were removed from its end", res.HeadSeq, before)}
		c.metrics.Record(false, c.at)
	case changed && c.brk != nil && c.brk.Seq > res.HeadSeq:
		// During the scan, an incremental verification found a break in
		// events appended after what the scan read: it stands, and
		// was counted.
	case changed && c.ok && c.seq > res.HeadSeq:
		// During the scan, an incremental verification verified events
		// appended after what the scan read: keep its further head.
		c.metrics.Record(true, c.at)
	default:
		c.ok, c.brk, c.seq, c.hash = true, nil, res.HeadSeq, res.HeadHash
		c.metrics.Record(true, c.at)
	}
	return nil
}

// Status brings the verification up to date and reports it: the first
// call verifies the whole chain (or waits for the full verification in
// progress), later ones the events appended since.
func (c *chainVerifier) Status(ctx context.Context) chainStatus {
	c.mu.Lock()
	started := c.ok || c.brk != nil
	c.mu.Unlock()
	if !started {
		if err := c.Full(ctx); err != nil {
			return chainStatus{Err: errText(err), cause: err}
		}
	} else if err := c.join(ctx, runIncremental, func() error { return c.incremental(ctx) }); err != nil {
		st := c.status()
		st.Err, st.cause = errText(err), err
		return st
	}
	return c.status()
}

// status reports the state as it stands.
func (c *chainVerifier) status() chainStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return chainStatus{Verified: c.ok || c.brk != nil, Seq: c.seq, Hash: c.hash, At: c.at, Broken: c.brk}
}

var errStop = errors.New("stop")

// incremental verifies the events after the last verified one. It reads
// the store without holding mu and applies its result only when no other
// verification changed the state meanwhile (a full one's result stands).
func (c *chainVerifier) incremental(ctx context.Context) error {
	c.mu.Lock()
	if c.brk != nil {
		c.mu.Unlock()
		return nil
	}
	gen, head, headHash, verifiedAt := c.gen, c.seq, c.hash, c.at
	c.mu.Unlock()
	v := audit.NewVerifierAt(head, headHash)
	sawHead := head == 0
	var brk *audit.Break
	err := c.store.ScanAudit(ctx, max(head-1, 0), func(r promote.AuditRecord) error {
		if !sawHead {
			// The last verified event must still be there, unchanged.
			sawHead = true
			switch {
			case r.Seq != head:
				brk = &audit.Break{Seq: head, Kind: audit.BreakDeleted,
					Message: fmt.Sprintf("event %d, verified at %s, is gone", head, verifiedAt.UTC().Format(time.RFC3339))}
			case r.Hash != headHash || !audit.NewVerifierAt(r.Seq-1, r.PrevHash).Add(r):
				brk = &audit.Break{Seq: head, Kind: audit.BreakModified,
					Message: fmt.Sprintf("event %d was modified since it was verified at %s", head, verifiedAt.UTC().Format(time.RFC3339))}
			default:
				return nil
			}
			return errStop
		}
		if !v.Add(r) {
			brk = v.Result().Broken
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("verify the audit log after event %d: %w", head, err)
	}
	if !sawHead && brk == nil {
		brk = &audit.Break{Seq: head, Kind: audit.BreakDeleted,
			Message: fmt.Sprintf("event %d was verified before but the log now ends before it: events were removed from its end", head)}
	}
	if end := v.Result().HeadSeq; brk == nil && end > head {
		// Every append moves the store's head with it: a head read after
		// the scan holds every event the scan read, unless one was added
		// to the log alone (audit.Verify's check, on the new events).
		seq, _, err := c.store.AuditHead(ctx)
		if err != nil {
			return fmt.Errorf("verify the audit log after event %d: %w", head, err)
		}
		if end > seq {
			brk = audit.PastHead(seq+1, seq, audit.StoreHead)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil
	}
	c.gen++
	c.at = c.now()
	if brk != nil {
		c.ok, c.brk = false, brk
		c.metrics.Record(false, c.at)
		return nil
	}
	res := v.Result()
	c.seq, c.hash = res.HeadSeq, res.HeadHash
	c.metrics.Record(true, c.at)
	return nil
}

// errText words a verification that could not run for any viewer: a
// domain error as it is, an unreachable database and anything else
// without the driver's words, which name hosts and users (they are in
// the log).
func errText(err error) string {
	switch {
	case errors.Is(err, promote.ErrUnavailable):
		return "the database is unavailable; try again shortly"
	case promote.ErrorCode(err) == promote.Internal:
		return "an error on the server; the error is in its log"
	}
	return err.Error()
}
