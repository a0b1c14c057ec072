package demo

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/overlay"
)

// repoFiles are the demo's pipeline and policies, written over the ones
// promote init scaffolds: the same shape, with soak times and canary steps
// of seconds, and prod's approval bound to the ml-lead role.
//
//go:embed repo
var repoFiles embed.FS

// Branch is the branch of the GitOps repository that is deployed.
const Branch = "main"

// author signs the repository's first commit; the server's commits are
// Promote's own.
var author = object.Signature{Name: "Promote demo", Email: "demo@promote.localhost"}

// CreateRepository writes the GitOps repository into dir as promote init
// does, with the demo's pipeline and policies and the signing key's public
// half at keys/cosign.pub, checks that every overlay renders, commits it
// as the first commit of a new bare repository at remote (the GitOps
// remote the server commits to and the agent deploys from) and returns
// that commit.
func CreateRepository(dir, remote string, publicKey []byte) (string, error) {
	if _, err := overlay.Scaffold(dir, overlay.ScaffoldOptions{}); err != nil {
		return "", fmt.Errorf("scaffold the GitOps repository: %w", err)
	}
	err := fs.WalkDir(repoFiles, "repo", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := repoFiles.ReadFile(name)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(name, "repo/"))), data, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("write the demo's pipeline: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "cosign.pub"), publicKey, 0o644); err != nil {
		return "", err
	}
	if _, err := overlay.RenderAll(dir, overlay.ScaffoldEnvironments); err != nil {
		return "", err
	}

	main := plumbing.NewBranchReferenceName(Branch)
	if _, err := git.PlainInitWithOptions(remote, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: main}}); err != nil {
		return "", fmt.Errorf("create the GitOps remote %s: %w", remote, err)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: main}})
	if err != nil {
		return "", fmt.Errorf("git init %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return "", fmt.Errorf("git add: %w", err)
	}
	sig := author
	sig.When = time.Now()
	head, err := wt.Commit("promote init: the credit-risk pipeline, policies and overlays\n", &git.CommitOptions{Author: &sig, Committer: &sig})
	if err != nil {
		return "", fmt.Errorf("git commit: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		return "", err
	}
	spec := config.RefSpec(main + ":" + main)
	if err := repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}}); err != nil {
		return "", fmt.Errorf("git push %s: %w", remote, err)
	}
	return head.String(), nil
}

// Commit is one commit of the deployed branch.
type Commit struct {
	Hash     string
	Subject  string
	Trailers []gitops.Trailer
}

// Trailer returns the first value of a trailer, or "".
func (c Commit) Trailer(key string) string {
	for _, t := range c.Trailers {
		if strings.EqualFold(t.Key, key) {
			return t.Value
		}
	}
	return ""
}

// History returns the commits of the deployed branch of the repository at
// remote, newest first.
func History(remote string) ([]Commit, error) {
	repo, err := git.PlainOpen(remote)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", remote, err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(Branch), true)
	if err != nil {
		return nil, fmt.Errorf("%s: branch %s: %w", remote, Branch, err)
	}
	iter, err := repo.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		return nil, err
	}
	var out []Commit
	err = iter.ForEach(func(c *object.Commit) error {
		subject, _, _ := strings.Cut(c.Message, "\n")
		out = append(out, Commit{Hash: c.Hash.String(), Subject: subject, Trailers: gitops.ParseTrailers(c.Message)})
		return nil
	})
	if err != nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, err
	}
	return out, nil
}
