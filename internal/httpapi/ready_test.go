package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// benchReadyModels is how many models BenchmarkReadyz stores: a probe's
// cost must not grow with them.
const benchReadyModels = 10_000

// BenchmarkReadyz measures one readiness probe, GET /readyz through the
// real client, against a SQLite store holding 10,000 models: Kubernetes
// sends one every few seconds to every replica.
func BenchmarkReadyz(b *testing.B) {
	f := newFixture(b)
	if err := f.store.Update(b.Context(), func(tx promote.Tx) error {
		for i := range benchReadyModels {
			m := promote.Model{Name: fmt.Sprintf("model-%05d", i), CreatedBy: "bench", CreatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
			if _, err := tx.CreateModel(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	c := f.client("")
	for b.Loop() {
		if err := c.Ready(b.Context()); err != nil {
			b.Fatalf("Ready = %v, want nil", err)
		}
	}
}
