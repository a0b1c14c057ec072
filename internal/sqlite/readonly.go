package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/promote"
)

// Reader is a store that OpenReadOnly opened: it reads the audit chain,
// for a verification, and writes nothing.
type Reader struct {
	db   *sqlstore.DB
	path string
	// immutable is set when the database file was opened as one that
	// nobody writes (SQLite's immutable=1); before is then its state as
	// it was opened, which every read checks is still so.
	immutable bool
	before    fileState
}

// fileState is what shows that a database file was written to, or opened
// by a writer: its size and modification time, and whether its -wal and
// -shm files are there.
type fileState struct {
	size     int64
	modified time.Time
	wal, shm bool
}

// OpenReadOnly opens the store in dir for reading only, as an auditor
// verifying a copy of it may: it creates nothing (no directory, no file,
// no -wal or -shm), needs no write access to the directory or to any file
// in it, and never migrates. The database file must be there. A store
// whose recorded migrations are not exactly this binary's, older or
// newer, is refused with a *sqlstore.SchemaError, and a missing or empty
// -wal that the -shm file says held transactions (checkWAL) as Open
// refuses it; neither changes anything.
//
// A connection in SQLite's read-only mode (mode=ro) still needs the
// wal-index, the -shm file, to read a database in WAL mode, and makes the
// -wal and -shm files when they are missing: in a directory the user
// cannot write, that fails; in one they can, it writes to the store it
// verifies. So how the file is opened depends on what is beside it:
//
//   - No -wal file: no process has the database open, for every
//     connection to a database in WAL mode keeps its -wal until the last
//     one closes, having copied the log into the file. The file holds the
//     whole store, and is opened immutable=1: SQLite reads it alone, takes
//     no lock and makes no file. Immutable must never be used where a
//     writer may be at work, since SQLite then notices no change: a server
//     that starts during the verification is caught instead by the file's
//     state, checked after every read (a changed size or modification
//     time, or a -wal or -shm that appeared), and the verification fails
//     asking to be run again.
//   - A -wal and a -shm file: a live server's directory, or a copy of one
//     taken while it ran (or after it was killed). The log may hold
//     committed transactions that are not in the file yet, so immutable
//     would verify an older store without a word. The file is opened
//     mode=ro with readonly_shm=1: SQLite reads the -shm without ever
//     writing it, coordinating with a live writer through it, and when no
//     writer holds it (a copy), rebuilds the wal-index in its own memory
//     from the -wal file. Nothing is written either way.
//   - A -wal file with frames but no -shm: a copy made without it. The log
//     cannot be read without making a -shm, so the store is refused,
//     naming what to do, rather than verified without its newest events.
func OpenReadOnly(ctx context.Context, dir string) (*Reader, error) {
	d, err := dialect()
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	path := filepath.Join(abs, FileName)
	d.Damaged = func(err error) error { return damaged(path, err) }
	if err := checkWAL(path); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	before, err := stateOf(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	// SQLite says no more than "unable to open database file" of a file
	// it may not read; this names it, and why.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		f, err := os.Open(p)
		if err != nil && (p == path || !errors.Is(err, fs.ErrNotExist)) {
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
		if err == nil {
			f.Close()
		}
	}
	r := &Reader{path: path, before: before}
	params := url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout)},
		"_query_only":   {"1"},
		"mode":          {"ro"},
	}
	switch {
	case !before.wal:
		r.immutable = true
	case before.shm:
		params.Set("readonly_shm", "1")
	default:
		wal, err := os.Stat(path + "-wal")
		if err != nil {
			return nil, fmt.Errorf("open sqlite store: read the write-ahead log: %w", err)
		}
		if wal.Size() > walHeaderBytes {
			return nil, fmt.Errorf("open sqlite store: the write-ahead log %[1]s-wal holds transactions, and %[1]s-shm, which SQLite needs to read them, "+
				"is missing; a read-only verification does not create it: copy %[2]s with both of its -wal and -shm files, "+
				"or copy the directory and verify the copy", path, FileName)
		}
		// A log with no frames holds nothing the file does not.
		r.immutable = true
	}
	if r.immutable {
		params.Set("immutable", "1")
	}
	rdb, err := sql.Open("sqlite", dsn(path, params, nil))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	// One connection reads the chain while another reads its head.
	rdb.SetMaxOpenConns(2)
	rdb.SetMaxIdleConns(2)
	db, err := sqlstore.NewReadOnly(ctx, d, rdb)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store in %s: %w", dir, err)
	}
	r.db = db
	if err := r.unchanged(); err != nil {
		db.Close()
		return nil, err
	}
	return r, nil
}

// stateOf returns the state of the database file at path, which must be
// there.
func stateOf(path string) (fileState, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	s := fileState{size: st.Size(), modified: st.ModTime()}
	for _, f := range []struct {
		suffix string
		there  *bool
	}{{"-wal", &s.wal}, {"-shm", &s.shm}} {
		_, err := os.Stat(path + f.suffix)
		switch {
		case err == nil:
			*f.there = true
		case !errors.Is(err, fs.ErrNotExist):
			return fileState{}, err
		}
	}
	return s, nil
}

// ErrStoreChanged is a Reader's error when the database file it opened
// as one nobody writes was written, or opened by a writer, while it read.
var ErrStoreChanged = errors.New("the store changed while it was read")

// unchanged returns an error wrapping ErrStoreChanged when r's file was
// opened immutable and is no longer as it was.
func (r *Reader) unchanged() error {
	if !r.immutable {
		return nil
	}
	now, err := stateOf(r.path)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStoreChanged, r.path, err)
	}
	if now.size != r.before.size || !now.modified.Equal(r.before.modified) || now.wal != r.before.wal || now.shm != r.before.shm {
		return fmt.Errorf("%w: %s was written to, or opened by a writer such as promote serve, during the verification; "+
			"run it again (or verify a copy that nothing writes to)", ErrStoreChanged, r.path)
	}
	return nil
}

// AuditHead returns the chain's head as audit_head records it.
func (r *Reader) AuditHead(ctx context.Context) (int64, string, error) {
	seq, hash, err := r.db.AuditHead(ctx)
	if cerr := r.unchanged(); cerr != nil {
		return 0, "", cerr
	}
	return seq, hash, err
}

// ScanAudit calls fn for every audit record with Seq > after, in sequence
// order, as sqlstore.DB.ScanAudit does. A file that changed meanwhile is
// an error, whatever fn returned: what was read may be torn.
func (r *Reader) ScanAudit(ctx context.Context, after int64, fn func(promote.AuditRecord) error) error {
	err := r.db.ScanAudit(ctx, after, fn)
	if cerr := r.unchanged(); cerr != nil {
		return cerr
	}
	return err
}

// Close closes r's connections.
func (r *Reader) Close() error { return r.db.Close() }
