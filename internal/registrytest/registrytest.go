// Package registrytest sets up, for tests, a registry service as promote
// serve makes one: a pipeline, each of its environments' gates compiled
// from a policy, and a real SQLite or PostgreSQL store. Only tests import
// it.
package registrytest

import (
	"path/filepath"
	"testing"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// Setup is a pipeline, the policy its environments are gated by, and each
// environment's gate compiled from that policy.
type Setup struct {
	Pipeline *pipeline.Pipeline
	// Policy is the policy of every environment (Load); nil when each
	// has its own (LoadEach).
	Policy *policy.Policy
	Gates  map[string]*policy.Gate
}

// Load parses the pipeline document pipelineDoc (as promote.yaml) and the
// policy document policyDoc (as policy.yaml), and compiles the gate of each
// of the pipeline's environments from the policy. An error fails the test.
func Load(tb testing.TB, pipelineDoc, policyDoc string) Setup {
	tb.Helper()
	pl := parsePipeline(tb, pipelineDoc)
	pol := loadPolicy(tb, "policy.yaml", policyDoc)
	gates := map[string]*policy.Gate{}
	for _, e := range pl.Names() {
		gates[e] = compileGate(tb, pol, e)
	}
	return Setup{Pipeline: pl, Policy: pol, Gates: gates}
}

// LoadEach is Load for a pipeline whose environments each have a policy
// of their own: policies maps each environment's name to the document of
// its policy file (read as the file the pipeline names). An environment
// without one, like any other error, fails the test.
func LoadEach(tb testing.TB, pipelineDoc string, policies map[string]string) Setup {
	tb.Helper()
	pl := parsePipeline(tb, pipelineDoc)
	gates := map[string]*policy.Gate{}
	for _, e := range pl.Environments {
		doc, ok := policies[e.Name]
		if !ok {
			tb.Fatalf("registrytest: no policy for environment %s (%s)", e.Name, e.Policy)
		}
		gates[e.Name] = compileGate(tb, loadPolicy(tb, e.Policy, doc), e.Name)
	}
	return Setup{Pipeline: pl, Gates: gates}
}

func parsePipeline(tb testing.TB, doc string) *pipeline.Pipeline {
	tb.Helper()
	pl, err := pipeline.Parse("promote.yaml", []byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	return pl
}

func loadPolicy(tb testing.TB, file, doc string) *policy.Policy {
	tb.Helper()
	pol, err := policy.Load(file, []byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	return pol
}

func compileGate(tb testing.TB, pol *policy.Policy, env string) *policy.Gate {
	tb.Helper()
	g, err := pol.Gate(env)
	if err != nil {
		tb.Fatal(err)
	}
	return g
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

// Postgres opens a PostgreSQL store in a schema of its own on the test
// server (storetest.PostgresDSN), and closes it when the test ends. Without
// a server the test is skipped, except in CI. An error fails the test.
func Postgres(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	store, err := postgres.Open(tb.Context(), storetest.PostgresDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}
