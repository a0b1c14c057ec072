package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// trained trains the demo's three versions on its data set.
func trained(t *testing.T) (*Dataset, map[string]*Model, map[string]Evaluation) {
	t.Helper()
	d := NewDataset(Seed, datasetSize)
	models, evals := map[string]*Model{}, map[string]Evaluation{}
	for _, s := range specs {
		m, err := Train(ModelName, s, d, "sha256:test")
		if err != nil {
			t.Fatalf("Train(v%s): %v", s.Version, err)
		}
		ev, err := Evaluate(m, d.Test)
		if err != nil {
			t.Fatalf("Evaluate(v%s): %v", s.Version, err)
		}
		models[s.Version], evals[s.Version] = m, ev
	}
	return d, models, evals
}

// The story needs each version to pass the offline gates of
// policies/prod.yaml against the one before: F1 not worse by more than
// 0.01, a demographic parity difference of at most 0.05.
func TestDemoTrainingMeetsTheStory(t *testing.T) {
	_, _, evals := trained(t)
	for _, v := range []string{"1", "2", "3"} {
		ev := evals[v]
		if ev.AUC < 0.7 || ev.Accuracy < 0.65 || ev.F1 < 0.5 {
			t.Errorf("v%s: accuracy %.4f, F1 %.4f, AUC %.4f; want a model that learned something", v, ev.Accuracy, ev.F1, ev.AUC)
		}
		if dp := ev.DemographicParityDifference(); dp > 0.05 {
			t.Errorf("v%s: demographic parity difference %.4f > 0.05", v, dp)
		}
		if len(ev.Groups) != 2 {
			t.Errorf("v%s: groups %v, want female and male", v, ev.Groups)
		}
	}
	if d := evals["2"].F1 - evals["1"].F1; d < 0.01 {
		t.Errorf("F1 v2 - v1 = %.4f, want v2 clearly better", d)
	}
	if d := evals["3"].F1 - evals["2"].F1; d < 0 {
		t.Errorf("F1 v3 - v2 = %.4f, want v3 better offline", d)
	}
}

func TestDemoTrainingIsDeterministic(t *testing.T) {
	_, a, _ := trained(t)
	_, b, _ := trained(t)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two trainings differ (-first +second):\n%s", diff)
	}
	var buf1, buf2 bytes.Buffer
	d1, _ := NewDataset(Seed, 100).WriteCSV(&buf1)
	d2, _ := NewDataset(Seed, 100).WriteCSV(&buf2)
	if d1 != d2 || buf1.String() != buf2.String() {
		t.Errorf("the data set differs between two draws: %s, %s", d1, d2)
	}
}

// Offline data has no thin files; live traffic has about the share asked.
func TestDemoLiveTrafficHasThinFiles(t *testing.T) {
	d := NewDataset(Seed, datasetSize)
	for _, a := range append(d.Train, d.Test...) {
		if a.History == nil {
			t.Fatal("an offline application has no credit history")
		}
	}
	live := LiveTraffic(Seed+1, 4000, 0.25)
	thin := 0
	for _, a := range live {
		if a.History == nil {
			thin++
		}
	}
	if share := float64(thin) / float64(len(live)); math.Abs(share-0.25) > 0.03 {
		t.Errorf("%.3f of live applications are thin files, want about 0.25", share)
	}
}

func TestDemoAUC(t *testing.T) {
	for _, tt := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"ties count half", []float64{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5},
		{"one pair swapped", []float64{0.1, 0.6, 0.5, 0.9}, []bool{false, false, true, true}, 0.75},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows := make([]Applicant, len(tt.labels))
			for i, l := range tt.labels {
				rows[i].Default = l
			}
			if got := auc(tt.scores, rows); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("auc(%v, %v) = %v, want %v", tt.scores, tt.labels, got, tt.want)
			}
		})
	}
}

// An endpoint serves its artifact: v2 imputes a missing credit history,
// v3, exported without its imputer, fails on it with a server error;
// both answer a complete application as they do offline.
func TestDemoEndpoint(t *testing.T) {
	_, models, _ := trained(t)
	dir := t.TempDir()
	h := 7.5
	complete := Applicant{Income: 40, DebtRatio: 0.5, LatePayments: 2, History: &h, LoanAmount: 25}
	thin := complete
	thin.History = nil
	for _, tt := range []struct {
		version            string
		completeCode, thin int
	}{
		{"2", http.StatusOK, http.StatusOK},
		{"3", http.StatusOK, http.StatusInternalServerError},
	} {
		t.Run("v"+tt.version, func(t *testing.T) {
			m := models[tt.version]
			raw, _ := json.Marshal(m)
			path := filepath.Join(dir, "model-"+tt.version+".json")
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := StartEndpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close(context.Background()) })
			post := func(a Applicant) (int, Prediction) {
				body, _ := json.Marshal(a)
				resp, err := http.Post(e.URL+"/predict", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var p Prediction
				json.NewDecoder(resp.Body).Decode(&p)
				return resp.StatusCode, p
			}
			code, p := post(complete)
			want, _ := m.Score(fieldsOf(complete))
			if code != tt.completeCode || p.Version != tt.version || math.Abs(p.Probability-want) > 1e-6 {
				t.Errorf("complete application: %d %+v, want %d from v%s with p=%.6f", code, p, tt.completeCode, tt.version, want)
			}
			if code, _ := post(thin); code != tt.thin {
				t.Errorf("thin file: %d, want %d", code, tt.thin)
			}
			probe, err := ProbeEndpoint(context.Background(), http.DefaultClient, e, NewDataset(Seed, 200).Test)
			if err != nil || probe.Requests != 60 || probe.Failures != 0 || !(probe.P95Ms() > 0) {
				t.Errorf("ProbeEndpoint = %d requests, %d failures, p95 %v ms, %v; want 60 clean answers", probe.Requests, probe.Failures, probe.P95Ms(), err)
			}
		})
	}
}
