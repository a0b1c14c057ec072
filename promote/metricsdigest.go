package promote

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
)

// MetricsDigest returns the digest of the evidence a gate judges, for the
// audit log: "sha256:" and the lower-case hex SHA-256 of its canonical
// JSON encoding, which docs/audit.md specifies so that anyone can compute
// it again. That encoding is one object, {"checks":…,"groups":…,
// "metrics":…}, with checks and groups left out when empty and metrics
// always present; every object's keys sorted by their bytes; no white
// space; numbers as encoding/json writes a float64 (the shortest decimal
// that reads back as the same number, in exponent form below 1e-6 and
// from 1e21 on); strings escaped as in an event's body. A value that is
// NaN or infinite is an error naming it: a gate never judges one.
//
// The digest covers what the gate judged, as the server holds it, not the
// bytes of the file it came from: the same metrics written in another
// layout, order or spacing have the same digest.
func MetricsDigest(metrics map[string]float64, checks map[string]bool, groups map[string]map[string]float64) (string, error) {
	for _, k := range slices.Sorted(maps.Keys(metrics)) {
		if v := metrics[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("metric %s: %v is not a finite number", k, v)
		}
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		for _, k := range slices.Sorted(maps.Keys(groups[g])) {
			if v := groups[g][k]; math.IsNaN(v) || math.IsInf(v, 0) {
				return "", fmt.Errorf("groups.%s.%s: %v is not a finite number", g, k, v)
			}
		}
	}
	if metrics == nil {
		metrics = map[string]float64{}
	}
	// A group without statistics is an empty object, as it was given,
	// never null.
	gs := make(map[string]map[string]float64, len(groups))
	for g, stats := range groups {
		if stats == nil {
			stats = map[string]float64{}
		}
		gs[g] = stats
	}
	// encoding/json writes map keys sorted by their bytes, and struct
	// fields in this order, which is the keys' sorted order too.
	b, err := json.Marshal(struct {
		Checks  map[string]bool               `json:"checks,omitempty"`
		Groups  map[string]map[string]float64 `json:"groups,omitempty"`
		Metrics map[string]float64            `json:"metrics"`
	}{checks, gs, metrics})
	if err != nil {
		return "", fmt.Errorf("encode the metrics: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
