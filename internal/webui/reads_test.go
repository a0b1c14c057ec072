package webui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// readCounter is the real store, counting the listing reads that its
// read transactions make, by method, so that a test can tell how a page's
// reads grow with the store, and the holds they return.
type readCounter struct {
	promote.Store
	mu    sync.Mutex
	reads map[string]int
	holds int
}

func newReadCounter(s promote.Store) *readCounter {
	return &readCounter{Store: s, reads: map[string]int{}}
}

func (c *readCounter) View(ctx context.Context, fn func(promote.Tx) error) error {
	return c.Store.View(ctx, func(tx promote.Tx) error { return fn(countedTx{Tx: tx, c: c}) })
}

func (c *readCounter) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads[method]++
}

func (c *readCounter) countHolds(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holds += n
}

// takeHolds returns the holds read since the last takeHolds.
func (c *readCounter) takeHolds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.holds
	c.holds = 0
	return n
}

// take returns the reads counted since the last take.
func (c *readCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reads
	c.reads = map[string]int{}
	return r
}

type countedTx struct {
	promote.Tx
	c *readCounter
}

func (t countedTx) Models(f promote.ModelFilter) ([]promote.Model, error) {
	t.c.count("Models")
	return t.Tx.Models(f)
}

func (t countedTx) Live(model string) (map[string]promote.Live, error) {
	t.c.count("Live")
	return t.Tx.Live(model)
}

func (t countedTx) LiveOf(models []string) (map[string]map[string]promote.Live, error) {
	t.c.count("LiveOf")
	return t.Tx.LiveOf(models)
}

func (t countedTx) LiveChanges(f promote.LiveFilter) ([]promote.LiveChange, error) {
	t.c.count("LiveChanges")
	return t.Tx.LiveChanges(f)
}

func (t countedTx) Promotions(f promote.PromotionFilter) ([]promote.Promotion, error) {
	t.c.count("Promotions")
	return t.Tx.Promotions(f)
}

func (t countedTx) Rollouts(f promote.RolloutFilter) ([]promote.Rollout, error) {
	t.c.count("Rollouts")
	return t.Tx.Rollouts(f)
}

func (t countedTx) Holds(f promote.HoldFilter) ([]promote.Hold, error) {
	t.c.count("Holds")
	list, err := t.Tx.Holds(f)
	t.c.countHolds(len(list))
	return list, err
}

func (t countedTx) HoldCells(models []string, n int) ([]promote.HoldCell, error) {
	t.c.count("HoldCells")
	cells, err := t.Tx.HoldCells(models, n)
	for _, c := range cells {
		t.c.countHolds(len(c.Holds))
	}
	return cells, err
}

func (t countedTx) PipelineCounts(envs []string) (promote.PipelineCounts, error) {
	t.c.count("PipelineCounts")
	return t.Tx.PipelineCounts(envs)
}

// TestPipelineReadsPerPage: the pipeline reads the same few times for a
// page of pipelinePageSize models as for the demo's three, each of them
// with a live version, an active promotion and a hold, and shows them all.
func TestPipelineReadsPerPage(t *testing.T) {
	f := newFixture(t)
	b := f.signIn("vera")
	counter := newReadCounter(f.ui.store)
	f.ui.store = counter
	if p := b.get(Prefix + "/"); p.status != http.StatusOK || len(p.all("pipeline-row")) != 3 {
		t.Fatalf("GET /ui/ = %d with %d rows, want 200 with the demo's 3", p.status, len(p.all("pipeline-row")))
	}
	few := counter.take()
	digest := "sha256:" + strings.Repeat("ab", 32)
	if err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i := range pipelinePageSize {
			name := fmt.Sprintf("m%03d", i)
			if _, err := tx.CreateModel(promote.Model{Name: name, CreatedBy: "alice", CreatedAt: webuitest.Start}); err != nil {
				return err
			}
			if err := tx.CreateVersion(promote.Version{Model: name, Version: "1", Digest: digest, Metrics: map[string]float64{}, CreatedBy: "ci", CreatedAt: webuitest.Start}); err != nil {
				return err
			}
			if err := tx.SetLive(promote.Live{Model: name, Environment: "dev", Version: "1", PromotionID: "pd" + name, SetBy: "controller", SetAt: webuitest.Start}); err != nil {
				return err
			}
			if _, err := tx.CreatePromotion(promote.Promotion{ID: "ps" + name, Model: name, Version: "1", Environment: "staging", Digest: digest,
				State: promote.StateAwaitingApproval, RequestedBy: "bob", RequestedAt: webuitest.Start, UpdatedAt: webuitest.Start}); err != nil {
				return err
			}
			if _, err := tx.AddHold(promote.Hold{Model: name, Version: "1", Environment: "prod", Reason: "held " + name, SetBy: "sre", SetAt: webuitest.Start}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p := b.get(Prefix + "/")
	if p.status != http.StatusOK || len(p.all("pipeline-row")) != pipelinePageSize {
		t.Fatalf("GET /ui/ = %d with %d rows, want 200 with %d", p.status, len(p.all("pipeline-row")), pipelinePageSize)
	}
	if diff := cmp.Diff(few, counter.take()); diff != "" {
		t.Errorf("reads of a page of %d models against the demo's 3 (-3 +%[1]d):\n%s", pipelinePageSize, diff)
	}
	for i := range pipelinePageSize {
		name := fmt.Sprintf("m%03d", i)
		for env, want := range map[string]string{"dev": "1", "staging": "1: awaiting approval", "prod": "hold on 1: held " + name} {
			if got := cellText(t, p, name, env); !strings.Contains(got, want) {
				t.Errorf("cell %s/%s = %q, want it to hold %q", name, env, got, want)
			}
		}
	}
}

// TestPipelineReadsACellsNewestHolds: of a cell's active holds the
// pipeline reads the newest few it shows and counts the others, however
// many there are.
func TestPipelineReadsACellsNewestHolds(t *testing.T) {
	f := newFixture(t)
	const many = 1001
	if err := f.env.Store.Update(t.Context(), func(tx promote.Tx) error {
		for i := range many {
			if _, err := tx.AddHold(promote.Hold{Model: "fraud-detector", Version: "1", Environment: "staging", Reason: fmt.Sprintf("hold %d", i),
				SetBy: "sre", SetAt: webuitest.Start}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := f.signIn("vera")
	counter := newReadCounter(f.ui.store)
	f.ui.store = counter
	p := b.get(Prefix + "/")
	if p.status != http.StatusOK {
		t.Fatalf("GET /ui/ = %d", p.status)
	}
	want := fmt.Sprintf("hold on 1: hold %d hold on 1: hold %d hold on 1: hold %d %d more holds", many-1, many-2, many-3, many-cellHolds)
	if got := cellText(t, p, "fraud-detector", "staging"); !strings.Contains(got, want) {
		t.Errorf("cell fraud-detector/staging = %q, want it to hold %q", got, want)
	}
	// The demo's two holds are in two other cells: three cells in all.
	if got, most := counter.takeHolds(), 3*cellHolds; got > most {
		t.Errorf("GET /ui/ read %d holds, want at most %d: the newest %d of each cell", got, most, cellHolds)
	}
}
