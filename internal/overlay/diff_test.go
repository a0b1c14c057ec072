package overlay

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"one line changed", "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nX\nf\ng\nh\n",
			"--- a\n+++ b\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+X\n f\n g\n h\n"},
		{"added to empty", "", "x\ny\n", "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"all removed", "x\ny\n", "", "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", // the second only removes
			"--- a\n+++ b\n@@ -0,0 +1,1 @@\n+0\n@@ -12,1 +12,0 @@\n-12\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := 3
			if tc.name == "two hunks" {
				ctx = 0
			}
			got := unifiedDiff("a", "b", tc.a, tc.b, ctx)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("unifiedDiff(%q, %q) (-want +got):\n%s", tc.a, tc.b, diff)
			}
		})
	}
}

// FuzzEditScript: the edit script turns a into b, and keeps every common
// line it can (its length is minimal for the lines it keeps).
func FuzzEditScript(f *testing.F) {
	f.Add("a\nb\nc", "a\nc\nd")
	f.Add("", "x")
	f.Add("x\nx\nx", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
		var gotA, gotB []string
		kept := 0
		for _, op := range editScript(al, bl) {
			if op.kind != '+' {
				gotA = append(gotA, op.text)
			}
			if op.kind != '-' {
				gotB = append(gotB, op.text)
			}
			if op.kind == ' ' {
				kept++
			}
		}
		if !cmp.Equal(al, gotA) || !cmp.Equal(bl, gotB) {
			t.Fatalf("editScript(%q, %q) does not rebuild both sides", a, b)
		}
		if lcs := lcsLen(al, bl); kept != lcs {
			t.Fatalf("editScript(%q, %q) keeps %d lines, the longest common subsequence has %d", a, b, kept, lcs)
		}
	})
}

func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestDiffGolden(t *testing.T) {
	dir := scaffold(t)
	if _, err := SetPin(dir, "prod", pin2); err != nil {
		t.Fatal(err)
	}
	got, err := Diff(dir, "staging", "prod")
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	golden(t, "diff/staging-prod.diff", []byte(got))

	if same, err := Diff(dir, "dev", "dev"); err != nil || same != "" {
		t.Errorf("Diff(dev, dev) = %q, %v; want nothing", same, err)
	}
	replaceInFile(t, dir+"/deploy/overlays/dev/kustomization.yaml", "  - values.yaml", "  - values.yaml\n  - missing.yaml")
	_, err = Diff(dir, "dev", "prod")
	var re *RenderError
	if !errors.As(err, &re) || re.Env != "dev" {
		t.Errorf("Diff with a broken dev = %v, want a *RenderError for dev", err)
	}
}
