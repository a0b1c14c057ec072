package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// TestHistoryPages checks that GET /models/{model}/history answers a page
// at a time, through the real client: the newest first, the next page
// before the last one's seq, each change with the one after it; and that
// a cursor that is not a change of the model there is refused, naming it.
func TestHistoryPages(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c := f.model("churn")
	const changes = 7
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if err := f.store.Update(ctx, func(tx promote.Tx) error {
		for i := range changes {
			if err := tx.SetLive(promote.Live{Model: "churn", Environment: "dev", Version: "1", PromotionID: fmt.Sprintf("p%d", i),
				SetBy: "alice", SetAt: start.Add(time.Duration(i) * time.Minute), Reason: "promoted"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	var before int64
	for range changes {
		page, err := c.History(ctx, promote.LiveFilter{Model: "churn", Environment: "dev", BeforeSeq: before, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			next := "-"
			if l.Next != nil {
				next = l.Next.PromotionID
			}
			got = append(got, l.PromotionID+">"+next)
		}
		before = page[len(page)-1].Seq
	}
	want := []string{"p6>-", "p5>p6", "p4>p5", "p3>p4", "p2>p3", "p1>p2", "p0>p1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the history, 3 a page (-want +got):\n%s", diff)
	}
	newest, err := c.History(ctx, promote.LiveFilter{Model: "churn", Environment: "dev", Limit: 1})
	if err != nil || len(newest) != 1 {
		t.Fatalf("the newest change = %+v, %v", newest, err)
	}
	// Another model's change is no cursor of churn's history.
	f.model("fraud")
	f.promoteTo("fraud", "dev")
	fraud, err := c.History(ctx, promote.LiveFilter{Model: "fraud", Environment: "dev"})
	if err != nil || len(fraud) != 1 {
		t.Fatalf("fraud's history = %+v, %v", fraud, err)
	}
	for _, tt := range []struct {
		query, want string
	}{
		{fmt.Sprintf("before=%d", fraud[0].Seq), fmt.Sprintf(`before_seq %d is not a change of model "churn" in "dev"`, fraud[0].Seq)},
		{"after=-1", `query parameter after: "-1" is not a non-negative integer`},
		{"limit=0", "limit"},
	} {
		r := f.do(http.MethodGet, Prefix+"/models/churn/history?environment=dev&"+tt.query, f.vera, "", nil)
		if r.status != http.StatusBadRequest || r.err.Error.Code != promote.Invalid || !strings.Contains(r.err.Error.Message, tt.want) {
			t.Errorf("GET history?%s = %d %+v, want 400 invalid naming %q", tt.query, r.status, r.err, tt.want)
		}
	}
}
