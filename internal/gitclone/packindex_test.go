package gitclone

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/promote-ml/promote/internal/gittest"
)

// truncatePackIndexes cuts every pack index of the clone in dir to keep
// of its size, as a process killed while go-git wrote it would: go-git
// writes a fetched pack's index in place, and keeps an index it finds
// when the same pack is fetched again.
func truncatePackIndexes(t *testing.T, dir string, keep func(n int64) int64) {
	t.Helper()
	idxs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.idx"))
	if err != nil || len(idxs) == 0 {
		t.Fatalf("no pack index in the clone (%v)", err)
	}
	for _, p := range idxs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, keep(fi.Size())); err != nil {
			t.Fatal(err)
		}
	}
}

// pushedOnAPack returns a remote and a clone of it in dir that fetched the
// remote's branch as a pack, then committed deploy/overlays/dev/notes/a.txt
// (loose objects) and pushed it: head.
func pushedOnAPack(t *testing.T) (bare, dir string, head plumbing.Hash) {
	t.Helper()
	ctx := context.Background()
	bare = gittest.Remote(t, nil)
	dir = filepath.Join(t.TempDir(), "clone")
	c, err := Open(dir, bare, "main", "writer", Credentials{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx); err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	head = commitFile(t, c, "deploy/overlays/dev/notes/a.txt", "a\n")
	if err := c.Push(ctx, "main", head, false); err != nil {
		t.Fatalf("Push: %v", err)
	}
	return bare, dir, head
}

// TestSyncRepairsAPackIndexCutShort checks the damage a process killed
// while go-git wrote a fetched pack's index leaves behind once the clone
// has committed and pushed on top of the pack: the new commit and the
// trees it changed are loose objects and can be read, the trees and blobs
// it shares with its parent are in the pack and cannot. A Sync that
// trusted such a head would check out a directory missing those files
// (and a commit made from it would delete them); Sync makes the clone
// afresh instead, and the directory holds every file of the head.
func TestSyncRepairsAPackIndexCutShort(t *testing.T) {
	for _, keep := range []struct {
		name string
		size func(n int64) int64
	}{
		{"empty", func(int64) int64 { return 0 }},
		{"header only", func(int64) int64 { return 8 }},
		{"half", func(n int64) int64 { return n / 2 }},
		{"all but the checksum", func(n int64) int64 { return n - 20 }},
	} {
		t.Run(keep.name, func(t *testing.T) {
			ctx := context.Background()
			bare, dir, head := pushedOnAPack(t)
			want := gittest.Run(t, bare, "ls-tree", "-r", "--name-only", "main")
			truncatePackIndexes(t, dir, keep.size)

			var logs bytes.Buffer
			c, err := Open(dir, bare, "main", "writer", Credentials{}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("Open after damage: %v", err)
			}
			got, err := c.Sync(ctx)
			if err != nil {
				t.Fatalf("Sync after damage: %v", err)
			}
			if got != head {
				t.Errorf("Sync = %s, want %s", got, head)
			}
			if !strings.Contains(logs.String(), "making it afresh") || !strings.Contains(logs.String(), "not a whole version 2 pack index") {
				t.Errorf("logged %q, want the repair naming the pack index", logs.String())
			}
			if files := gittest.Run(t, dir, "ls-files"); files != want {
				t.Errorf("the clone's index holds\n%s\nwant\n%s", files, want)
			}
			for _, name := range strings.Split(want, "\n") {
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
					t.Errorf("the working directory lacks %s after Sync: %v", name, err)
				}
			}
			if st := gittest.Run(t, dir, "status", "--porcelain"); st != "" {
				t.Errorf("git status after Sync:\n%s", st)
			}
		})
	}
}

// TestSyncRepairsAMissingObject checks the second guard on its own: an
// object of the head's tree that cannot be found, with every pack index
// whole (a loose blob removed), makes Sync build the clone afresh rather
// than check out a directory without the file.
func TestSyncRepairsAMissingObject(t *testing.T) {
	ctx := context.Background()
	bare, dir, _ := pushedOnAPack(t)
	blob := gittest.Run(t, bare, "rev-parse", "main:deploy/overlays/dev/notes/a.txt")
	if err := os.Remove(filepath.Join(dir, ".git", "objects", blob[:2], blob[2:])); err != nil {
		t.Fatalf("remove the loose blob: %v", err)
	}

	var logs bytes.Buffer
	c, err := Open(dir, bare, "main", "writer", Credentials{}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx); err != nil {
		t.Fatalf("Sync after damage: %v", err)
	}
	if want := "blob " + blob + " (deploy/overlays/dev/notes/a.txt)"; !strings.Contains(logs.String(), want) {
		t.Errorf("logged %q, want the repair naming %s", logs.String(), want)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "deploy", "overlays", "dev", "notes", "a.txt")); err != nil || string(got) != "a\n" {
		t.Errorf("after Sync the file reads %q, %v", got, err)
	}
	if st := gittest.Run(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("git status after Sync:\n%s", st)
	}
}

// TestWholePackIndex checks the pack index check against indexes git
// writes (git index-pack), every shorter prefix of one, a flipped byte,
// and two built by hand after gitformat-pack(5): one object at a large
// offset, whose 8-byte offset is there or missing.
func TestWholePackIndex(t *testing.T) {
	bare := gittest.Remote(t, nil)
	gittest.Run(t, bare, "repack", "-a", "-d", "-q")
	idxs, err := filepath.Glob(filepath.Join(bare, "objects", "pack", "*.idx"))
	if err != nil || len(idxs) != 1 {
		t.Fatalf("pack indexes of the repacked remote: %v, %v", idxs, err)
	}
	data, err := os.ReadFile(idxs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := wholePackIndex(data); err != nil {
		t.Fatalf("git's own index: %v", err)
	}
	for n := 0; n < len(data); n++ {
		if err := wholePackIndex(data[:n]); !errors.Is(err, errPackIndex) {
			t.Fatalf("the first %d of %d bytes: %v, want %v", n, len(data), err, errPackIndex)
		}
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 1
	if err := wholePackIndex(flipped); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("a flipped byte: %v, want a checksum mismatch", err)
	}
	if err := wholePackIndex(append(bytes.Clone(data), 0)); !errors.Is(err, errPackIndex) {
		t.Errorf("a byte too many: %v", err)
	}

	// One object at offset 2^31 (too large for 4 bytes): its 4-byte
	// offset is 0x80000000, index 0 into the 8-byte offsets.
	build := func(withLarge bool) []byte {
		var b bytes.Buffer
		b.Write(packIndexMagic)
		for i := range 256 {
			count := uint32(0)
			if i >= 0xab {
				count = 1
			}
			_ = binary.Write(&b, binary.BigEndian, count)
		}
		b.Write(append([]byte{0xab}, make([]byte, 19)...))         // the object's name
		_ = binary.Write(&b, binary.BigEndian, uint32(0x12345678)) // CRC-32
		_ = binary.Write(&b, binary.BigEndian, uint32(0x80000000))
		if withLarge {
			_ = binary.Write(&b, binary.BigEndian, uint64(1)<<31)
		}
		b.Write(make([]byte, 20)) // the pack's checksum
		sum := sha1.Sum(b.Bytes())
		b.Write(sum[:])
		return b.Bytes()
	}
	if err := wholePackIndex(build(true)); err != nil {
		t.Errorf("an index with a large offset: %v", err)
	}
	if err := wholePackIndex(build(false)); !errors.Is(err, errPackIndex) || !strings.Contains(err.Error(), "want 1108") {
		t.Errorf("an index without its large offset: %v, want the size 1108 called for", err)
	}
}
