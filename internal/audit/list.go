package audit

import (
	"context"
	"slices"

	"github.com/promote-ml/promote/promote"
)

// Lister lists the audit events a filter matches, newest first, at most
// its Limit: the store, the registry service or the API's client.
type Lister func(ctx context.Context, f promote.AuditFilter) ([]promote.AuditEvent, error)

// ListAll calls fn with each page of the events that f matches, newest
// first, every event once, reading pages of size events by sequence
// number: a page costs the same anywhere in the log, and events appended
// meanwhile neither shift the pages nor join the listing, which ends at
// the newest event there was when it began. f's BeforeSeq is where the
// listing starts and its AfterSeq where it stops, both exclusive; its
// Limit is not used. The listing ends with a page that is empty or
// reaches the stop. fn is not called with an empty page, and is done
// with a page when it returns. An error from list or fn ends the listing
// and is returned as it is.
func ListAll(ctx context.Context, list Lister, f promote.AuditFilter, size int, fn func([]promote.AuditEvent) error) error {
	stop := f.AfterSeq
	// After with a limit is the events just after it, the oldest: the
	// listing reads down from the newest instead and stops there.
	f.AfterSeq, f.Limit = 0, max(size, 1)
	for {
		evs, err := list(ctx, f)
		if err != nil {
			return err
		}
		// Only an empty page ends the log: a lister may hold a page to
		// fewer events than size (the store caps it), and a short page
		// taken for the last would leave the rest out without a word.
		last := false
		if i := slices.IndexFunc(evs, func(e promote.AuditEvent) bool { return e.Seq <= stop }); i >= 0 {
			evs, last = evs[:i], true
		}
		if len(evs) == 0 {
			return nil
		}
		if err := fn(evs); err != nil {
			return err
		}
		if last {
			return nil
		}
		f.BeforeSeq = evs[len(evs)-1].Seq
	}
}
