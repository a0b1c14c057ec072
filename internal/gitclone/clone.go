// Package gitclone keeps a working clone of one branch of a remote Git
// repository with go-git: it opens or creates the clone, fetches the
// branch, and resets the working directory to a commit, discarding
// whatever an interrupted run left behind. The GitOps writer and the local
// agent each keep one; neither shares its directory.
package gitclone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/promote-ml/promote/promote"
)

// branchPattern is stricter than git: it keeps branch names to what
// promote.ValidateName allows, with slashes between components.
// It is compiled on first use: every promote process initialises this
// package, and most never check a branch.
var branchPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)
})

// ValidBranch reports whether branch is a branch name Promote accepts:
// components of letters, digits, '.', '_' and '-', starting with a
// letter or digit, joined by slashes, not ending in .lock and without
// "..".
func ValidBranch(branch string) bool {
	return branchPattern().MatchString(branch) && !strings.HasSuffix(branch, ".lock") && !strings.Contains(branch, "..")
}

// DefaultBranch is the branch a working copy follows when none is named.
const DefaultBranch = "main"

// Problems checks where a working copy comes from (remote, branch) and
// where it lives (dir), as the GitOps writer and the agent configure them:
// it fills in DefaultBranch for an empty branch and describes each problem.
func Problems(remote, dir string, branch *string) []string {
	var problems []string
	if remote == "" {
		problems = append(problems, "remote is empty")
	}
	if dir == "" {
		problems = append(problems, "dir is empty")
	}
	if *branch == "" {
		*branch = DefaultBranch
	}
	if !ValidBranch(*branch) {
		problems = append(problems, fmt.Sprintf("branch %q is not a valid branch name", *branch))
	}
	return problems
}

// RemoteName is the name of the clone's remote.
const RemoteName = "origin"

// Clone is a working clone of Branch of Remote in Dir.
type Clone struct {
	Repo   *git.Repository
	Dir    string
	Remote string
	Branch string
	auth   transport.AuthMethod
	owner  string
}

// Open opens the clone in dir, or creates it: an empty repository with
// remote as origin, filled by the first Fetch. A clone of another remote is
// repointed at remote. owner names the clone's user in errors ("writer",
// "agent"). It does no network I/O.
func Open(dir, remote, branch, owner string, cred Credentials) (*Clone, error) {
	auth, err := cred.AuthMethod(remote)
	if err != nil {
		return nil, promote.Errorf(promote.Invalid, "%s: %v", owner, err)
	}
	repo, err := git.PlainOpen(dir)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		entries, rerr := os.ReadDir(dir)
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: read %s: %w", owner, dir, rerr)
		}
		if len(entries) > 0 {
			return nil, promote.Errorf(promote.Invalid, "%s: %s is neither empty nor a Git repository; give the %s a directory of its own", owner, dir, owner)
		}
		if repo, err = git.PlainInit(dir, false); err != nil {
			return nil, fmt.Errorf("%s: init %s: %w", owner, dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("%s: open %s: %w", owner, dir, err)
	}
	c := &Clone{Repo: repo, Dir: dir, Remote: remote, Branch: branch, auth: auth, owner: owner}
	rc, err := repo.Remote(RemoteName)
	if err == nil && len(rc.Config().URLs) == 1 && rc.Config().URLs[0] == remote {
		return c, nil
	}
	if err == nil {
		if err := repo.DeleteRemote(RemoteName); err != nil {
			return nil, fmt.Errorf("%s: repoint origin of %s: %w", owner, dir, err)
		}
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: RemoteName, URLs: []string{remote}}); err != nil {
		return nil, fmt.Errorf("%s: set origin of %s: %w", owner, dir, err)
	}
	return c, nil
}

// Auth returns the authentication the clone fetches and pushes with.
func (c *Clone) Auth() transport.AuthMethod { return c.auth }

// RemoteRef is the remote-tracking reference of branch.
func RemoteRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(RemoteName, branch)
}

// Fetch fetches the branch (and the extra refspecs) and returns the
// branch's head. A remote without the branch is a NotFound error that says
// so.
func (c *Clone) Fetch(ctx context.Context, extra ...config.RefSpec) (plumbing.Hash, error) {
	specs := append([]config.RefSpec{config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/%s/%s", c.Branch, RemoteName, c.Branch))}, extra...)
	err := c.Repo.FetchContext(ctx, &git.FetchOptions{RemoteName: RemoteName, RefSpecs: specs, Auth: c.auth,
		Force: true, Prune: true, Tags: git.NoTags})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		return plumbing.ZeroHash, promote.Errorf(promote.NotFound, "the GitOps repository %s has no branch %s; push its first commit (promote init writes one)",
			RedactURL(c.Remote), c.Branch)
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: %w", c.Branch, RedactURL(c.Remote), err)
	}
	ref, err := c.Repo.Reference(RemoteRef(c.Branch), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: read %s after fetch: %w", c.owner, c.Branch, err)
	}
	return ref.Hash(), nil
}

// Checkout resets the working directory, index and local branch to head,
// discarding anything else in the directory.
func (c *Clone) Checkout(head plumbing.Hash) error {
	local := plumbing.NewBranchReferenceName(c.Branch)
	if err := c.Repo.Storer.SetReference(plumbing.NewHashReference(local, head)); err != nil {
		return fmt.Errorf("%s: set %s: %w", c.owner, local, err)
	}
	if err := c.Repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, local)); err != nil {
		return fmt.Errorf("%s: set HEAD: %w", c.owner, err)
	}
	wt, err := c.Repo.Worktree()
	if err != nil {
		return fmt.Errorf("%s: %w", c.owner, err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: head, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("%s: reset to %s: %w", c.owner, head, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return fmt.Errorf("%s: clean: %w", c.owner, err)
	}
	return nil
}

// Sync fetches and checks out the branch's head, and returns it.
func (c *Clone) Sync(ctx context.Context, extra ...config.RefSpec) (plumbing.Hash, error) {
	head, err := c.Fetch(ctx, extra...)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return head, c.Checkout(head)
}
