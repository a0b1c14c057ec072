package gitclone

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// complete makes sure that every object of head's tree can be read: the
// commit, each tree below it, and each file's blob (submodules aside,
// whose commits a clone does not fetch). A head found complete is
// remembered until the clone is made afresh, so a Sync that finds the
// branch where it was reads nothing again.
//
// go-git takes an object it cannot find below a tree it can for an empty
// directory: a hard reset to such a head deletes those files from the
// working directory without an error, and a commit made from it deletes
// them from the branch. A pack index cut short (see checkPackIndexes)
// leaves exactly that when the clone committed on top of the pack.
func (c *Clone) complete(head plumbing.Hash) error {
	if head == c.verified {
		return nil
	}
	commit, err := c.Repo.CommitObject(head)
	if err != nil {
		return fmt.Errorf("%s: read commit %s: %w", c.owner, head, err)
	}
	if err := c.completeTree(commit.TreeHash, ""); err != nil {
		return fmt.Errorf("%s: the objects of %s: %w", c.owner, head, err)
	}
	c.verified = head
	return nil
}

func (c *Clone) completeTree(h plumbing.Hash, dir string) error {
	t, err := c.Repo.TreeObject(h)
	if err != nil {
		return fmt.Errorf("tree %s (%s): %w", h, displayDir(dir), err)
	}
	for _, e := range t.Entries {
		p := path.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			if err := c.completeTree(e.Hash, p); err != nil {
				return err
			}
		case filemode.Submodule:
		default:
			if err := c.Repo.Storer.HasEncodedObject(e.Hash); err != nil {
				return fmt.Errorf("blob %s (%s): %w", e.Hash, p, err)
			}
		}
	}
	return nil
}

// displayDir names a directory of a tree in an error: "/" for the root.
func displayDir(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

// packIndexMagic starts a pack index of version 2, the version go-git
// writes and reads.
var packIndexMagic = []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}

// checkPackIndexes reads every pack index of the clone and returns an
// error naming the first that is not whole: go-git writes a fetched
// pack's index in place, so a process killed meanwhile leaves one cut
// short, and a later fetch of the same pack keeps the index it finds.
// Objects in such a pack cannot be found. An index is whole when its
// trailing checksum, the SHA-1 of everything before it, matches, and its
// size is what its object count calls for (the layout of
// gitformat-pack(5), "Version 2 pack-*.idx files").
func (c *Clone) checkPackIndexes() error {
	idxs, err := filepath.Glob(filepath.Join(c.Dir, git.GitDirName, "objects", "pack", "*.idx"))
	if err != nil {
		return err
	}
	for _, p := range idxs {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("pack index %s: %w", filepath.Base(p), err)
		}
		if err := wholePackIndex(data); err != nil {
			return fmt.Errorf("pack index %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// errPackIndex is the error of a pack index that is not whole.
var errPackIndex = errors.New("not a whole version 2 pack index")

// wholePackIndex checks a version 2 pack index: magic and version, a
// 256-entry fan-out table, per object its name (20 bytes), CRC-32 (4) and
// offset (4), an 8-byte offset for each offset with its top bit set, the
// pack's checksum and the index's own (20 each).
func wholePackIndex(data []byte) error {
	const header, fanout, sum = 8, 256 * 4, sha1.Size
	if len(data) < header+fanout+2*sum {
		return fmt.Errorf("%w: %d bytes", errPackIndex, len(data))
	}
	if !bytes.Equal(data[:header], packIndexMagic) {
		return fmt.Errorf("%w: it starts % x", errPackIndex, data[:header])
	}
	n := int(binary.BigEndian.Uint32(data[header+fanout-4 : header+fanout]))
	offsets := header + fanout + n*(sha1.Size+4)
	if len(data) < offsets+n*4+2*sum {
		return fmt.Errorf("%w: %d bytes for %d objects", errPackIndex, len(data), n)
	}
	large := 0
	for i := range n {
		if data[offsets+i*4]&0x80 != 0 {
			large++
		}
	}
	if want := offsets + n*4 + large*8 + 2*sum; len(data) != want {
		return fmt.Errorf("%w: %d bytes for %d objects, want %d", errPackIndex, len(data), n, want)
	}
	if got := sha1.Sum(data[:len(data)-sum]); !bytes.Equal(got[:], data[len(data)-sum:]) {
		return fmt.Errorf("%w: its checksum does not match", errPackIndex)
	}
	return nil
}
