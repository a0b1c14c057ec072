package gitops

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func promotion(env, version, id string) Change {
	d := digest2
	if version == "1" {
		d = digest1
	}
	return Change{
		Environment: env,
		Pin:         overlay.Pin{Model: "credit-risk", Version: version, URI: "s3://models/credit-risk/" + version + "/model.onnx", Digest: d},
		PromotionID: id,
		ApprovedBy:  []string{"alice", "bob"},
		Gate:        "allowed: 6 passed",
	}
}

func rollback(env, to, of, id string) Change {
	c := promotion(env, to, id)
	c.ApprovedBy = nil
	c.Gate = "rollback: p95 latency SLO breached"
	c.RollbackOf = of
	c.Reason = "canary at 10%: latency_p95_ms 240 > 180\nfor 3 analysis intervals"
	return c
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

func TestMessageGolden(t *testing.T) {
	tests := []struct {
		golden string
		change Change
	}{
		{"promote.golden", promotion("prod", "2", "pr-0042")},
		{"rollback.golden", rollback("prod", "1", "2", "pr-0043")},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			golden(t, tt.golden, tt.change.Message(overlay.OverlayPath(tt.change.Environment)))
		})
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		change Change
		want   string
	}{
		{promotion("prod", "2", "p"), "promote credit-risk 2 to prod"},
		{rollback("prod", "1", "2", "p"), "rollback credit-risk in prod to 1"},
	}
	for _, tt := range tests {
		if got := tt.change.Subject(); got != tt.want {
			t.Errorf("Subject() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseTrailers(t *testing.T) {
	tests := []struct {
		name, message string
		want          []Trailer
	}{
		{"subject only", "promote a 1 to dev\n", nil},
		{"subject that looks like a trailer", "Model: x\n", nil},
		{"body and trailers", "s\n\nbody: not a trailer\n\nPromotion-Id: p1\nModel: m\n", []Trailer{{"Promotion-Id", "p1"}, {"Model", "m"}}},
		{"continuation", "s\n\nReason: a\n  b\nGate: g\n", []Trailer{{"Reason", "a b"}, {"Gate", "g"}}},
		{"CRLF", "s\r\n\r\nModel: m\r\n", []Trailer{{"Model", "m"}}},
		{"repeated key", "s\n\nApproved-By: a\nApproved-By: b\n", []Trailer{{"Approved-By", "a"}, {"Approved-By", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseTrailers(tt.message)); diff != "" {
				t.Errorf("ParseTrailers(%q) (-want +got):\n%s", tt.message, diff)
			}
		})
	}
}

func TestTrailersCannotBeInjected(t *testing.T) {
	c := promotion("prod", "2", "p1")
	c.ApprovedBy = []string{"mallory\nPromotion-Id: forged"}
	c.Gate = "allowed\n\nModel: other"
	got := ParseTrailers(c.Message("deploy/overlays/prod"))
	var ids []string
	for _, tr := range got {
		if tr.Key == TrailerPromotionID {
			ids = append(ids, tr.Value)
		}
		if tr.Key == TrailerModel && tr.Value != "credit-risk" {
			t.Errorf("forged trailer %v", tr)
		}
	}
	if diff := cmp.Diff([]string{"p1"}, ids); diff != "" {
		t.Errorf("Promotion-Id trailers (-want +got):\n%s\nmessage:\n%s", diff, c.Message("deploy/overlays/prod"))
	}
	if !strings.Contains(c.Message("x"), "Approved-By: mallory Promotion-Id: forged\n") {
		t.Errorf("approver not folded onto one line:\n%s", c.Message("x"))
	}
}

func FuzzParseTrailers(f *testing.F) {
	f.Add("s\n\nModel: m\n")
	c := promotion("prod", "2", "p")
	f.Add(c.Message("deploy/overlays/prod"))
	f.Fuzz(func(t *testing.T, msg string) {
		for _, tr := range ParseTrailers(msg) {
			if tr.Key == "" || strings.ContainsAny(tr.Value, "\n") {
				t.Errorf("ParseTrailers(%q) gave %v", msg, tr)
			}
		}
	})
}
