package gitclone

import (
	"slices"
	"testing"
)

func TestProblems(t *testing.T) {
	tests := []struct {
		name                string
		remote, dir, branch string
		want                []string
		wantBranch          string
	}{
		{"fine, default branch", "https://git.example.com/ops.git", "/data/gitops", "", nil, DefaultBranch},
		{"fine, named branch", "/srv/gitops.git", "/data/gitops", "deploy/prod", nil, "deploy/prod"},
		{"every problem at once", "", "", "bad..name", []string{"remote is empty", "dir is empty", `branch "bad..name" is not a valid branch name`}, "bad..name"},
		{"a lock file is no branch", "r", "d", "main.lock", []string{`branch "main.lock" is not a valid branch name`}, "main.lock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			branch := tt.branch
			got := Problems(tt.remote, tt.dir, &branch)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Problems(%q, %q, %q) = %q, want %q", tt.remote, tt.dir, tt.branch, got, tt.want)
			}
			if branch != tt.wantBranch {
				t.Errorf("branch after Problems = %q, want %q", branch, tt.wantBranch)
			}
		})
	}
}
