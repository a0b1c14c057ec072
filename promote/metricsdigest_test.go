package promote

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"
)

// The digest is the SHA-256 of the canonical encoding docs/audit.md
// specifies, written out here by hand: keys sorted by their bytes, checks
// and groups left out when empty, numbers as encoding/json writes them.
func TestMetricsDigest(t *testing.T) {
	tests := []struct {
		name      string
		metrics   map[string]float64
		checks    map[string]bool
		groups    map[string]map[string]float64
		canonical string
	}{
		{"nothing", nil, nil, nil, `{"metrics":{}}`},
		{"empty checks and groups left out", map[string]float64{}, map[string]bool{}, map[string]map[string]float64{}, `{"metrics":{}}`},
		{"keys sorted by bytes", map[string]float64{"f1": 0.9, "Zeta": 1, "accuracy": 0.91, "a.b": 2}, nil, nil,
			`{"metrics":{"Zeta":1,"a.b":2,"accuracy":0.91,"f1":0.9}}`},
		{"numbers as encoding/json writes them", map[string]float64{"a": 1e-7, "b": 1e21, "c": 1e20, "d": 0.000001, "e": -0.5, "f": 123456789.125, "g": 0.30000000000000004, "h": math.Copysign(0, -1), "i": 1.5e-10},
			nil, nil, `{"metrics":{"a":1e-7,"b":1e+21,"c":100000000000000000000,"d":0.000001,"e":-0.5,"f":123456789.125,"g":0.30000000000000004,"h":-0,"i":1.5e-10}}`},
		{"checks, groups, metrics", map[string]float64{"latency_p95_ms": 140}, map[string]bool{"tests_passed": true, "data_ok": false},
			map[string]map[string]float64{"b": {"tpr": 0.8, "count": 120}, "a": {"selection_rate": 0.4}, "<&>": nil},
			`{"checks":{"data_ok":false,"tests_passed":true},"groups":{"\u003c\u0026\u003e":{},"a":{"selection_rate":0.4},"b":{"count":120,"tpr":0.8}},"metrics":{"latency_p95_ms":140}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(tt.canonical))
			want := "sha256:" + hex.EncodeToString(sum[:])
			got, err := MetricsDigest(tt.metrics, tt.checks, tt.groups)
			if err != nil || got != want {
				t.Errorf("MetricsDigest() = %q, %v; want %q, the digest of %s", got, err, want, tt.canonical)
			}
		})
	}
}

// A value no gate judges is refused, naming it, rather than digested as
// something it is not.
func TestMetricsDigestNotFinite(t *testing.T) {
	for _, tt := range []struct {
		metrics map[string]float64
		groups  map[string]map[string]float64
		want    string
	}{
		{map[string]float64{"ok": 1, "f1": math.NaN()}, nil, "metric f1: NaN is not a finite number"},
		{nil, map[string]map[string]float64{"a": {"tpr": math.Inf(1)}}, "groups.a.tpr: +Inf is not a finite number"},
	} {
		got, err := MetricsDigest(tt.metrics, nil, tt.groups)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("MetricsDigest(%v, %v) = %q, %v; want the error %q", tt.metrics, tt.groups, got, err, tt.want)
		}
	}
}
