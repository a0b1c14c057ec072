package gitclone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"

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
//
// A push the remote refuses fails with what the remote said on the side
// band as well (remoteSaid): a Git host explains a refusal there, e.g.
// GitHub's "GH006: Protected branch update failed", while its report says
// no more than "protected branch hook declined".
func (c *Clone) Push(ctx context.Context, branch string, commit plumbing.Hash, force bool) (err error) {
	said := &remoteSaid{}
	ctx, cancel, timedOut := c.exchange(ctx)
	defer cancel()
	defer func() { err = timedOut(said.wrap(err)) }()
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
		return c.pushSlowly(ctx, ref, force, said)
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
	// Without a side band the remote's messages go nowhere over HTTP.
	if ar.Capabilities.Supports(capability.Sideband64k) {
		_ = req.Capabilities.Set(capability.Sideband64k)
	} else if ar.Capabilities.Supports(capability.Sideband) {
		_ = req.Capabilities.Set(capability.Sideband)
	}
	req.Progress = said
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

// pushSlowly pushes the local branch ref with go-git's own push, which
// writes what the remote says on the side band to said.
func (c *Clone) pushSlowly(ctx context.Context, ref plumbing.ReferenceName, force bool, said *remoteSaid) error {
	spec := config.RefSpec(ref.String() + ":" + ref.String())
	if force {
		spec = "+" + spec
	}
	err := c.Repo.PushContext(ctx, &git.PushOptions{RemoteName: RemoteName, RefSpecs: []config.RefSpec{spec}, Auth: c.auth,
		Progress: said})
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

// maxRemoteSaid bounds what remoteSaid keeps of the remote's messages, in
// bytes.
const maxRemoteSaid = 4 << 10

// remoteSaid keeps what a remote says on the side band during a push (its
// hooks' output, "remote: …" in git's terminal), so that a refusal can
// say why.
type remoteSaid struct{ buf []byte }

// Write keeps the first maxRemoteSaid bytes; it never fails, so that a
// long message does not break the push.
func (r *remoteSaid) Write(p []byte) (int, error) {
	if room := maxRemoteSaid - len(r.buf); room > 0 {
		r.buf = append(r.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// progressLine matches a progress meter line ("Resolving deltas: 100% (1/1)"),
// which says nothing about a refusal.
var progressLine = regexp.MustCompile(`^[A-Za-z][A-Za-z ]*: +\d+% \(\d+/\d+\)`)

// text is what the remote said, on one line: each of its lines as a
// terminal would show it (the last part of a line rewritten with carriage
// returns), without progress meters, control characters or blank lines,
// joined with "; ".
func (r *remoteSaid) text() string {
	var lines []string
	for _, l := range strings.Split(strings.ToValidUTF8(string(r.buf), "\uFFFD"), "\n") {
		if i := strings.LastIndexByte(strings.TrimRight(l, "\r"), '\r'); i >= 0 {
			l = l[i+1:]
		}
		l = strings.TrimSpace(strings.Map(func(c rune) rune {
			if unicode.IsControl(c) {
				return ' '
			}
			return c
		}, l))
		if l != "" && !progressLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// wrap adds what the remote said to err, unless err is nil or says it
// already.
func (r *remoteSaid) wrap(err error) error {
	msg := r.text()
	if err == nil || msg == "" || strings.Contains(err.Error(), msg) {
		return err
	}
	return fmt.Errorf("%w (the remote said: %s)", err, msg)
}
