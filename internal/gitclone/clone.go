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
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
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

// DefaultTimeout is Clone.Timeout's default: long enough for the first
// fetch of a large repository over a slow link.
const DefaultTimeout = 5 * time.Minute

// exchange bounds ctx by the clone's Timeout for one exchange with the
// remote; done turns an error of that exchange that the timeout caused
// into one that says so (the callers name the remote).
func (c *Clone) exchange(ctx context.Context) (context.Context, context.CancelFunc, func(error) error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	bounded, cancel := context.WithTimeout(ctx, timeout)
	done := func(err error) error {
		if err == nil || ctx.Err() != nil || !errors.Is(bounded.Err(), context.DeadlineExceeded) {
			return err
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			err = errors.Join(err, context.DeadlineExceeded)
		}
		return fmt.Errorf("the remote did not answer within %s: %w", timeout, err)
	}
	return bounded, cancel, done
}

// RemoteName is the name of the clone's remote.
const RemoteName = "origin"

// Clone is a working clone of Branch of Remote in Dir.
type Clone struct {
	Repo   *git.Repository
	Dir    string
	Remote string
	Branch string
	// Timeout bounds each exchange with the remote, a fetch or a push
	// (DefaultTimeout when zero): a remote that takes the connection and
	// never answers fails it, rather than holding its caller for ever.
	Timeout time.Duration
	auth    transport.AuthMethod
	owner   string
	log     *slog.Logger
	// damaged is why the last Checkout failed; the next Fetch makes the
	// clone afresh first.
	damaged error
	// checked is whether the pack indexes were checked since Open: the
	// first Fetch checks them, since an earlier process may have been
	// killed while it wrote one (the fetch itself would not notice).
	checked bool
	// verified is the last head whose objects were all found (complete).
	verified plumbing.Hash
}

// Open opens the clone in dir, or creates it: an empty repository with
// remote as origin (without any user information, which authenticates
// instead when cred does not), filled by the first Fetch. A clone of another remote is
// repointed at remote. owner names the clone's user in errors and log
// lines ("writer", "agent"); log, when not nil, hears of repairs. It does
// no network I/O.
//
// A directory with a .git that go-git cannot open (a process killed while
// it rewrote HEAD) is a damaged clone: Open makes it afresh, since the
// clone holds nothing that the remote does not. A directory that is
// neither empty nor a Git repository is refused.
func Open(dir, remote, branch, owner string, cred Credentials, log *slog.Logger) (*Clone, error) {
	// User information in an http(s) remote authenticates, unless cred
	// does, and is never stored in the clone (see splitUserinfo).
	remote, inURL := splitUserinfo(remote)
	auth, err := cred.AuthMethod(remote)
	if err != nil {
		return nil, promote.Errorf(promote.Invalid, "%s: %v", owner, err)
	}
	if auth == nil && inURL != nil {
		auth = inURL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Clone{Dir: dir, Remote: remote, Branch: branch, auth: auth, owner: owner, log: log}
	fresh := func(damage error) (*Clone, error) {
		if err := c.rebuild(damage); err != nil {
			return nil, err
		}
		return c, nil
	}
	repo, err := git.PlainOpen(dir)
	switch {
	case err == nil:
		c.Repo = repo
	case errors.Is(err, git.ErrRepositoryNotExists):
		entries, rerr := os.ReadDir(dir)
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: read %s: %w", owner, dir, rerr)
		}
		if len(entries) > 0 {
			if fi, serr := os.Stat(filepath.Join(dir, git.GitDirName)); serr == nil && fi.IsDir() {
				return fresh(err)
			}
			return nil, promote.Errorf(promote.Invalid, "%s: %s is neither empty nor a Git repository; give the %s a directory of its own", owner, dir, owner)
		}
		return fresh(nil)
	default:
		if fi, serr := os.Stat(filepath.Join(dir, git.GitDirName)); serr == nil && fi.IsDir() {
			return fresh(err)
		}
		return nil, fmt.Errorf("%s: open %s: %w", owner, dir, err)
	}
	rc, err := repo.Remote(RemoteName)
	if err == nil && len(rc.Config().URLs) == 1 && rc.Config().URLs[0] == remote {
		return c, nil
	}
	if err == nil {
		if err := repo.DeleteRemote(RemoteName); err != nil {
			return nil, fmt.Errorf("%s: repoint origin of %s: %w", owner, dir, err)
		}
	}
	if err := c.setOrigin(); err != nil {
		return nil, err
	}
	return c, nil
}

// setOrigin points the clone's origin at its remote.
func (c *Clone) setOrigin() error {
	if _, err := c.Repo.CreateRemote(&config.RemoteConfig{Name: RemoteName, URLs: []string{c.Remote}}); err != nil {
		return fmt.Errorf("%s: set origin of %s: %w", c.owner, c.Dir, err)
	}
	return nil
}

// rebuild makes the clone afresh: it empties the directory and creates an
// empty repository with the remote as origin, which the next Fetch fills.
// cause, when not nil, is the damage that calls for it, and is logged.
//
// go-git rewrites the index, references and HEAD in place, so a process
// killed in the middle of such a write leaves a file that can no longer be
// read ("EOF", "ref file is empty"), and every later operation on the clone
// fails the same way. The clone is a copy of the remote's branch and of
// the commits it made and pushed; one it made and did not push is made
// again by its caller (the reconciler compares what the branch pins with
// what the registry wants), so nothing is lost by starting over.
func (c *Clone) rebuild(cause error) error {
	if cause != nil {
		c.log.Warn(c.owner+": the working clone is damaged; making it afresh from the remote",
			slog.String("dir", c.Dir), slog.Any("damage", cause))
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: read %s: %w", c.owner, c.Dir, err)
	}
	// .git goes last: a process killed half-way through leaves either a
	// .git, which the next Open takes for a damaged clone again, or an
	// empty directory, never files that look like someone else's.
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Name() != git.GitDirName {
			names = append(names, e.Name())
		}
	}
	for _, name := range append(names, git.GitDirName) {
		if err := os.RemoveAll(filepath.Join(c.Dir, name)); err != nil {
			return fmt.Errorf("%s: empty the damaged clone %s: %w", c.owner, c.Dir, err)
		}
	}
	repo, err := git.PlainInit(c.Dir, false)
	if err != nil {
		return fmt.Errorf("%s: init %s: %w", c.owner, c.Dir, err)
	}
	c.Repo, c.damaged, c.checked, c.verified = repo, nil, true, plumbing.ZeroHash
	return c.setOrigin()
}

// check reads what go-git rewrites in place — the configuration, HEAD,
// every reference, the index and the pack indexes — and returns the first
// error.
func (c *Clone) check() error {
	if _, err := c.Repo.Config(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if _, err := c.Repo.Storer.Reference(plumbing.HEAD); err != nil {
		return fmt.Errorf("HEAD: %w", err)
	}
	refs, err := c.Repo.Storer.IterReferences()
	if err != nil {
		return fmt.Errorf("references: %w", err)
	}
	if err := refs.ForEach(func(*plumbing.Reference) error { return nil }); err != nil {
		return fmt.Errorf("references: %w", err)
	}
	if _, err := c.Repo.Storer.Index(); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return c.checkPackIndexes()
}

// Auth returns the authentication the clone fetches and pushes with.
func (c *Clone) Auth() transport.AuthMethod { return c.auth }

// RemoteRef is the remote-tracking reference of branch.
func RemoteRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(RemoteName, branch)
}

// Fetch fetches the branch (and the extra refspecs) and returns the
// branch's head. A remote without the branch is a NotFound error that says
// so. A clone that a failed Checkout left damaged, or whose references,
// index or pack indexes can no longer be read (the pack indexes are
// checked at the first Fetch after Open, everything after a failed one), is
// made afresh and fetched again.
func (c *Clone) Fetch(ctx context.Context, extra ...config.RefSpec) (plumbing.Hash, error) {
	if !c.checked {
		c.checked = true
		if err := c.checkPackIndexes(); err != nil && c.damaged == nil {
			c.damaged = err
		}
	}
	if c.damaged != nil {
		if err := c.rebuild(c.damaged); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	head, err := c.fetch(ctx, extra)
	if err == nil || promote.ErrorCode(err) == promote.NotFound {
		return head, err
	}
	damage := c.check()
	if damage == nil {
		return head, err
	}
	if rerr := c.rebuild(damage); rerr != nil {
		return plumbing.ZeroHash, errors.Join(err, rerr)
	}
	return c.fetch(ctx, extra)
}

func (c *Clone) fetch(ctx context.Context, extra []config.RefSpec) (plumbing.Hash, error) {
	specs := append([]config.RefSpec{config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/%s/%s", c.Branch, RemoteName, c.Branch))}, extra...)
	bounded, cancel, timedOut := c.exchange(ctx)
	defer cancel()
	err := timedOut(c.Repo.FetchContext(bounded, &git.FetchOptions{RemoteName: RemoteName, RefSpecs: specs, Auth: c.auth,
		Force: true, Prune: true, Tags: git.NoTags}))
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
//
// An index that cannot be read (a process killed while go-git rewrote it)
// is dropped, since a hard reset makes it again from head. A head some of
// whose objects cannot be read is not checked out at all (see complete).
// When Checkout fails, the clone is damaged in a way it cannot mend in
// place: the error says so, and the next Fetch makes the clone afresh.
func (c *Clone) Checkout(head plumbing.Hash) error {
	if err := c.complete(head); err != nil {
		c.damaged = err
		return fmt.Errorf("%w (the clone is made afresh at the next fetch)", err)
	}
	err := c.checkout(head)
	if err == nil {
		return nil
	}
	if _, ierr := c.Repo.Storer.Index(); ierr != nil {
		c.log.Warn(c.owner+": the working clone's index is damaged; dropping it", slog.String("dir", c.Dir), slog.Any("damage", ierr))
		if rerr := os.Remove(filepath.Join(c.Dir, git.GitDirName, "index")); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
			if err = c.checkout(head); err == nil {
				return nil
			}
		}
	}
	c.damaged = err
	return fmt.Errorf("%w (the clone is made afresh at the next fetch)", err)
}

func (c *Clone) checkout(head plumbing.Hash) error {
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
	// One status serves twice (go-git's Clean would compute its own):
	// untracked files, which an interrupted run leaves, are removed, as
	// git clean -d does; any other difference means that the reset did not
	// make the directory head, and what follows a checkout trusts that it
	// did, file for file: a commit made from anything else would carry the
	// difference.
	st, err := wt.Status()
	if err != nil {
		return fmt.Errorf("%s: status after the reset to %s: %w", c.owner, head, err)
	}
	differs := git.Status{}
	for path, fs := range st {
		if fs.Worktree != git.Untracked {
			differs[path] = fs
			continue
		}
		if err := os.Remove(filepath.Join(c.Dir, filepath.FromSlash(path))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: clean: %w", c.owner, err)
		}
	}
	if len(differs) > 0 {
		return fmt.Errorf("%s: after the reset to %s the directory still differs from it: %s", c.owner, head, statusSummary(differs))
	}
	// A submodule is an empty directory in the clone (its commits are
	// not fetched), and it is part of head: removing it would make the
	// next commit delete the submodule.
	keep, err := submodules(c.Repo)
	if err != nil {
		return fmt.Errorf("%s: clean: %w", c.owner, err)
	}
	if _, err := removeEmptyDirs(c.Dir, "", keep); err != nil {
		return fmt.Errorf("%s: clean: %w", c.owner, err)
	}
	return nil
}

// submodules returns the paths (slash-separated) of the submodules in the
// index of repo.
func submodules(repo *git.Repository) (map[string]bool, error) {
	idx, err := repo.Storer.Index()
	if err != nil {
		return nil, err
	}
	paths := map[string]bool{}
	for _, e := range idx.Entries {
		if e.Mode == filemode.Submodule {
			paths[e.Name] = true
		}
	}
	return paths, nil
}

// removeEmptyDirs removes the directories below dir (dir itself too unless
// it is the root, rel "") that hold no file, outside .git, and reports
// whether dir is gone. rel is dir's path below the root, slash-separated;
// the directories of keep, submodules, are never removed.
func removeEmptyDirs(dir, rel string, keep map[string]bool) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	root := rel == ""
	left := len(entries)
	for _, e := range entries {
		if !e.IsDir() || (root && e.Name() == git.GitDirName) {
			continue
		}
		sub := path.Join(rel, e.Name())
		if keep[sub] {
			continue
		}
		gone, err := removeEmptyDirs(filepath.Join(dir, e.Name()), sub, keep)
		if err != nil {
			return false, err
		}
		if gone {
			left--
		}
	}
	if root || left > 0 {
		return false, nil
	}
	return true, os.Remove(dir)
}

// statusSummary names the first few paths of a status, sorted.
func statusSummary(st git.Status) string {
	paths := make([]string, 0, len(st))
	for p := range st {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	const most = 5
	more := ""
	if len(paths) > most {
		more = fmt.Sprintf(" and %d more", len(paths)-most)
		paths = paths[:most]
	}
	return strings.Join(paths, ", ") + more
}

// MarkDamaged has the next Fetch make the clone afresh: its user found
// that the clone does not hold what it should (why says what).
func (c *Clone) MarkDamaged(why error) { c.damaged = why }

// Sync fetches and checks out the branch's head, and returns it. A
// checkout that finds the clone damaged is tried once more, on a clone
// made afresh.
func (c *Clone) Sync(ctx context.Context, extra ...config.RefSpec) (plumbing.Hash, error) {
	for again := false; ; again = true {
		head, err := c.Fetch(ctx, extra...)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if err = c.Checkout(head); err == nil || c.damaged == nil || again {
			return head, err
		}
	}
}
