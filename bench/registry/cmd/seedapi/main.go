// Command seedapi fills a running Promote server with the registry
// benchmark's models and versions through the REST API (the Go client the
// CLI uses): -models models, each with -versions versions carrying the
// evidence of bench/registry.Metrics, registered by -workers clients at
// once. It writes the models' names, one a line, to -out for the load
// scripts, and prints what it did and how fast.
//
//	seedapi -url http://127.0.0.1:8080 -token $TOKEN -models 500 -versions 40 -out models.txt
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	bench "github.com/promote-ml/promote/bench/registry"
	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

func main() { bench.Main("seedapi", run) }

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("seedapi", flag.ContinueOnError)
	url := fl.String("url", "", "the server's base URL (http://127.0.0.1:PORT)")
	token := fl.String("token", os.Getenv("PROMOTE_TOKEN"), "a submitter's token ($PROMOTE_TOKEN)")
	models := fl.Int("models", 500, "models to create")
	versions := fl.Int("versions", 40, "versions to register per model")
	workers := fl.Int("workers", 16, "clients registering at once")
	out := fl.String("out", "", "write the models' names to this `FILE`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var errs []error
	if *url == "" {
		errs = append(errs, errors.New("-url is required"))
	}
	if *token == "" {
		errs = append(errs, errors.New("-token (or PROMOTE_TOKEN) is required"))
	}
	if *models < 1 || *versions < 1 || *workers < 1 {
		errs = append(errs, fmt.Errorf("-models %d, -versions %d, -workers %d: each must be at least 1", *models, *versions, *workers))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c := httpapi.NewClient(*url, *token, nil)
	if err := c.Ready(ctx); err != nil {
		return err
	}

	start := time.Now()
	var done atomic.Int64
	err := bench.ForEachModel(ctx, *models, *workers, func(ctx context.Context, m int) error {
		if err := seedModel(ctx, c, m, *versions); err != nil {
			return err
		}
		done.Add(int64(*versions))
		return nil
	}, nil)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("seeded %d models and %d versions in %.1fs (%.0f versions/s)\n", *models, done.Load(), elapsed.Seconds(),
		float64(done.Load())/elapsed.Seconds())

	if *out != "" {
		var b strings.Builder
		for m := range *models {
			b.WriteString(bench.ModelName(m))
			b.WriteByte('\n')
		}
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// seedModel creates the m-th model (unless it exists) and registers its
// versions.
func seedModel(ctx context.Context, c *httpapi.Client, m, versions int) error {
	name := bench.ModelName(m)
	if _, err := c.CreateModel(ctx, name, "registry benchmark model"); err != nil && promote.ErrorCode(err) != promote.Conflict {
		return fmt.Errorf("create model %s: %w", name, err)
	}
	for j := 1; j <= versions; j++ {
		v := bench.VersionName(j)
		_, err := c.RegisterVersion(ctx, registry.RegisterRequest{
			Model: name, Version: v, ArtifactURI: bench.ArtifactURI(name, v), Digest: bench.Digest(name, v), Size: 1 << 20,
			Metrics: bench.Metrics(j),
			Lineage: promote.Lineage{CodeCommit: fmt.Sprintf("%040x", m*100000+j), TrainingRun: fmt.Sprintf("run-%d", j)},
		})
		if err != nil && promote.ErrorCode(err) != promote.Conflict {
			return fmt.Errorf("register %s %s: %w", name, v, err)
		}
	}
	return nil
}
