// Command splitter is the router benchmark's splitter (bench/traffic/run.sh):
// Promote's traffic.Splitter with its default configuration, served as
// promote serve's agent serves it, by a traffic.Server whose fast path
// takes the plain requests (-nethttp: by an http.Server alone), sending a
// -weight share of requests (10%) to the canary backend and the rest to
// the stable one, with its metrics in a Prometheus registry served at
// /-/metrics, as promote runs it. Like cmd/promote it calls cli.TuneGC
// first, so GOGC is 400 unless the environment sets it. It prints the
// address it listens on, then serves until interrupted; with -cpuprofile
// it writes a CPU profile of the whole run when it stops.
//
//	splitter -addr 127.0.0.1:0 -stable http://127.0.0.1:41234 -canary http://127.0.0.1:41235 [-weight 0.1] [-nethttp] [-cpuprofile FILE]
//	listening on http://127.0.0.1:41236
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/promote-ml/promote/bench/traffic"
	"github.com/promote-ml/promote/internal/cli"
)

func main() {
	cli.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "splitter:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("splitter", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	stable := fs.String("stable", "", "base `URL` of the stable backend (required)")
	canary := fs.String("canary", "", "base `URL` of the canary backend (none when empty)")
	weight := fs.Float64("weight", 0.1, "the canary's share of requests, 0 to 1")
	netHTTP := fs.Bool("nethttp", false, "serve every request through net/http (no fast path)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` on exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var cfg traffic.SplitterConfig
	var err error
	if cfg.Stable, err = traffic.ParseBackendURL("-stable", *stable); err != nil {
		return err
	}
	if *canary != "" {
		if cfg.Canary, err = traffic.ParseBackendURL("-canary", *canary); err != nil {
			return err
		}
		cfg.Weight = *weight
	}
	reg, err := traffic.NewRegistry()
	if err != nil {
		return err
	}
	cfg.Registry = reg
	s, err := traffic.NewSplitter(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		s.Close()
		return err
	}
	srv := &http.Server{Handler: traffic.SplitterHandler(s, reg), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	var server interface {
		Serve(net.Listener) error
		Shutdown(context.Context) error
	} = srv
	if !*netHTTP {
		server = traffic.NewServer(srv, s)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error {
		if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return server.Shutdown(shutdown)
	})
	return g.Wait()
}
