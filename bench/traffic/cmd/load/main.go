// Command load sends GET requests to a URL at a fixed rate, open loop, and
// prints the latency distribution (see traffic.Load: coordinated omission
// is counted, the generator's own lateness is not). bench/traffic/run.sh
// uses it for the latency at 1,000 requests/s, which wrk cannot send at a
// fixed rate.
//
//	load -url http://127.0.0.1:8080/predict -rate 1000 -duration 15s [-conns 16] [-warmup 2s]
//
// It ends with one line for run.sh:
//
//	RESULT requests=… errors=… held=… seconds=… rps=… p50_us=… p90_us=… p99_us=… p999_us=… max_us=…
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/promote-ml/promote/bench/traffic"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var l traffic.Load
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&l.URL, "url", "", "`URL` to send GET requests to (required)")
	fs.Float64Var(&l.Rate, "rate", 1000, "requests per second")
	fs.DurationVar(&l.Duration, "duration", 15*time.Second, "how long to send for, after the warm-up")
	fs.IntVar(&l.Conns, "conns", 16, "keep-alive connections the requests are spread over")
	warmup := fs.Duration("warmup", 2*time.Second, "how long to send at the same rate first, not counted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if l.URL == "" {
		return fmt.Errorf("-url is required")
	}
	if *warmup > 0 {
		w := l
		w.Duration = *warmup
		if _, err := w.Run(ctx); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	r, err := l.Run(ctx)
	if err != nil {
		return err
	}
	us := func(p float64) float64 { return float64(r.Percentile(p)) / float64(time.Microsecond) }
	_, err = fmt.Fprintf(out, "RESULT requests=%d errors=%d held=%d seconds=%.2f rps=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f\n",
		r.Requests, r.Errors, r.Held, r.Elapsed.Seconds(), float64(r.Requests)/r.Elapsed.Seconds(),
		us(50), us(90), us(99), us(99.9), us(100))
	return err
}
