package webui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

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
	Err      string
}

// chainVerifier verifies the audit chain once in full and, after that,
// only the events appended since: it remembers the last verified event's
// sequence number and hash, checks that this event is still stored as it
// was, and links each new event to it. A page view therefore reads only
// the new events, whatever the length of the log. An edit to an event
// verified earlier (other than the last) is caught by the next full
// verification (UI.Run). A break, once found, stays until a full
// verification finds the chain whole.
type chainVerifier struct {
	store promote.Store
	now   func() time.Time

	full sync.Mutex // one full verification at a time
	mu   sync.Mutex // guards the fields below
	ok   bool       // a verification has run and found no break
	seq  int64
	hash string
	at   time.Time
	brk  *audit.Break
}

func newChainVerifier(store promote.Store, now func() time.Time) *chainVerifier {
	return &chainVerifier{store: store, now: now, hash: promote.GenesisHash}
}

// Full verifies the whole chain.
func (c *chainVerifier) Full(ctx context.Context) error {
	c.full.Lock()
	defer c.full.Unlock()
	res, err := audit.Verify(ctx, c.store)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.now()
	if !res.OK {
		c.ok, c.brk = false, res.Broken
		return nil
	}
	if c.ok && res.HeadSeq < c.seq {
		// Verified whole, but shorter than what was verified before: the
		// end of the log was cut off.
		c.ok, c.brk = false, &audit.Break{Seq: res.HeadSeq + 1, Kind: audit.BreakDeleted,
			Message: fmt.Sprintf("the log ends at event %d, but event %d was verified before: events were removed from its end", res.HeadSeq, c.seq)}
		return nil
	}
	c.ok, c.brk, c.seq, c.hash = true, nil, res.HeadSeq, res.HeadHash
	return nil
}

// Status brings the verification up to date and reports it: the first
// call verifies the whole chain, later ones the events appended since.
func (c *chainVerifier) Status(ctx context.Context) chainStatus {
	c.mu.Lock()
	started := c.ok || c.brk != nil
	c.mu.Unlock()
	if !started {
		if err := c.Full(ctx); err != nil {
			return chainStatus{Err: err.Error()}
		}
	} else if err := c.incremental(ctx); err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		st := c.status()
		st.Err = err.Error()
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status()
}

func (c *chainVerifier) status() chainStatus {
	return chainStatus{Verified: c.ok || c.brk != nil, Seq: c.seq, Hash: c.hash, At: c.at, Broken: c.brk}
}

var errStop = errors.New("stop")

// incremental verifies the events after the last verified one.
func (c *chainVerifier) incremental(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.brk != nil {
		return nil
	}
	head, headHash := c.seq, c.hash
	prev, next := c.hash, c.seq+1
	sawHead := head == 0
	err := c.store.ScanAudit(ctx, max(head-1, 0), func(r promote.AuditRecord) error {
		if !sawHead {
			sawHead = true
			switch {
			case r.Seq != head:
				c.brk = &audit.Break{Seq: head, Kind: audit.BreakDeleted,
					Message: fmt.Sprintf("event %d, verified at %s, is gone", head, c.at.UTC().Format(time.RFC3339))}
			case r.Hash != headHash || promote.ChainHash(r.PrevHash, r.Body) != r.Hash || !bodyHasSeq(r.Body, r.Seq):
				c.brk = &audit.Break{Seq: head, Kind: audit.BreakModified,
					Message: fmt.Sprintf("event %d was modified since it was verified at %s", head, c.at.UTC().Format(time.RFC3339))}
			default:
				return nil
			}
			return errStop
		}
		if b := link(prev, next, r); b != nil {
			c.brk = b
			return errStop
		}
		prev, next = r.Hash, r.Seq+1
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("verify the audit log after event %d: %w", head, err)
	}
	c.at = c.now()
	if c.brk != nil {
		c.ok = false
		return nil
	}
	if !sawHead {
		c.ok, c.brk = false, &audit.Break{Seq: head, Kind: audit.BreakDeleted,
			Message: fmt.Sprintf("event %d was verified before but the log now ends before it: events were removed from its end", head)}
		return nil
	}
	c.seq, c.hash = next-1, prev
	return nil
}

// link checks that r is event next and follows the event whose hash is
// prev, as audit.Verifier does, and describes the break when it is not.
func link(prev string, next int64, r promote.AuditRecord) *audit.Break {
	brk := func(kind, format string, args ...any) *audit.Break {
		return &audit.Break{Seq: r.Seq, Kind: kind, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Seq > next:
		return brk(audit.BreakDeleted, "events %d to %d are missing: the log goes from %d to %d", next, r.Seq-1, next-1, r.Seq)
	case r.Seq < next:
		return brk(audit.BreakInserted, "event %d appears after event %d: an event was inserted or duplicated", r.Seq, next-1)
	case !bodyHasSeq(r.Body, r.Seq):
		return brk(audit.BreakModified, "event %d was modified: its body does not carry its sequence number", r.Seq)
	case promote.ChainHash(r.PrevHash, r.Body) != r.Hash:
		return brk(audit.BreakModified, "event %d was modified: its content does not hash to its stored hash", r.Seq)
	case r.PrevHash != prev:
		return brk(audit.BreakReordered, "event %d does not follow event %d: an event before it was modified, inserted or removed", r.Seq, r.Seq-1)
	}
	return nil
}

// bodyHasSeq reports whether a canonical body starts with {"seq":N, (the
// sequence number is its first field).
func bodyHasSeq(body []byte, seq int64) bool {
	var buf [32]byte
	prefix := strconv.AppendInt(append(buf[:0], `{"seq":`...), seq, 10)
	return bytes.HasPrefix(body, append(prefix, ','))
}
