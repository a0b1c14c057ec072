package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds a pool's statement cache: queries built from
// filters vary, and a rare one need not stay prepared.
const maxCachedStatements = 256

// stmtCache holds statements prepared on one pool, by query text, so that
// the database parses each query once per connection instead of once per
// use (SQLite's parser was about 40% of a promotion request's time).
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// prepare prepares the queries not cached yet. It runs after a transaction
// has ended: SQLite's write pool has one connection, which the transaction
// held.
func (c *stmtCache) prepare(ctx context.Context, pool *sql.DB, queries []string) {
	for _, q := range queries {
		c.mu.Lock()
		_, have := c.stmts[q]
		full := len(c.stmts) >= maxCachedStatements
		c.mu.Unlock()
		if have || full {
			continue
		}
		s, err := pool.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, as before
		}
		c.mu.Lock()
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		var drop *sql.Stmt
		if _, raced := c.stmts[q]; raced || len(c.stmts) >= maxCachedStatements {
			drop = s
		} else {
			c.stmts[q] = s
		}
		c.mu.Unlock()
		// Closing waits for every connection the statement is prepared
		// on, and a connection may be in a transaction that waits for a
		// database lock whose holder waits for c.mu: close outside it.
		if drop != nil {
			drop.Close()
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	stmts := c.stmts
	c.stmts = nil
	c.mu.Unlock()
	for _, s := range stmts {
		s.Close()
	}
}

// stmt returns the transaction's form of the cached statement for query,
// or nil, noting the query to prepare once the transaction ends.
func (t *tx) stmt(query string) (*sql.Stmt, string) {
	q := t.db.rebind(query)
	if s := t.cache.get(q); s != nil {
		return t.tx.StmtContext(t.ctx, s), q
	}
	t.unprepared = append(t.unprepared, q)
	return nil, q
}

func (t *tx) execContext(query string, args ...any) (sql.Result, error) {
	if s, _ := t.stmt(query); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, t.db.rebind(query), args...)
}

func (t *tx) queryContext(query string, args ...any) (*sql.Rows, error) {
	if s, _ := t.stmt(query); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, t.db.rebind(query), args...)
}

func (t *tx) queryRowContext(query string, args ...any) *sql.Row {
	if s, _ := t.stmt(query); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, t.db.rebind(query), args...)
}
