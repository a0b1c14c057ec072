package gitclone

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// Push sets branch on the remote to commit, a commit of the clone, and the
// clone's remote-tracking reference with it. Unless force, the remote's
// branch must be an ancestor of commit (git.ErrNonFastForwardUpdate
// otherwise). A branch that holds commit already is no error.
//
// go-git's own push works out what to send by walking every object
// reachable from every reference of the remote, whatever the change: with
// a long history that takes seconds to minutes at each push, during which
// other writers win the race to the branch. A commit whose parents the
// remote advertises as references, as every commit of the GitOps writer
// is (it builds on the branch it fetched), needs only itself and the trees
// and blobs that differ from its parent's: Push sends those alone, and
// leaves any other commit to go-git.
func (c *Clone) Push(ctx context.Context, branch string, commit plumbing.Hash, force bool) (err error) {
	ref := plumbing.NewBranchReferenceName(branch)
	ep, err := transport.NewEndpoint(c.Remote)
	if err != nil {
		return err
	}
	cli, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cli.NewReceivePackSession(ep, c.auth)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sess.Close(); err == nil {
			err = cerr
		}
	}()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	remoteRefs, err := ar.AllReferences()
	if err != nil {
		return err
	}
	advertised := map[plumbing.Hash]bool{}
	old := plumbing.ZeroHash
	for name, r := range remoteRefs {
		if r.Type() != plumbing.HashReference {
			continue
		}
		advertised[r.Hash()] = true
		if name == ref {
			old = r.Hash()
		}
	}
	if old == commit {
		return c.setTracking(branch, commit)
	}
	co, err := c.Repo.CommitObject(commit)
	if err != nil {
		return fmt.Errorf("read the commit to push: %w", err)
	}
	if len(co.ParentHashes) != 1 || !advertised[co.ParentHashes[0]] {
		return c.pushSlowly(ctx, ref, force)
	}
	if !force && old != plumbing.ZeroHash && old != co.ParentHashes[0] {
		// The remote's branch is not commit's parent: another writer
		// moved it since the fetch.
		return git.ErrNonFastForwardUpdate
	}
	hashes, err := newObjects(c.Repo, co)
	if err != nil {
		return err
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: commit}}
	cfg, err := c.Repo.Config()
	if err != nil {
		return err
	}
	rd, wr := io.Pipe()
	req.Packfile = rd
	done := make(chan error, 1)
	go func() {
		enc := packfile.NewEncoder(wr, c.Repo.Storer, !ar.Capabilities.Supports(capability.OFSDelta))
		_, err := enc.Encode(hashes, cfg.Pack.Window)
		if err != nil {
			done <- wr.CloseWithError(err)
			return
		}
		done <- wr.Close()
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.Close()
		<-done
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			return err
		}
	}
	return c.setTracking(branch, commit)
}

// pushSlowly pushes the local branch ref with go-git's own push.
func (c *Clone) pushSlowly(ctx context.Context, ref plumbing.ReferenceName, force bool) error {
	spec := config.RefSpec(ref.String() + ":" + ref.String())
	if force {
		spec = "+" + spec
	}
	err := c.Repo.PushContext(ctx, &git.PushOptions{RemoteName: RemoteName, RefSpecs: []config.RefSpec{spec}, Auth: c.auth})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

func (c *Clone) setTracking(branch string, commit plumbing.Hash) error {
	return c.Repo.Storer.SetReference(plumbing.NewHashReference(RemoteRef(branch), commit))
}

// newObjects lists commit and the trees and blobs of its tree that its
// parent's tree does not hold: what a remote that has the parent lacks.
func newObjects(repo *git.Repository, commit *object.Commit) ([]plumbing.Hash, error) {
	parent, err := repo.CommitObject(commit.ParentHashes[0])
	if err != nil {
		return nil, fmt.Errorf("read the parent of the commit to push: %w", err)
	}
	seen := map[plumbing.Hash]bool{commit.Hash: true}
	out := []plumbing.Hash{commit.Hash}
	var walk func(to, from plumbing.Hash) error
	walk = func(to, from plumbing.Hash) error {
		if to == from || seen[to] {
			return nil
		}
		seen[to] = true
		out = append(out, to)
		t, err := repo.TreeObject(to)
		if err != nil {
			return fmt.Errorf("read tree %s: %w", to, err)
		}
		had := map[string]object.TreeEntry{}
		if !from.IsZero() {
			f, err := repo.TreeObject(from)
			if err != nil {
				return fmt.Errorf("read tree %s: %w", from, err)
			}
			for _, e := range f.Entries {
				had[e.Name] = e
			}
		}
		for _, e := range t.Entries {
			was, ok := had[e.Name]
			if ok && was.Hash == e.Hash && was.Mode == e.Mode {
				continue
			}
			switch e.Mode {
			case filemode.Submodule:
				// A gitlink names a commit of another repository.
			case filemode.Dir:
				sub := plumbing.ZeroHash
				if ok && was.Mode == filemode.Dir {
					sub = was.Hash
				}
				if err := walk(e.Hash, sub); err != nil {
					return err
				}
			default:
				if !seen[e.Hash] {
					seen[e.Hash] = true
					out = append(out, e.Hash)
				}
			}
		}
		return nil
	}
	if err := walk(commit.TreeHash, parent.TreeHash); err != nil {
		return nil, err
	}
	return out, nil
}
