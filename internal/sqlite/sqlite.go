// Package sqlite is Promote's embedded store: SQLite (the pure-Go
// modernc.org/sqlite) in a data directory, through the shared SQL store.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/promote-ml/promote/internal/sqlstore"
)

// FileName is the database file's name in the data directory.
const FileName = "promote.db"

// busyTimeout is how long, in milliseconds, a connection waits for a lock
// another process holds before it fails with SQLITE_BUSY.
const busyTimeout = 10000

//go:embed migrations/*.sql
var migrations embed.FS

// dialect is SQLite's: ? placeholders, and no lock clause for the audit
// head, because every write transaction begins with BEGIN IMMEDIATE and so
// holds the database's one write lock from its first statement.
func dialect() (sqlstore.Dialect, error) {
	m, err := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:            "sqlite",
		UniqueViolation: uniqueViolated,
		IsUnavailable:   isUnavailable,
		ModelNumber:     modelNumber,
		Migrations:      m,
		ViewOptions:     sql.TxOptions{ReadOnly: true},
		Catalog:         catalog,
		Counters:        counters,
	}, err
}

// modelNumber is the next model's sequence number: one above the largest
// given, as migration 0024's trigger numbers a model inserted without one
// (models are never deleted). Writes hold the database's one write lock,
// so no other writer takes the same number.
const modelNumber = "(SELECT COALESCE(MAX(n), 0) + 1 FROM models)"

// catalog lists the tables and their columns from sqlite_master and
// table_info, leaving out SQLite's own tables (sqlite_sequence). An
// AUTOINCREMENT primary key is a generated one.
const catalog = `SELECT m.name, p.name, lower(p.type), p.pk = 1 AND instr(upper(m.sql), 'AUTOINCREMENT') > 0
		FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY m.name, p.cid`

// counters reads the last key each AUTOINCREMENT table has generated from
// sqlite_sequence: SQLite never gives a key out twice, even once its row
// is deleted.
func counters(ctx context.Context, q sqlstore.Querier) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, seq FROM sqlite_sequence")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	last := map[string]int64{}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, err
		}
		last[name] = seq
	}
	return last, rows.Err()
}

// uniqueViolated reports whether err is a unique violation, and the
// columns (table.column, …) or the index it broke, which SQLite names
// only in its message: "UNIQUE constraint failed: promotions.id".
func uniqueViolated(err error) (string, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return "", false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
	default:
		return "", false
	}
	_, what, _ := strings.Cut(e.Error(), " constraint failed: ")
	// The driver ends the message with the extended code: " (2067)".
	if i := strings.LastIndex(what, " ("); i >= 0 && strings.HasSuffix(what, ")") {
		what = what[:i]
	}
	return what, true
}

// isUnavailable reports whether err means that the database cannot take
// the write now but may once the machine is mended: its disk is full
// (SQLITE_FULL) or failed an I/O (SQLITE_IOERR and its extended codes).
// Such a request is answered 503, as a PostgreSQL server out of reach is,
// rather than as an internal error; the transaction changed nothing.
func isUnavailable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return true
	}
	return false
}

// damaged names the database file at path and what to do when err says
// that it is damaged (SQLITE_CORRUPT, SQLITE_NOTADB): a page that does not
// read, which no retry mends.
func damaged(path string, err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: the database file %s is damaged; stop the server and restore it from a backup "+
			"(docs/operations.md, Backup and restore)", err, path)
	}
	return err
}

// Open opens (creating it if need be) the store in dir: the database file
// promote.db, in a directory created with mode 0700 when it is missing.
//
// Writes go through a pool of one connection whose transactions begin with
// BEGIN IMMEDIATE (the driver's _txlock=immediate), so a write transaction
// holds the write lock from the start: it never fails half-way with
// SQLITE_BUSY on upgrading a read lock, and Update calls queue in the pool.
// View and ScanAudit use a separate pool of several read-only connections
// (PRAGMA query_only), which under WAL read concurrently with each other and
// with the writer. Every connection has a busy timeout, synchronous=NORMAL
// (durable with WAL except for the last transactions on power loss) and
// foreign keys on.
//
// A database whose write-ahead log is missing or empty while its -shm file
// says that the log held committed transactions is refused (checkWAL). A
// data directory or database file this process cannot write is refused,
// before anything is created, with a *NotWritableError.
//
// Because writes share one connection, fn in Update must not call Update on
// the same store: the inner call would wait for the connection fn holds.
func Open(ctx context.Context, dir string) (*sqlstore.DB, error) {
	return OpenWith(ctx, dir, Options{})
}

// Options are what OpenWith may be told beyond the directory.
type Options struct {
	// MayMigrate, when set, is asked before the migrations the database
	// has not recorded (pending) are applied, with those it has (applied),
	// their names in order; its error leaves the database as it was, and
	// OpenWith returns it.
	MayMigrate func(applied, pending []string) error

	// maxPages bounds the database's size in pages (PRAGMA
	// max_page_count), for tests of a full disk; 0: no bound.
	maxPages int
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dir string, o Options) (*sqlstore.DB, error) {
	d, err := dialect()
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	d.MayMigrate = o.MayMigrate
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if err := makeDir(abs); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	path := filepath.Join(abs, FileName)
	if err := checkWritable(abs, path); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	d.Damaged = func(err error) error { return damaged(path, err) }
	if err := checkWAL(path); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	// Created here so that the file (and the -wal and -shm files SQLite
	// gives the same mode) is readable by its owner only.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", notWritable("the database file", path, err))
	}
	f.Close()

	params := url.Values{}
	params.Set("_busy_timeout", fmt.Sprint(busyTimeout))
	params.Set("_foreign_keys", "1")
	params.Set("_synchronous", "NORMAL")
	writeOnly := url.Values{"_journal_mode": {"WAL"}, "_txlock": {"immediate"}}
	if o.maxPages > 0 {
		writeOnly.Set("_pragma", fmt.Sprintf("max_page_count(%d)", o.maxPages))
	}
	write := dsn(path, params, writeOnly)
	read := dsn(path, params, url.Values{"_query_only": {"1"}})

	wdb, err := sql.Open("sqlite", write)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	rdb, err := sql.Open("sqlite", read)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	// The write pool migrates (and so sets WAL on the file) before the first
	// read connection opens.
	db, err := sqlstore.New(ctx, d, wdb, rdb)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store in %s: %w", dir, readOnly(path, err))
	}
	return db, nil
}

// dsn returns the driver's URI for the file at path with the parameters of
// both sets. The path is escaped, so that any character may appear in it.
func dsn(path string, a, b url.Values) string {
	q := url.Values{}
	for _, set := range []url.Values{a, b} {
		for k, v := range set {
			q[k] = v
		}
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if u.Path[0] != '/' {
		u.Path = "/" + u.Path // a Windows drive letter
	}
	return u.String()
}

// MigrationNames returns this binary's migrations of a SQLite store, in
// the order they apply.
func MigrationNames() ([]string, error) {
	d, err := dialect()
	if err != nil {
		return nil, err
	}
	return sqlstore.MigrationNames(d.Migrations)
}
