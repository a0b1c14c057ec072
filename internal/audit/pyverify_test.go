package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
