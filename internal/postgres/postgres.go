// Package postgres is Promote's shared store for more than one machine:
// PostgreSQL through pgx's database/sql driver and the shared SQL store.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/promote-ml/promote/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock that serialises migrations when
// several replicas start at once: "promote" in ASCII, as a number.
const migrationLockKey = 31651020294550629

// maxConns bounds the connections one store opens.
const maxConns = 16

// idleInTransactionTimeout is how long the server lets a session sit idle
// inside a transaction before it ends the session, rolling the transaction
// back. Every write transaction locks the audit head first, and a fenced
// one the lease's row: a process that stops between two statements of one
// (stopped, frozen, or cut off from the database, whose TCP connection can
// stay open for hours) would otherwise hold every replica's writes — the
// lease's renewal and its takeover among them — until it resumes. No
// transaction of the store waits on anything but the database between its
// statements. It is below the default lease's deadline (leader.DefaultTTL
// less its margin), so that a frozen leader delays no takeover. A DSN that
// sets idle_in_transaction_session_timeout keeps its own.
const idleInTransactionTimeout = 5 * time.Second

const idleInTransactionParam = "idle_in_transaction_session_timeout"

// cancelWait is how long a call whose context ended waits for the server
// to cancel its statement before it drops the connection, as it did at
// once before. Without the wait the cancel request was sent from a
// goroutine after the call returned, and was lost when the process
// exited: promote serve stopped during its migration (a rolling update
// replacing the pod, a startup probe giving up) left the migration running
// in the server with its locks held, so every replica's writes waited
// for it, and the next start's migration waited for its advisory lock.
// A server that does not answer delays a call this long past its
// context's end.
const cancelWait = 2 * time.Second

// dialect is PostgreSQL's: $N placeholders, the audit head locked with
// SELECT … FOR UPDATE (so concurrent appends, from any replica, take their
// turn), views in REPEATABLE READ for one snapshot.
func dialect() (sqlstore.Dialect, error) {
	m, err := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:                 "postgres",
		NumberedPlaceholders: true,
		UniqueViolation:      uniqueViolated,
		IsUnavailable:        isUnavailable,
		LockClause:           "FOR UPDATE",
		ModelNumber:          "DEFAULT", // the identity's next value
		MigrationLock:        fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
		Migrations:           m,
		ViewOptions:          sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		Catalog:              catalog,
		SetCounter:           setCounter,
		CopyInsert:           "OVERRIDING SYSTEM VALUE",
	}, err
}

// catalog lists the tables of the current schema (the first of the search
// path, where the migrations created them) and their columns, from
// information_schema.
const catalog = `SELECT c.table_name, c.column_name, c.data_type, c.is_identity = 'YES'
		FROM information_schema.columns AS c JOIN information_schema.tables AS t
			ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		ORDER BY c.table_name, c.ordinal_position`

// setCounter moves the sequence of an identity column so that its next
// value follows last.
func setCounter(ctx context.Context, q sqlstore.Querier, table, column string, last int64) error {
	_, err := q.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence($1, $2), $3)", table, column, last)
	return err
}

// uniqueViolation is PostgreSQL's SQLSTATE for a unique-constraint violation.
const uniqueViolation = "23505"

// uniqueViolated reports whether err is a unique violation, and the
// constraint or index it broke.
func uniqueViolated(err error) (string, bool) {
	var e *pgconn.PgError
	if !errors.As(err, &e) || e.Code != uniqueViolation {
		return "", false
	}
	return e.ConstraintName, true
}

// isUnavailable reports whether err means that the server could not be
// reached: a connection that could not be made, or that broke (closed by
// the server or the network, or timed out at the network level), or a
// server shutting down or not yet accepting connections — SQLSTATE class
// 08 and 57P01–57P03 (PostgreSQL's Appendix A, "Error Codes").
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	// A context's deadline is a net.Error too: it is the caller's limit,
	// not the server's state.
	var ne net.Error
	return errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded)
}

// Open connects to the PostgreSQL database that dsn names (a URL or a
// key=value string, as libpq takes) and brings its schema up to date.
// Update and View share one pool of at most maxConns connections: the
// server runs them concurrently, and serialises what must be.
func Open(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// Options are what OpenWith may be told beyond the DSN.
type Options struct {
	// MayMigrate, when set, is asked before the migrations the database
	// has not recorded (pending) are applied, with those it has (applied),
	// their names in order; its error leaves the database as it was, and
	// OpenWith returns it.
	MayMigrate func(applied, pending []string) error
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*sqlstore.DB, error) {
	d, err := dialect()
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	d.MayMigrate = o.MayMigrate
	cfg, err := config(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns / 2)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s, err := sqlstore.New(ctx, d, db, db)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}

// config parses dsn into the configuration of the store's connections.
func config(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx leaves any password out of this error.
		return nil, err
	}
	if _, set := cfg.RuntimeParams[idleInTransactionParam]; !set {
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		cfg.RuntimeParams[idleInTransactionParam] = strconv.FormatInt(idleInTransactionTimeout.Milliseconds(), 10)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelWait}
	}
	return cfg, nil
}

// OpenReadOnly connects to the PostgreSQL database that dsn names for
// reading only, as an auditor verifying the audit chain may, with a role
// that may do no more than SELECT: it never migrates, takes no lock, and
// writes nothing. Every session is made read-only as it connects (SET
// SESSION CHARACTERISTICS AS TRANSACTION READ ONLY, after anything the DSN
// sets), so that each statement, and the transaction that reads the
// schema's migrations, runs READ ONLY and the server refuses any write.
// A schema whose recorded migrations are not exactly this binary's, older
// or newer, or a database without Promote's schema, is refused with a
// *sqlstore.SchemaError.
func OpenReadOnly(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	d, err := dialect()
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	cfg, err := config(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
		return err
	}))
	// One connection reads the chain while another reads its head.
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	s, err := sqlstore.NewReadOnly(ctx, d, db)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	return s, nil
}

// MigrationNames returns this binary's migrations of a PostgreSQL store,
// in the order they apply.
func MigrationNames() ([]string, error) {
	d, err := dialect()
	if err != nil {
		return nil, err
	}
	return sqlstore.MigrationNames(d.Migrations)
}
