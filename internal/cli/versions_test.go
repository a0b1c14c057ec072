package cli

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// TestVersionsListPages: promote versions list shows each version's SEQ
// and pages a model's versions with --limit, --before and --after against
// a real server.
func TestVersionsListPages(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	artifact := filepath.Join(examples, "model.bin")
	for _, v := range []string{"1", "2", "3"} {
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", artifact)
	}
	var all []promote.Version
	if err := json.Unmarshal([]byte(must(0, ci, "versions", "list", "credit-risk", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Version != "3" || all[2].Version != "1" {
		t.Fatalf("versions list = %+v, want 3, 2, 1", all)
	}
	seq := func(i int) string { return strconv.FormatInt(all[i].Seq, 10) }

	// The table's first column is SEQ, and a page's last SEQ is the next
	// page's --before.
	first := must(0, ci, "versions", "list", "credit-risk", "--limit", "2")
	lines := strings.Split(strings.TrimSpace(first), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SEQ ") || !strings.HasPrefix(lines[1], seq(0)+" ") || !strings.HasPrefix(lines[2], seq(1)+" ") {
		t.Errorf("versions list --limit 2 =\n%s\nwant the header and versions 3 and 2, each after its SEQ", first)
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--before", seq(1)}, []string{"1"}},
		{[]string{"--before", seq(2)}, nil},
		{[]string{"--after", seq(2), "--limit", "1"}, []string{"2"}},
		{[]string{"--after", seq(2)}, []string{"3", "2"}},
	} {
		var page []promote.Version
		args := append([]string{"versions", "list", "credit-risk", "-o", "json"}, tt.args...)
		if err := json.Unmarshal([]byte(must(0, ci, args...)), &page); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range page {
			got = append(got, v.Version)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("versions list %s = %q, want %q", strings.Join(tt.args, " "), got, tt.want)
		}
	}
}
