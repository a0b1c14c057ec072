// Command seedaudit fills a store's audit log with the events of a busy
// registry (bench/registry.AuditEvents), appended through the store's own
// AppendAudit — the code the service uses — many to a transaction so that a
// million events take seconds, not the hours a million requests would. The
// chain it leaves is what `promote audit verify --local` then checks.
//
//	seedaudit -data DIR -events 1000000
//	seedaudit -database postgres://… -events 1000000 -batch 10000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/promote-ml/promote/bench/internal/storeflag"
	bench "github.com/promote-ml/promote/bench/registry"
)

func main() { bench.Main("seedaudit", run) }

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("seedaudit", flag.ContinueOnError)
	target := storeflag.Add(fl)
	events := fl.Int("events", 1_000_000, "events to append")
	batch := fl.Int("batch", 10_000, "events per transaction")
	models := fl.Int("models", 500, "models the events are about")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *events < 1 {
		return fmt.Errorf("-events %d: at least 1", *events)
	}
	store, err := target.Open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	gen, err := bench.NewAuditEvents(*models, time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	if err != nil {
		return err
	}
	start := time.Now()
	last := start
	err = bench.SeedAudit(ctx, store, gen, *events, *batch, func(done int) {
		if now := time.Now(); now.Sub(last) >= 5*time.Second || done == *events {
			last = now
			fmt.Fprintf(os.Stderr, "  %d events appended (%.0f/s)\n", done, float64(done)/now.Sub(start).Seconds())
		}
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("appended %d audit events in %.1fs (%.0f events/s)\n", *events, elapsed.Seconds(), float64(*events)/elapsed.Seconds())
	return nil
}
