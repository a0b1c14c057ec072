package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/promote-ml/promote/promote"
)

// copyTables are the tables Copy copies, each after the tables its rows
// refer to. Copy refuses a database with a table that is not here (or
// here and not there), so a migration that adds a table without adding it
// here makes every copy, and the copy's tests, fail rather than leave the
// table behind.
var copyTables = []string{
	"models", "versions", "promotions", "approvals", "live", "live_history", "holds",
	"rollouts", "rollout_samples", "audit_events", "audit_head", "tokens", "leases",
	"webhook_cursors", "webhook_deliveries", "webhook_resends", "ui_sessions",
}

// migrationsTable is not copied: each database records the migrations of
// its own dialect, which New has applied on both sides.
const migrationsTable = "schema_migrations"

// copyBatchParams bounds the parameters of one INSERT of a copy (PostgreSQL
// takes at most 65535), and copyBatchRows its rows.
const (
	copyBatchParams = 30000
	copyBatchRows   = 500
)

// CopyOptions are what Copy may be told beyond its stores.
type CopyOptions struct {
	// Progress, when set, is told how many rows of a table are copied:
	// after each batch written, with done false, and once the table is
	// copied and counted, with done true. A large table is so reported
	// while it is copied, not only at its end.
	Progress func(table string, rows int64, done bool)
	// Check, when set, is run before the copy commits, on the audit chain
	// as the copy wrote it; its error rolls the copy back.
	Check func(ctx context.Context, copied CopyChain) error
}

// CopiedTable is a table that Copy copied and its number of rows.
type CopiedTable struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// NotEmptyError is Copy's refusal of a target that holds data: the tables
// that hold rows, and how many.
type NotEmptyError struct {
	Tables []CopiedTable
}

func (e *NotEmptyError) Error() string {
	parts := make([]string, len(e.Tables))
	for i, t := range e.Tables {
		parts[i] = fmt.Sprintf("%s %d", t.Name, t.Rows)
	}
	return "the target database holds data already (rows: " + strings.Join(parts, ", ") + ")"
}

// Copy copies every row of from's tables into to, whose tables must be
// empty, as they are stored: keys, sequence numbers and the audit chain's
// bytes and hashes unchanged, so that the chain verifies on to with the
// same head. Both stores are at their binary's schema (New migrated them
// or refused), and Copy refuses, writing nothing, when their tables or
// columns are not the ones it copies. It reads one snapshot of from, and
// writes to in one transaction, which it commits only once every table's
// rows counted on to equal from's and o.Check (when set) accepts the
// chain: a failure leaves to as empty as it found it. The keys to
// generates go on after the last that from generated.
func Copy(ctx context.Context, from, to *DB, o CopyOptions) ([]CopiedTable, error) {
	src, dst := from.dialect, to.dialect
	if src.Catalog == "" || src.Counters == nil {
		return nil, fmt.Errorf("copy: a %s store cannot be copied from", src.Name)
	}
	if dst.Catalog == "" || dst.SetCounter == nil {
		return nil, fmt.Errorf("copy: a %s store cannot be copied to", dst.Name)
	}
	rtx, err := from.read.BeginTx(ctx, &src.ViewOptions)
	if err != nil {
		return nil, fmt.Errorf("copy: begin %s transaction: %w", src.Name, ended(ctx, err))
	}
	defer rtx.Rollback()
	wtx, err := to.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("copy: begin %s transaction: %w", dst.Name, ended(ctx, err))
	}
	committed := false
	defer func() {
		if !committed {
			wtx.Rollback()
		}
	}()
	if dst.LockClause != "" {
		// As every write transaction of to does first: a server started
		// on to meanwhile waits for the copy, and then finds it done.
		if _, err := wtx.ExecContext(ctx, "SELECT seq FROM audit_head WHERE id = 1 "+dst.LockClause); err != nil {
			return nil, fmt.Errorf("copy: lock the %s audit head: %w", dst.Name, ended(ctx, err))
		}
	}
	srcCat, err := catalog(ctx, rtx, src.Catalog)
	if err != nil {
		return nil, fmt.Errorf("copy: read the %s catalogue: %w", src.Name, ended(ctx, err))
	}
	dstCat, err := catalog(ctx, wtx, dst.Catalog)
	if err != nil {
		return nil, fmt.Errorf("copy: read the %s catalogue: %w", dst.Name, ended(ctx, err))
	}
	if err := sameTables(srcCat, dstCat, src.Name, dst.Name); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if err := to.empty(ctx, wtx); err != nil {
		return nil, err
	}
	counters, err := src.Counters(ctx, rtx)
	if err != nil {
		return nil, fmt.Errorf("copy: read the %s key counters: %w", src.Name, ended(ctx, err))
	}
	// The target's migrations start the chain's head at the genesis; the
	// source's head replaces it.
	if _, err := wtx.ExecContext(ctx, "DELETE FROM audit_head"); err != nil {
		return nil, fmt.Errorf("copy: audit_head: %w", ended(ctx, err))
	}
	var copied []CopiedTable
	for _, table := range copyTables {
		var batched func(int64)
		if o.Progress != nil {
			batched = func(rows int64) { o.Progress(table, rows, false) }
		}
		n, err := copyTable(ctx, rtx, wtx, to, table, dstCat[table], batched)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", table, ended(ctx, err))
		}
		var had, has int64
		count := "SELECT COUNT(*) FROM " + table
		if err := rtx.QueryRowContext(ctx, count).Scan(&had); err != nil {
			return nil, fmt.Errorf("copy %s: count the %s rows: %w", table, src.Name, ended(ctx, err))
		}
		if err := wtx.QueryRowContext(ctx, count).Scan(&has); err != nil {
			return nil, fmt.Errorf("copy %s: count the %s rows: %w", table, dst.Name, ended(ctx, err))
		}
		if had != n || has != n {
			return nil, fmt.Errorf("copy %s: the %s table has %d rows, %d were copied, and the %s table has %d: nothing was copied",
				table, src.Name, had, n, dst.Name, has)
		}
		copied = append(copied, CopiedTable{Name: table, Rows: n})
		if o.Progress != nil {
			o.Progress(table, n, true)
		}
	}
	for _, table := range copyTables {
		for _, c := range dstCat[table] {
			if !c.Generated {
				continue
			}
			var last int64
			if err := wtx.QueryRowContext(ctx, "SELECT COALESCE(MAX("+quote(c.Name)+"), 0) FROM "+table).Scan(&last); err != nil {
				return nil, fmt.Errorf("copy %s: %w", table, ended(ctx, err))
			}
			last = max(last, counters[table])
			if last > 0 {
				if err := dst.SetCounter(ctx, wtx, table, c.Name, last); err != nil {
					return nil, fmt.Errorf("copy %s: continue the keys of %s after %d: %w", table, c.Name, last, ended(ctx, err))
				}
			}
		}
	}
	if o.Check != nil {
		if err := o.Check(ctx, CopyChain{db: to, tx: wtx}); err != nil {
			return nil, err
		}
	}
	committed = true
	if err := wtx.Commit(); err != nil {
		return nil, fmt.Errorf("copy: commit %s transaction: %w", dst.Name, ended(ctx, err))
	}
	return copied, nil
}

// catalog reads a database's tables and their columns with its dialect's
// Catalog query.
func catalog(ctx context.Context, q Querier, query string) (map[string][]Column, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cat := map[string][]Column{}
	for rows.Next() {
		var table string
		var c Column
		if err := rows.Scan(&table, &c.Name, &c.Type, &c.Generated); err != nil {
			return nil, err
		}
		cat[table] = append(cat[table], c)
	}
	return cat, rows.Err()
}

// sameTables reports, as one error, how the catalogues of the source (a)
// and the target (b) differ from the tables and columns a copy copies.
func sameTables(a, b map[string][]Column, aName, bName string) error {
	var problems []string
	for _, side := range []struct {
		name string
		cat  map[string][]Column
	}{{aName, a}, {bName, b}} {
		for table := range side.cat {
			if table != migrationsTable && !slices.Contains(copyTables, table) {
				problems = append(problems, fmt.Sprintf("the %s database has table %s, which this binary does not copy", side.name, table))
			}
		}
		for _, table := range copyTables {
			if _, ok := side.cat[table]; !ok {
				problems = append(problems, fmt.Sprintf("the %s database has no table %s", side.name, table))
			}
		}
	}
	for _, table := range copyTables {
		names := func(cs []Column) []string {
			var n []string
			for _, c := range cs {
				n = append(n, c.Name)
			}
			slices.Sort(n)
			return n
		}
		an, bn := names(a[table]), names(b[table])
		for _, c := range an {
			if !slices.Contains(bn, c) {
				problems = append(problems, fmt.Sprintf("table %s: column %s is in the %s database but not the %s one", table, c, aName, bName))
			}
		}
		for _, c := range bn {
			if !slices.Contains(an, c) {
				problems = append(problems, fmt.Sprintf("table %s: column %s is in the %s database but not the %s one", table, c, bName, aName))
			}
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		return fmt.Errorf("the schemas differ, nothing was copied: %s", strings.Join(slices.Compact(problems), "; "))
	}
	return nil
}

// empty returns a *NotEmptyError when a table of db, read through q, holds
// a row; the chain's head counts when it is past the genesis.
func (db *DB) empty(ctx context.Context, q Querier) error {
	var full []CopiedTable
	for _, table := range copyTables {
		query := "SELECT COUNT(*) FROM " + table
		if table == "audit_head" {
			query += " WHERE seq <> 0"
		}
		var n int64
		if err := q.QueryRowContext(ctx, query).Scan(&n); err != nil {
			return fmt.Errorf("copy: count the %s rows of %s: %w", db.dialect.Name, table, ended(ctx, err))
		}
		if n > 0 {
			full = append(full, CopiedTable{Name: table, Rows: n})
		}
	}
	if len(full) > 0 {
		return &NotEmptyError{Tables: full}
	}
	return nil
}

// copyTable copies the rows of table, whose columns in the target are
// cols, from the source's transaction r into the target's w, in batches,
// and returns how many it copied. progress, when not nil, is told the rows
// copied so far after each batch is written.
func copyTable(ctx context.Context, r *sql.Tx, w *sql.Tx, to *DB, table string, cols []Column, progress func(rows int64)) (int64, error) {
	names := make([]string, len(cols))
	generated := false
	for i, c := range cols {
		names[i] = quote(c.Name)
		generated = generated || c.Generated
	}
	list := strings.Join(names, ", ")
	rows, err := r.QueryContext(ctx, "SELECT "+list+" FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	insert := "INSERT INTO " + table + " (" + list + ") "
	if generated {
		insert += to.dialect.CopyInsert + " "
	}
	one := "(" + placeholders(len(cols)) + ")"
	perBatch := max(1, min(copyBatchRows, copyBatchParams/len(cols)))
	batch := make([]any, 0, perBatch*len(cols))
	var copied int64
	flush := func(n int) error {
		if n == 0 {
			return nil
		}
		q := to.rebind(insert + "VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", n), ", "))
		_, err := w.ExecContext(ctx, q, batch...)
		batch = batch[:0]
		if err == nil && progress != nil {
			progress(copied)
		}
		return err
	}
	inBatch := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return copied, err
		}
		for i, c := range cols {
			v, err := convert(vals[i], c.Type)
			if err != nil {
				return copied, fmt.Errorf("column %s of row %d: %w", c.Name, copied+1, err)
			}
			batch = append(batch, v)
		}
		copied++
		if inBatch++; inBatch == perBatch {
			if err := flush(inBatch); err != nil {
				return copied, err
			}
			inBatch = 0
		}
	}
	if err := rows.Err(); err != nil {
		return copied, err
	}
	return copied, flush(inBatch)
}

// convert returns v, as the source's driver read it, in the form the
// target's column of type typ takes: SQLite keeps booleans as the integers
// 0 and 1, a whole REAL as an integer, and may hand a BLOB's bytes as a
// string, or a TEXT's as bytes.
func convert(v any, typ string) (any, error) {
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			if x != 0 && x != 1 {
				return nil, fmt.Errorf("%d is not a boolean (0 or 1)", x)
			}
			return x == 1, nil
		case nil, bool:
			return v, nil
		default:
			return nil, fmt.Errorf("%v (%T) is not a boolean", v, v)
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	case "double precision":
		if i, ok := v.(int64); ok {
			return float64(i), nil
		}
	}
	return v, nil
}

// quote quotes an identifier, as both SQLite and PostgreSQL read it.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// CopyChain is the audit chain that Copy wrote, read in its transaction
// before it commits (an audit.Chain, for audit.Verify).
type CopyChain struct {
	db *DB
	tx *sql.Tx
}

// ScanAudit calls fn for every audit record copied with Seq > after, in
// sequence order, as ScanAudit of the store does.
func (c CopyChain) ScanAudit(ctx context.Context, after int64, fn func(promote.AuditRecord) error) error {
	q := c.db.rebind(auditScanQuery)
	for {
		batch, err := c.db.auditBatch(ctx, c.tx, q, after)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(batch) < auditBatch {
			return nil
		}
		after = batch[len(batch)-1].Seq
	}
}

// AuditHead returns the head of the chain copied.
func (c CopyChain) AuditHead(ctx context.Context) (int64, string, error) {
	return c.db.auditHead(ctx, c.tx)
}
