package registry

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

//go:embed testdata
var testdata embed.FS

// The people the load acts as: a CI job requests promotions, an ML lead
// approves them in prod.
const (
	Submitter = "ci"
	Approver  = "lena"
)

// Pipeline returns the benchmark's pipeline (testdata/promote.yaml) and each
// environment's compiled gate, as `promote serve --pipeline` loads them.
func Pipeline() (*pipeline.Pipeline, map[string]*policy.Gate, error) {
	return loadPipeline("promote.yaml")
}

// loadPipeline loads the pipeline testdata/name and its environments' gates.
func loadPipeline(name string) (*pipeline.Pipeline, map[string]*policy.Gate, error) {
	data, err := testdata.ReadFile(path.Join("testdata", name))
	if err != nil {
		return nil, nil, err
	}
	pl, err := pipeline.Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	gates := map[string]*policy.Gate{}
	for _, e := range pl.Environments {
		file := path.Join("testdata", e.Policy)
		data, err := testdata.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("environment %s: %w", e.Name, err)
		}
		pol, err := policy.Load(e.Policy, data)
		if err != nil {
			return nil, nil, err
		}
		if gates[e.Name], err = pol.Gate(e.Name); err != nil {
			return nil, nil, fmt.Errorf("environment %s: %w", e.Name, err)
		}
	}
	return pl, gates, nil
}

// ModelName is the name of the i-th model of the load (from 0).
func ModelName(i int) string { return fmt.Sprintf("model-%05d", i) }

// VersionName is the name of a model's j-th version (from 1).
func VersionName(j int) string { return fmt.Sprintf("v%d", j) }

// Digest is the artifact digest registered for a model's version.
func Digest(model, version string) string {
	sum := sha256.Sum256([]byte(model + "/" + version))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ArtifactURI is where a version's artifact is said to be; the server
// cannot read it, so the registration carries its digest.
func ArtifactURI(model, version string) string {
	return "s3://models/" + model + "/" + version + "/model.bin"
}

// Metrics is the metrics.json document of a model's j-th version (from 1).
// Each version is a little better than the one before it, so every
// environment's gate allows it against any earlier version live there:
// dev and staging then complete a request, and prod waits for its approval.
func Metrics(j int) []byte {
	gain := float64(j) / float64(j+1) // rises towards 1
	return fmt.Appendf(nil, `{
  "accuracy": %.6f,
  "f1": %.6f,
  "latency_p95_ms": %.3f,
  "checks": {"tests_passed": true, "data_quality_passed": true},
  "groups": {
    "female": {"selection_rate": 0.31, "tpr": 0.82, "fpr": 0.07, "count": 1200},
    "male": {"selection_rate": 0.33, "tpr": 0.84, "fpr": 0.08, "count": 1310}
  },
  "metadata": {"training_run": "run-%d"}
}`, 0.90+0.05*gain, 0.85+0.05*gain, 140-10*gain, j)
}

// AuditEvents generates the audit events of a registry's ordinary life, in
// the order and with the content the service writes them: each new version
// of a model is registered, promoted through dev and staging (requested,
// gated with the gate's results, approved, live changed, succeeded) and
// then to prod, where it waits for an ML lead's approval before it goes
// live. Models are visited in turn, so the chain interleaves them as a busy
// registry does. Times advance by a millisecond per event from Start.
type AuditEvents struct {
	models  int
	start   time.Time
	reasons map[string]json.RawMessage // each environment's gate results
	pending []promote.AuditEvent
	n       int64 // events returned
	cycle   int   // lifecycles generated
	live    []map[string]string
}

// NewAuditEvents returns a generator over the given number of models whose
// first event is at start. The gate results in the events come from running
// the benchmark pipeline's gates on two versions' evidence.
func NewAuditEvents(models int, start time.Time) (*AuditEvents, error) {
	if models < 1 {
		return nil, fmt.Errorf("audit events: %d models; at least 1", models)
	}
	pl, gates, err := Pipeline()
	if err != nil {
		return nil, err
	}
	cand, err := policy.ParseEvidence("metrics.json", Metrics(2))
	if err != nil {
		return nil, err
	}
	base, err := policy.ParseEvidence("metrics.json", Metrics(1))
	if err != nil {
		return nil, err
	}
	g := &AuditEvents{models: models, start: start.UTC(), reasons: map[string]json.RawMessage{}, live: make([]map[string]string, models)}
	for _, e := range pl.Environments {
		d := gates[e.Name].Evaluate(policy.Input{Candidate: cand, Baseline: base, RequestedBy: Submitter,
			Approvers: []policy.Approver{{Name: Approver, Roles: []string{"approver", "ml-lead"}}}})
		if !d.Allowed {
			return nil, fmt.Errorf("audit events: the %s gate blocks the benchmark's evidence: %+v", e.Name, d.Blocking())
		}
		if g.reasons[e.Name], err = json.Marshal(d.Results); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Next returns the next event, with Seq, PrevHash and Hash left for
// AppendAudit to fill in.
func (g *AuditEvents) Next() promote.AuditEvent {
	if len(g.pending) == 0 {
		g.lifecycle()
	}
	e := g.pending[0]
	g.pending = g.pending[1:]
	e.Time = g.start.Add(time.Duration(g.n) * time.Millisecond)
	g.n++
	return e
}

// lifecycle queues the events of the next version of the next model.
func (g *AuditEvents) lifecycle() {
	m := g.cycle % g.models
	model, version := ModelName(m), VersionName(g.cycle/g.models+1)
	g.cycle++
	digest := Digest(model, version)
	if g.live[m] == nil {
		g.live[m] = map[string]string{}
	}
	live := func() map[string]string {
		c := make(map[string]string, len(g.live[m]))
		for k, v := range g.live[m] {
			c[k] = v
		}
		return c
	}
	add := func(e promote.AuditEvent) {
		e.Model, e.Version, e.Digest = model, version, digest
		if e.Actor == "" {
			e.Actor = Submitter
		}
		e.Live = live()
		g.pending = append(g.pending, e)
	}
	add(promote.AuditEvent{Action: promote.ActionVersionRegistered, Decision: "unsigned"})
	for i, env := range []string{"dev", "staging", "prod"} {
		id := fmt.Sprintf("pr_%016x", g.cycle*3+i)
		state := func(decision string, reasons json.RawMessage) promote.AuditEvent {
			return promote.AuditEvent{Action: promote.ActionPromotionState, Environment: env, PromotionID: id, Decision: decision, Reasons: reasons}
		}
		add(promote.AuditEvent{Action: promote.ActionPromotionRequested, Environment: env, PromotionID: id, Decision: string(promote.StateRequested)})
		add(state(string(promote.StateGated), g.reasons[env]))
		why := "allowed by the gate; no approval needed"
		if env == "prod" {
			add(state(string(promote.StateAwaitingApproval), reasonsJSON("awaiting approval: 0 of 1 approvals (roles: ml-lead)")))
			add(promote.AuditEvent{Actor: Approver, Action: promote.ActionPromotionApproval, Environment: env, PromotionID: id,
				Decision: "approved", Approvers: []string{Approver}, Reasons: reasonsJSON("metrics reviewed")})
			why = "approved by " + Approver
		}
		add(state(string(promote.StateApproved), reasonsJSON(why)))
		g.live[m][env] = version
		add(promote.AuditEvent{Action: promote.ActionLiveChanged, Environment: env, PromotionID: id, Decision: "promoted"})
		add(state(string(promote.StateSucceeded), nil))
	}
}

func reasonsJSON(reasons ...string) json.RawMessage {
	raw, _ := json.Marshal(reasons)
	return raw
}

// SeedAudit appends n events from events to store's audit chain through
// the store's own AppendAudit, batch events per transaction, and calls
// progress (when not nil) after each transaction with the count so far.
func SeedAudit(ctx context.Context, store promote.Store, events *AuditEvents, n, batch int, progress func(done int)) error {
	if batch < 1 {
		return fmt.Errorf("seed audit: batch %d; at least 1", batch)
	}
	for done := 0; done < n; {
		k := min(batch, n-done)
		err := store.Update(ctx, func(tx promote.Tx) error {
			for range k {
				if _, err := tx.AppendAudit(events.Next()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed audit after %d events: %w", done, err)
		}
		done += k
		if progress != nil {
			progress(done)
		}
	}
	return nil
}
