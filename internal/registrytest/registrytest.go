// Package registrytest sets up, for tests, a registry service as promote
// serve makes one: a pipeline, each of its environments' gates compiled
// from a policy, and a real SQLite store. Only tests import it.
package registrytest

import (
	"path/filepath"
	"testing"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/promote"
)

// Setup is a pipeline, the policy its environments are gated by, and each
// environment's gate compiled from that policy.
type Setup struct {
	Pipeline *pipeline.Pipeline
	Policy   *policy.Policy
	Gates    map[string]*policy.Gate
}

// Load parses the pipeline document pipelineDoc (as promote.yaml) and the
// policy document policyDoc (as policy.yaml), and compiles the gate of each
// of the pipeline's environments from the policy. An error fails the test.
func Load(tb testing.TB, pipelineDoc, policyDoc string) Setup {
	tb.Helper()
	pl, err := pipeline.Parse("promote.yaml", []byte(pipelineDoc))
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := policy.Load("policy.yaml", []byte(policyDoc))
	if err != nil {
		tb.Fatal(err)
	}
	gates := map[string]*policy.Gate{}
	for _, e := range pl.Names() {
		if gates[e], err = pol.Gate(e); err != nil {
			tb.Fatal(err)
		}
	}
	return Setup{Pipeline: pl, Policy: pol, Gates: gates}
}

// New makes a registry service on store with cfg, whose Pipeline and Gates
// it sets to s's. An error fails the test.
func (s Setup) New(tb testing.TB, store promote.Store, cfg registry.Config) *registry.Service {
	tb.Helper()
	cfg.Pipeline, cfg.Gates = s.Pipeline, s.Gates
	svc, err := registry.New(store, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// SQLite opens a SQLite store in the directory data under dir, and closes
// it when the test ends. An error fails the test.
func SQLite(tb testing.TB, dir string) *sqlstore.DB {
	tb.Helper()
	store, err := sqlite.Open(tb.Context(), filepath.Join(dir, "data"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}
