// Package sqlstore implements promote.Store once, over database/sql, for
// every SQL database Promote supports. What differs between databases —
// placeholders, how a unique violation is recognised, how the audit chain's
// head is locked, the schema — is a small Dialect that the database's own
// package (internal/sqlite, internal/postgres) supplies.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/promote-ml/promote/promote"
)

// Dialect is what sqlstore needs to know about a database.
type Dialect struct {
	// Name names the database in errors ("sqlite", "postgres").
	Name string
	// NumberedPlaceholders rewrites the ? placeholders of every query to
	// $1, $2, … (PostgreSQL).
	NumberedPlaceholders bool
	// UniqueViolation reports whether err is a unique-constraint
	// violation, and what conflicted as the database names it (the
	// constraint or index, or its columns; empty when it does not say);
	// such errors become promote.Conflict naming it.
	UniqueViolation func(error) (what string, ok bool)
	// IsUnavailable reports whether err means that the database could not
	// be reached; the store's errors then wrap promote.ErrUnavailable.
	// Nil for an embedded database.
	IsUnavailable func(error) bool
	// Damaged, when set, returns err with what an operator must know when
	// it says the database itself is damaged (its file, and to restore a
	// backup), and err as it is otherwise.
	Damaged func(error) error
	// LockClause follows the SELECT that reads the audit chain's head in
	// AppendAudit, so that appends are serialised ("FOR UPDATE"). Empty
	// when the write transaction already holds the database's only write
	// lock (SQLite's BEGIN IMMEDIATE).
	LockClause string
	// ModelNumber is the value that the INSERT registering a model gives
	// its n column, the sequence number that the INSERT's RETURNING
	// answers with: DEFAULT where n is an identity (PostgreSQL). SQLite
	// numbers a model an older binary inserts with a trigger, which
	// RETURNING does not see, and has no DEFAULT in VALUES, so its
	// ModelNumber computes the next number itself, as the trigger does.
	ModelNumber string
	// MigrationLock, when set, is run first in the migration transaction
	// so that several processes opening one database migrate it in turn.
	MigrationLock string
	// Migrations holds the schema's *.sql files, applied in name order.
	Migrations fs.FS
	// MayMigrate, when set, is asked before the migrations the database
	// has not recorded (pending, their names in order) are applied, with
	// those it has (applied, in order); its error leaves the database as
	// it was.
	MayMigrate func(applied, pending []string) error
	// ViewOptions are the options of View's read-only transactions: at
	// least ReadOnly, and an isolation level that gives one snapshot.
	ViewOptions sql.TxOptions

	// The rest serves Copy. Catalog is a query that lists the tables of
	// the schema the store uses, leaving out the database's own (SQLite's
	// sqlite_sequence): a row per column, in order, of the table's name,
	// the column's name, its type in lower case, and whether it is a key
	// the database generates.
	Catalog string
	// Counters, when set, returns per table the last key the database has
	// generated, which deleted rows may leave above the largest stored: a
	// copy from this database has the target go on after it. Nil when the
	// database cannot be copied from.
	Counters func(ctx context.Context, q Querier) (map[string]int64, error)
	// SetCounter, when set, makes the generated key column of table go on
	// after last. Nil when the database cannot be copied to.
	SetCounter func(ctx context.Context, q Querier, table, column string, last int64) error
	// CopyInsert goes between an INSERT's column list and VALUES, so that
	// a copy may write the keys the database otherwise generates
	// (PostgreSQL's OVERRIDING SYSTEM VALUE).
	CopyInsert string
}

// Column is one column of a table, as a Catalog lists it.
type Column struct {
	Name string
	// Type is the column's type in the database's words, lower case
	// ("boolean", "bytea", "text").
	Type string
	// Generated is set for a key the database generates (an identity).
	Generated bool
}

// Querier reads and writes through a pool or a transaction alike.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// DB is a promote.Store over database/sql.
type DB struct {
	write   *sql.DB // Update's transactions
	read    *sql.DB // View and ScanAudit; may be write
	dialect Dialect
	rebound sync.Map // query → query with the dialect's placeholders
	// Statements prepared on each pool.
	writeStmts, readStmts stmtCache
	// readOnly is set by NewReadOnly: write is read, and Update fails.
	readOnly bool
}

var _ promote.Store = (*DB)(nil)

// New returns a store that writes through write and reads through read
// (which may be the same pool), after bringing the schema up to date with
// d.Migrations. The store owns both pools: Close closes them, and New closes
// them when it fails.
func New(ctx context.Context, d Dialect, write, read *sql.DB) (*DB, error) {
	db := &DB{write: write, read: read, dialect: d}
	if d.ModelNumber == "" {
		db.Close()
		return nil, fmt.Errorf("open %s store: the dialect sets no ModelNumber", d.Name)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s schema: %w", d.Name, ended(ctx, err))
	}
	return db, nil
}

// Close closes the store's connection pools.
func (db *DB) Close() error {
	db.writeStmts.close()
	db.readStmts.close()
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Update runs fn in a read-write transaction. An error or a panic in fn
// rolls it back; fn's error is returned as is.
func (db *DB) Update(ctx context.Context, fn func(promote.Tx) error) error {
	if db.readOnly {
		return db.errReadOnly()
	}
	return db.run(ctx, db.write, nil, fn)
}

// View runs fn in a read-only transaction on one snapshot.
func (db *DB) View(ctx context.Context, fn func(promote.Tx) error) error {
	opts := db.dialect.ViewOptions
	return db.run(ctx, db.read, &opts, fn)
}

// unavailable marks err with promote.ErrUnavailable when the dialect says
// that it comes from a database that could not be reached, and with ctx's
// error when ctx has ended (ended).
func (db *DB) unavailable(ctx context.Context, err error) error {
	err = ended(ctx, err)
	if err != nil && db.dialect.Damaged != nil {
		err = db.dialect.Damaged(err)
	}
	if err == nil || db.dialect.IsUnavailable == nil || errors.Is(err, promote.ErrUnavailable) || !db.dialect.IsUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", promote.ErrUnavailable, err)
}

// ended marks err with ctx's error when ctx has ended and err does not say
// so already: a driver that cancels the statement in the server when its
// context ends (PostgreSQL's) returns the server's error, "canceling
// statement due to user request", and callers tell a timeout or an
// interrupt by the context's error (the API answers 503, the command line
// "interrupted").
func ended(ctx context.Context, err error) error {
	if c := ctx.Err(); err != nil && c != nil && !errors.Is(err, c) {
		return fmt.Errorf("%w: %w", c, err)
	}
	return err
}

// prepareTimeout bounds the preparing of the statements a transaction ran
// unprepared: a cache that is not filled costs only their parsing again.
const prepareTimeout = 5 * time.Second

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(promote.Tx) error) (err error) {
	defer func() { err = db.unavailable(ctx, err) }()
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin %s transaction: %w", db.dialect.Name, err)
	}
	cache := &db.writeStmts
	if pool != db.write {
		cache = &db.readStmts
	}
	t := &tx{ctx: ctx, tx: stx, db: db, readOnly: opts != nil && opts.ReadOnly, cache: cache}
	defer func() {
		// Deferred first, so it runs last: after the commit or the
		// rollback, when the pool's connection is free again (SQLite's
		// write pool has only the one this transaction held). Not after
		// a failure other than a domain error (NotFound, Conflict…),
		// which may be the database's (down, or hung), and never for
		// longer than prepareTimeout: the caller's context may end as it
		// returns, but the caller must not wait on a database that does
		// not answer.
		if (err == nil || promote.ErrorCode(err) != promote.Internal) && len(t.unprepared) > 0 {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), prepareTimeout)
			defer cancel()
			cache.prepare(pctx, pool, t.unprepared)
		}
	}()
	committed := false
	defer func() {
		// Rolls back after an error, and after a panic in fn, which
		// then goes on up.
		if !committed {
			stx.Rollback()
		}
	}()
	if !t.readOnly && db.dialect.LockClause != "" {
		// Every write transaction appends to the audit chain, whose head
		// row it locks. Taking that lock first gives all writers one lock
		// order: otherwise a transaction holding the head can wait on a
		// row or unique-index entry held by one waiting for the head, a
		// deadlock (seen with concurrent promotions of one model).
		var seq int64
		if err := stx.QueryRowContext(ctx, "SELECT seq FROM audit_head WHERE id = 1 "+db.dialect.LockClause).Scan(&seq); err != nil {
			return fmt.Errorf("lock the audit head: %w", headMissing(err))
		}
	}
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit %s transaction: %w", db.dialect.Name, err)
	}
	return nil
}

// auditBatch is how many audit records ScanAudit reads per query, which
// bounds its memory whatever the length of the chain.
const auditBatch = 1000

// ScanAudit calls fn for every audit record with Seq > after, in sequence
// order. It reads in batches of auditBatch, each in a query of its own, so
// it holds no transaction open while fn runs: a chain of any length is
// streamed, and writers are never held up by a long export.
func (db *DB) ScanAudit(ctx context.Context, after int64, fn func(promote.AuditRecord) error) error {
	// The indexed copies come joined in one column, split without copying:
	// two allocations per record instead of six (verification reads a
	// million records in a few seconds, BENCHMARKS.md).
	q := db.rebind(auditScanQuery)
	// The next batch is read while fn runs on this one: a verification
	// hashes on one core while the store reads on another.
	ctx, cancel := context.WithCancel(ctx)
	type read struct {
		batch []promote.AuditRecord
		err   error
	}
	batches := make(chan read, 1)
	go func() {
		defer close(batches)
		for {
			// Every read is received: by the loop below, or, once it
			// returned, by the drain that also stops the reader.
			batch, err := db.auditBatch(ctx, db.read, q, after)
			batches <- read{batch, err}
			if err != nil || len(batch) < auditBatch || ctx.Err() != nil {
				return
			}
			after = batch[len(batch)-1].Seq
		}
	}()
	defer func() {
		// The reader stops, and its connection is back in the pool,
		// before ScanAudit returns.
		cancel()
		for range batches {
		}
	}()
	for rd := range batches {
		if rd.err != nil {
			return rd.err
		}
		for _, r := range rd.batch {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// auditScanQuery reads ScanAudit's records after a seq, at most a number.
const auditScanQuery = "SELECT seq, prev_hash, hash, body, at, concat_ws('" + columnSep + "', model, version, environment, promotion_id, action, actor, token_id)" +
	" FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?"

// auditBatch reads from db, with ScanAudit's query q (rebound), the next
// auditBatch audit records after seq after.
func (db *DB) auditBatch(ctx context.Context, from Querier, q string, after int64) ([]promote.AuditRecord, error) {
	rows, err := from.QueryContext(ctx, q, after, auditBatch)
	if err != nil {
		return nil, db.unavailable(ctx, fmt.Errorf("scan audit after %d: %w", after, err))
	}
	defer rows.Close()
	batch := make([]promote.AuditRecord, 0, auditBatch)
	var joined string
	var at int64
	for rows.Next() {
		r := promote.AuditRecord{Columns: new(promote.AuditColumns)}
		if err := rows.Scan(&r.Seq, &r.PrevHash, &r.Hash, &r.Body, &at, &joined); err != nil {
			return nil, db.unavailable(ctx, fmt.Errorf("scan audit after %d: %w", after, err))
		}
		splitColumns(joined, r.Columns)
		r.Columns.Time = auditTime(at)
		batch = append(batch, r)
	}
	if err := rows.Close(); err != nil {
		return nil, db.unavailable(ctx, fmt.Errorf("scan audit after %d: %w", after, err))
	}
	if err := rows.Err(); err != nil {
		return nil, db.unavailable(ctx, fmt.Errorf("scan audit after %d: %w", after, err))
	}
	return batch, nil
}

// columnSep joins the indexed copies of an audit record in ScanAudit's
// query: the unit separator, which no name, version or action may hold
// (promote.ValidateName), so the split is exact.
const columnSep = "\x1f"

// splitColumns fills c from the joined copies, in ScanAudit's order.
// Copies edited to hold the separator themselves cannot be split exactly:
// the model is then the whole joined value, which no event's body has, so
// that verification reports the record as modified rather than read the
// copies shifted.
func splitColumns(joined string, c *promote.AuditColumns) {
	if strings.Count(joined, columnSep) != 6 {
		*c = promote.AuditColumns{Model: joined}
		return
	}
	rest := joined
	for _, f := range []*string{&c.Model, &c.Version, &c.Environment, &c.PromotionID, &c.Action, &c.Actor} {
		*f, rest, _ = strings.Cut(rest, columnSep)
	}
	c.TokenID = rest
}

// AuditHead returns the chain's head as audit_head records it.
func (db *DB) AuditHead(ctx context.Context) (int64, string, error) {
	return db.auditHead(ctx, db.read)
}

// auditHead reads the chain's head through from.
func (db *DB) auditHead(ctx context.Context, from Querier) (int64, string, error) {
	var seq int64
	var hash string
	if err := from.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&seq, &hash); err != nil {
		return 0, "", db.unavailable(ctx, fmt.Errorf("read the audit chain's head: %w", headMissing(err)))
	}
	return seq, hash, nil
}

// headMissing is err, or, when the head's row is not there, an error that
// says so: every store has that row from its first migration on, and
// nothing in Promote removes it, so the database was edited outside it.
// Without the row no event can be appended and the log's end is not known.
func headMissing(err error) error {
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return promote.Errorf(promote.Internal, "audit_head has no row: the audit chain's head, which every store has from its first migration on, is gone, so the database was edited outside Promote: compare the log with the heads kept outside it (docs/audit.md, what the chain cannot show)")
}

// Ping reads the audit chain's head row, which every store has from its
// first migration on: a read of one row by its key, rather than a bare
// SELECT 1, so that a database whose schema cannot be read (a damaged
// SQLite file) does not pass for one that answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1 FROM audit_head WHERE id = 1").Scan(&one); err != nil {
		return db.unavailable(ctx, fmt.Errorf("ping the %s store: %w", db.dialect.Name, headMissing(err)))
	}
	return nil
}

// rebind returns query with the dialect's placeholders. Queries are written
// with ? and contain no ? inside string literals.
func (db *DB) rebind(query string) string {
	if !db.dialect.NumberedPlaceholders || !strings.Contains(query, "?") {
		return query
	}
	if q, ok := db.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	q := b.String()
	db.rebound.Store(query, q)
	return q
}
