package webui

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// fakeLog is an audit log in memory whose scans can be held at a gate,
// for the verifier's concurrency. Only ScanAudit and AuditHead are
// implemented.
type fakeLog struct {
	promote.Store

	mu        sync.Mutex
	records   []promote.AuditRecord
	fullScans int
	// gateFull and gateIncremental, when set, hold full scans (from 0)
	// and the others until they are closed; a scan reads the records
	// appended before it started.
	gateFull, gateIncremental chan struct{}
	// past is how many of the last records were added without moving
	// the head (forge).
	past int
}

// forge adds n events that chain correctly, without moving the head, as
// someone writing to the events' table alone would.
func (l *fakeLog) forge(n int) {
	l.append(n)
	l.mu.Lock()
	l.past += n
	l.mu.Unlock()
}

// append adds n events that chain correctly.
func (l *fakeLog) append(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		prev := promote.GenesisHash
		if len(l.records) > 0 {
			prev = l.records[len(l.records)-1].Hash
		}
		seq := int64(len(l.records) + 1)
		body := []byte(fmt.Sprintf(`{"seq":%d,"action":"hold.set"}`, seq))
		l.records = append(l.records, promote.AuditRecord{Seq: seq, PrevHash: prev, Hash: promote.ChainHash(prev, body), Body: body})
	}
}

func (l *fakeLog) gates(full, incremental chan struct{}) {
	l.mu.Lock()
	l.gateFull, l.gateIncremental = full, incremental
	l.mu.Unlock()
}

// AuditHead returns the last record appended, as a store's head names it.
func (l *fakeLog) AuditHead(context.Context) (int64, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.records) - l.past
	if n == 0 {
		return 0, promote.GenesisHash, nil
	}
	last := l.records[n-1]
	return last.Seq, last.Hash, nil
}

func (l *fakeLog) ScanAudit(ctx context.Context, after int64, fn func(promote.AuditRecord) error) error {
	l.mu.Lock()
	recs := slices.Clone(l.records)
	gate := l.gateIncremental
	if after == 0 {
		l.fullScans++
		gate = l.gateFull
	}
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, r := range recs {
		if r.Seq > after {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *fakeLog) full() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fullScans
}

// TestChainOneFullScanAtATime checks that page views arriving while the
// first full verification runs wait for its result instead of scanning
// the whole log again.
func TestChainOneFullScanAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &fakeLog{}
		log.append(10)
		gate := make(chan struct{})
		log.gates(gate, nil)
		c := newChainVerifier(log, time.Now)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := c.Full(t.Context()); err != nil {
				t.Errorf("Full = %v", err)
			}
		})
		synctest.Wait() // the scan waits at the gate
		statuses := make([]chainStatus, 3)
		for i := range statuses {
			wg.Go(func() { statuses[i] = c.Status(t.Context()) })
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		if n := log.full(); n != 1 {
			t.Errorf("full scans of the log = %d, want 1", n)
		}
		for i, st := range statuses {
			if !st.Verified || st.Broken != nil || st.Seq != 10 || st.Err != "" {
				t.Errorf("Status %d = %+v, want verified through 10", i, st)
			}
		}
		// Later full verifications run again.
		log.gates(nil, nil)
		if err := c.Full(t.Context()); err != nil || log.full() != 2 {
			t.Errorf("a later Full = %v after %d full scans, want a second scan", err, log.full())
		}
	})
}

// TestChainIncrementalReadsOutsideTheLock checks that an incremental
// verification does not hold the verifier's lock while it reads the
// store: the status can be read meanwhile.
func TestChainIncrementalReadsOutsideTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &fakeLog{}
		log.append(10)
		c := newChainVerifier(log, time.Now)
		if st := c.Status(t.Context()); st.Seq != 10 {
			t.Fatalf("first Status = %+v, want verified through 10", st)
		}
		log.append(5)
		gate := make(chan struct{})
		log.gates(nil, gate)
		var got chainStatus
		var wg sync.WaitGroup
		wg.Go(func() { got = c.Status(t.Context()) })
		synctest.Wait() // the incremental scan waits at the gate
		if !c.mu.TryLock() {
			t.Fatal("the incremental verification holds the lock while it reads the store")
		}
		c.mu.Unlock()
		if st := c.status(); st.Seq != 10 {
			t.Errorf("status during the incremental read = %+v, want the last result, through 10", st)
		}
		close(gate)
		wg.Wait()
		if got.Seq != 15 || got.Broken != nil {
			t.Errorf("Status after the incremental read = %+v, want verified through 15", got)
		}
	})
}

// TestChainFullRacesIncremental checks a full verification during which
// events were appended and verified incrementally: its shorter head is
// not mistaken for a cut log, and the further head is kept.
func TestChainFullRacesIncremental(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &fakeLog{}
		log.append(10)
		c := newChainVerifier(log, time.Now)
		if st := c.Status(t.Context()); st.Seq != 10 {
			t.Fatalf("first Status = %+v, want verified through 10", st)
		}
		gate := make(chan struct{})
		log.gates(gate, nil)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := c.Full(t.Context()); err != nil {
				t.Errorf("Full = %v", err)
			}
		})
		synctest.Wait() // the full scan has read 10 events and waits
		log.append(5)
		if st := c.Status(t.Context()); st.Seq != 15 || st.Broken != nil {
			t.Fatalf("Status during the full scan = %+v, want verified through 15", st)
		}
		close(gate)
		wg.Wait()
		if st := c.status(); st.Seq != 15 || st.Broken != nil || !st.Verified {
			t.Errorf("status after the full scan = %+v (break %+v), want verified through 15, no break", st, st.Broken)
		}
	})
}

// A verification that could not run says why without the driver's words,
// which name the database's host and user: the audit page shows it to any
// viewer.
func TestChainErrorText(t *testing.T) {
	driver := "dial tcp 10.0.0.5:5432 (user promote): connection refused"
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: %s", promote.ErrUnavailable, driver), "the database is unavailable; try again shortly"},
		{fmt.Errorf("scan: %s", driver), "an error on the server; the error is in its log"},
		{promote.Errorf(promote.Invalid, "after %d is negative", -1), "after -1 is negative"},
	} {
		if got := errText(tt.err); got != tt.want {
			t.Errorf("errText(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestRunVerifyInterval checks that Run verifies the whole chain when it
// starts and then every VerifyInterval, and, with 0, only when it starts.
func TestRunVerifyInterval(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		want     int // full scans in the first 3h30m
	}{
		{"hourly", time.Hour, 4},
		{"every 20 minutes", 20 * time.Minute, 11},
		{"off", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := &fakeLog{}
				log.append(3)
				u := &UI{opts: Options{VerifyInterval: tt.interval}, chain: newChainVerifier(log, time.Now), log: slog.New(slog.DiscardHandler)}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- u.Run(ctx) }()
				time.Sleep(3*time.Hour + 30*time.Minute)
				synctest.Wait()
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
				if n := log.full(); n != tt.want {
					t.Errorf("Run with VerifyInterval %s: %d full verifications in 3h30m, want %d", tt.interval, n, tt.want)
				}
			})
		})
	}
}

// TestNewRefusesNegativeVerifyInterval checks that a negative interval is
// an error, not the default.
func TestNewRefusesNegativeVerifyInterval(t *testing.T) {
	env, err := webuitest.New(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Store.Close() })
	if _, err := New(Options{Service: env.Service, VerifyInterval: -time.Minute}); err == nil || !strings.Contains(err.Error(), "-1m0s is negative") {
		t.Errorf("New(VerifyInterval -1m) = %v, want an error naming -1m0s as negative", err)
	}
}

// TestChainPastTheHead: an event added to the log without moving the
// store's head, hashed onto the last one, is a break for the page views'
// verification of the events appended since the last, as for the full one.
func TestChainPastTheHead(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			log := &fakeLog{}
			log.append(10)
			c := newChainVerifier(log, time.Now)
			if st := c.Status(t.Context()); st.Seq != 10 || st.Broken != nil {
				t.Fatalf("first Status = %+v, want verified through 10", st)
			}
			log.append(2)
			log.forge(1)
			if full {
				if err := c.Full(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			st := c.Status(t.Context())
			want := "event 13 comes after the store's head, event 12: it was added to the log without moving the head"
			if st.Broken == nil || st.Broken.Seq != 13 || st.Broken.Kind != "inserted" || !strings.Contains(st.Broken.Message, want) {
				t.Fatalf("Status after an event added past the head = %+v (break %+v), want inserted at 13: %s", st, st.Broken, want)
			}
		})
	}
}

// TestRunLogsABrokenChain: a full verification that finds the chain broken
// says so in the server's log, at error level, naming the break, at each
// full verification while it lasts; an intact chain logs nothing.
func TestRunLogsABrokenChain(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken=%v", broken), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log := &fakeLog{}
				log.append(3)
				if broken {
					log.forge(1)
				}
				var out strings.Builder
				var mu sync.Mutex
				u := &UI{opts: Options{VerifyInterval: time.Hour}, chain: newChainVerifier(log, time.Now),
					log: slog.New(slog.NewTextHandler(&lockedWriter{w: &out, mu: &mu}, nil))}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- u.Run(ctx) }()
				time.Sleep(90 * time.Minute)
				synctest.Wait()
				cancel()
				<-done
				mu.Lock()
				got := out.String()
				mu.Unlock()
				n := strings.Count(got, "level=ERROR msg=\"webui: the audit chain is broken")
				if broken && (n != 2 || !strings.Contains(got, "seq=4") || !strings.Contains(got, "kind=inserted")) {
					t.Errorf("two full verifications of a broken chain logged:\n%s\nwant two errors naming event 4, inserted", got)
				}
				if !broken && got != "" {
					t.Errorf("an intact chain logged:\n%s", got)
				}
			})
		})
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
