package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// The wal-index header at the start of the -shm file, in the host's byte
// order, as SQLite's wal.c lays it out (https://sqlite.org/walformat.html,
// "The WAL-Index Format"): two copies of a 48-byte WalIndexHdr, then the
// checkpoint information, whose first field is nBackfill.
const (
	shmHeaderSize  = 48
	shmVersion     = 3007000 // WalIndexHdr.iVersion
	shmIsInit      = 12      // WalIndexHdr.isInit, one byte
	shmMaxFrame    = 16      // WalIndexHdr.mxFrame
	shmBackfill    = 2 * shmHeaderSize
	shmMinSize     = shmBackfill + 4
	walHeaderBytes = 32 // the WAL file's own header
)

// checkWAL refuses a database whose write-ahead log is gone while its
// wal-index (the -shm file) says that the log holds committed transactions
// not yet copied into the database file. That is the state a server killed
// (or a machine stopped) leaves, whose -wal file was then deleted or
// emptied, or a database file copied without its -wal: SQLite would open it
// without a word, as of its last checkpoint, and the transactions
// acknowledged since then (promotions, approvals, audit events) would be
// gone; the GitOps reconciler would then revert the overlays that
// recorded them. A server that stops cleanly checkpoints and removes both
// files, and a log whose every frame was copied loses nothing, so neither
// is refused.
func checkWAL(path string) error {
	shm, err := os.Open(path + "-shm")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the wal-index %s-shm: %w", path, err)
	}
	defer shm.Close()
	var hdr [shmMinSize]byte
	if _, err := io.ReadFull(shm, hdr[:]); err != nil {
		// Shorter than a header: SQLite never initialised it.
		return nil
	}
	order := binary.NativeEndian
	first, second := hdr[:shmHeaderSize], hdr[shmHeaderSize:2*shmHeaderSize]
	if order.Uint32(first) != shmVersion || first[shmIsInit] != 1 || string(first) != string(second) {
		// Not a header SQLite finished writing: nothing to go by.
		return nil
	}
	frames, copied := order.Uint32(first[shmMaxFrame:]), order.Uint32(hdr[shmBackfill:])
	if frames <= copied {
		return nil
	}
	wal, err := os.Stat(path + "-wal")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read the write-ahead log %s-wal: %w", path, err)
	case wal.Size() >= walHeaderBytes:
		return nil
	}
	return fmt.Errorf("the write-ahead log %[1]s-wal is missing or empty, but %[1]s-shm says that it held %[2]d page writes of committed transactions "+
		"that are not in %[1]s yet: opening the database would lose them; put back the -wal file that belongs with this %[3]s "+
		"(a killed server leaves both; copy them together), or, to give up those transactions and open %[3]s as it is, "+
		"delete %[1]s-shm too (docs/operations.md, Backup and restore)",
		path, frames-copied, FileName)
}
