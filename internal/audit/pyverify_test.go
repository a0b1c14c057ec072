package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// TestPythonVerifierAgrees runs docs/tools/verify_audit.py, the standalone
// verifier docs/audit.md gives auditors, on the exports VerifyExport
// verifies, and checks that both say the same: the same result, break
// kind, event and message, the same kept-head checks, and the same lines
// refused as not export lines.
func TestPythonVerifierAgrees(t *testing.T) {
	py := testtool.Find(t, "PROMOTE_PYTHON", "python3", "install Python 3")
	script := filepath.Join("..", "..", "docs", "tools", "verify_audit.py")
	records := chain(t, 6)
	line := func(r promote.AuditRecord) string {
		b, err := json.Marshal(Line{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Body: string(r.Body)})
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	export := func(rs []promote.AuditRecord) string {
		var b strings.Builder
		for _, r := range rs {
			b.WriteString(line(r))
		}
		return b.String()
	}
	full := export(records)
	modified := strings.Replace(full, `\"actor\":\"alice\"`, `\"actor\":\"mallory\"`, 1)
	swapped := export([]promote.AuditRecord{records[0], records[2], records[1], records[3]})
	deleted := export([]promote.AuditRecord{records[0], records[1], records[3]})
	twoDeleted := export([]promote.AuditRecord{records[0], records[3], records[4]})
	relinked := slices.Clone(records)
	relinked[2].PrevHash = records[0].Hash
	rehashed := slices.Clone(records)
	rehashed[2].Body = bytes.Replace(rehashed[2].Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
	rehashed[2].Hash = promote.ChainHash(rehashed[2].PrevHash, rehashed[2].Body)
	hd := func(seq int64, hash string) string { return fmt.Sprintf("%d:%s", seq, hash) }
	tests := []struct {
		name   string
		export string
		heads  []string // as given to --head
	}{
		{"intact", full, nil},
		{"a body modified", modified, nil},
		{"two events swapped", swapped, nil},
		{"an event deleted", deleted, nil},
		{"two events deleted", twoDeleted, nil},
		{"a previous hash edited", export(relinked), nil},
		{"a body edited and rehashed", export(rehashed), nil},
		{"a kept head it holds", full, []string{hd(4, records[3].Hash)}},
		{"a kept head in upper case", full, []string{hd(4, strings.ToUpper(records[3].Hash))}},
		{"a kept head with a sign", full, []string{"+" + hd(4, records[3].Hash)}},
		{"a kept head past its end", export(records[:3]), []string{hd(5, records[4].Hash)}},
		{"a kept head with another hash", full, []string{hd(4, records[2].Hash)}},
		{"two kept heads, the first rewritten", full, []string{hd(2, records[0].Hash), hd(4, records[3].Hash)}},
		{"two kept heads, the second past its end", export(records[:3]), []string{hd(2, records[1].Hash), hd(5, records[4].Hash)}},
		{"a part anchored on a kept head", export(records[2:]), []string{hd(2, records[1].Hash)}},
		{"a part anchored, with a kept head at its end", export(records[2:]), []string{hd(6, records[5].Hash), hd(2, records[1].Hash)}},
		{"a part anchored, cut short", export(records[2:4]), []string{hd(2, records[1].Hash), hd(6, records[5].Hash)}},
		{"a part anchored on another hash", export(records[2:]), []string{hd(2, records[0].Hash)}},
		{"a part anchored, modified", strings.Replace(export(records[2:]), `\"actor\":\"alice\"`, `\"actor\":\"mallory\"`, 1), []string{hd(2, records[1].Hash)}},
		{"a part without its anchor", export(records[2:]), nil},
		{"an empty export with a kept head", "", []string{hd(4, records[3].Hash)}},
		{"a part with a kept head before its anchor", export(records[2:]), []string{hd(2, records[1].Hash), hd(1, records[0].Hash)}},
		{"trailing content after a line", strings.Replace(full, "}\n", "} x\n", 1), nil},
		{"an unknown field", `{"seq":1,"extra":2}` + "\n", nil},
		{"trailing blanks", strings.Replace(full, "}\n", "}  \t\n", 2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{script, "-o", "json"}
			var kept []Head
			var goErr error
			for _, text := range tt.heads {
				args = append(args, "--head", text)
				h, err := ParseHead(text)
				kept, goErr = append(kept, h), errors.Join(goErr, err)
			}
			args = append(args, "-")
			var goRes Result
			if goErr == nil {
				goRes, goErr = VerifyExport(strings.NewReader(tt.export), kept...)
			}
			cmd := exec.Command(py, args...)
			cmd.Stdin = strings.NewReader(tt.export)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if goErr != nil {
				// Both refuse it: the line, or the head.
				if want := "line 1"; code != 2 || (tt.heads == nil && !strings.Contains(stderr.String(), want)) {
					t.Errorf("Go refuses it (%v); the script exits %d: %s%s", goErr, code, stdout.String(), stderr.String())
				}
				return
			}
			var pyRes Result
			if err := json.Unmarshal(stdout.Bytes(), &pyRes); err != nil {
				t.Fatalf("the script's output %q (exit %d, %s): %v", stdout.String(), code, stderr.String(), err)
			}
			if want := map[bool]int{true: 0, false: 1}[goRes.OK]; code != want {
				t.Errorf("the script exits %d, want %d", code, want)
			}
			if diff := cmp.Diff(goRes, pyRes); diff != "" {
				t.Errorf("VerifyExport and verify_audit.py disagree (-Go +Python):\n%s", diff)
			}
		})
	}
}

// TestPythonMetricsDigestAgrees checks that verify_audit.py --metrics-digest
// gives a metrics file the digest Promote records for the metrics a gate
// judged (policy.Evidence.Digest of the file as the server reads it): for
// numbers Go and Python write differently by default, group names that
// need escaping, the fairness metrics derived from groups, and a few
// hundred random values; and that it refuses what Promote refuses.
func TestPythonMetricsDigestAgrees(t *testing.T) {
	py := testtool.Find(t, "PROMOTE_PYTHON", "python3", "install Python 3")
	script := filepath.Join("..", "..", "docs", "tools", "verify_audit.py")
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "candidate.json"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var random, groups strings.Builder
	random.WriteString("{")
	for i := range 300 {
		x := (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(60)-30))
		if i%7 == 0 {
			x = math.Round(x)
		}
		fmt.Fprintf(&random, `"m%d": %s, `, i, strconv.FormatFloat(x, 'g', -1, 64))
	}
	random.WriteString(`"last": 1}`)
	groups.WriteString(`{"groups": {`)
	for i := range 40 {
		fmt.Fprintf(&groups, `"g%d": {"selection_rate": %v, "tpr": %v, "fpr": %v, "count": %d}, `, i, rng.Float64(), rng.Float64(), rng.Float64(), rng.IntN(5000))
	}
	groups.WriteString(`"g-last": {"selection_rate": 0.5, "tpr": 0.5, "fpr": 0.5}}}`)
	files := map[string]string{
		"the example": string(example),
		"numbers": `{"a": 1e-7, "b": 1e21, "c": 1e20, "d": 0.000001, "e": -0.5, "f": 123456789.125, "g": 0.30000000000000004, "h": -0,
			"i": 1.5e-10, "j": 12345678901234567890, "k": 5e-324, "l": 1.7976931348623157e308, "m": 0.1, "n": 100, "o": 1E+2, "p": -1e-300}`,
		"names to escape": `{"x": 1, "checks": {"ok": true, "bad": false}, "groups": {"<a&b>": {"count": 3}, "é\u2028\u0001\"\\": {"tpr": 0.5}, "": {}}}`,
		"MLflow's layout, metadata and a given fairness metric": `{"metrics": {"f1": 0.8}, "params": {"lr": "x"}, "tags": ["t"], "drift": null,
			"metadata": {"v": 1}, "demographic_parity_difference": 0.2000000000001,
			"groups": {"a": {"selection_rate": 0.3, "tpr": 0.7, "fpr": 0.1}, "b": {"selection_rate": 0.1, "tpr": 0.4, "fpr": 0.30000000000000004}}}`,
		"gaps far below 1":             `{"groups": {"a": {"selection_rate": 1e-30, "tpr": 0.30000000000000004, "fpr": 0}, "b": {"selection_rate": 0, "tpr": 0.3, "fpr": -0}}}`,
		"a group short of a statistic": `{"groups": {"a": {"selection_rate": 0.5}, "b": {"selection_rate": 0.25, "tpr": 0.5}}}`,
		"random numbers":               random.String(),
		"random groups":                groups.String(),
	}
	dir := t.TempDir()
	args := []string{script, "-o", "json", "--metrics-digest"}
	var want []metricsDigest
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		ev, err := policy.ParseEvidence(path, []byte(files[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d, err := ev.Digest()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		args = append(args, path)
		want = append(want, metricsDigest{File: path, Digest: d})
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("verify_audit.py --metrics-digest: %v", err)
	}
	var got []metricsDigest
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("the script's output %q: %v", out, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Evidence.Digest and verify_audit.py --metrics-digest disagree (-Go +Python):\n%s", diff)
	}

	for name, doc := range map[string]string{
		"a boolean at the top":      `{"a": true}`,
		"a string for a number":     `{"a": "0.9"}`,
		"NaN":                       `{"a": NaN}`,
		"out of range":              `{"a": 1e400}`,
		"a key repeated":            `{"a": 1, "a": 2}`,
		"a rate above 1":            `{"groups": {"x": {"tpr": 1.5}, "y": {"tpr": 0.5}}}`,
		"a part count":              `{"groups": {"x": {"count": 1.5}}}`,
		"a derived suffix":          `{"metrics": {"f1_delta": 0.1}}`,
		"a bad name":                `{"1f": 0.1}`,
		"a check not a boolean":     `{"checks": {"ok": 1}}`,
		"not an object":             `[1]`,
		"a fairness metric at odds": `{"demographic_parity_difference": 0.3, "groups": {"a": {"selection_rate": 0.5}, "b": {"selection_rate": 0.1}}}`,
	} {
		if _, err := policy.ParseEvidence("m.json", []byte(doc)); err == nil {
			t.Errorf("%s: ParseEvidence(%s) accepts it", name, doc)
			continue
		}
		path := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, script, "--metrics-digest", path)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || stdout.Len() > 0 || !strings.Contains(stderr.String(), "metrics "+path+": ") {
			t.Errorf("%s: verify_audit.py --metrics-digest on %s = %v, %q, %q; want exit 2 and an error naming the file", name, doc, err, stdout.String(), stderr.String())
		}
	}
}

// metricsDigest is a line of verify_audit.py --metrics-digest -o json, as
// promote audit metrics-digest -o json writes it.
type metricsDigest struct {
	File   string `json:"file"`
	Digest string `json:"digest"`
}
