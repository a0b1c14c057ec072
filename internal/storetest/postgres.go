package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// dsnVar names the variable holding the test server's DSN.
const dsnVar = "PROMOTE_TEST_POSTGRES_DSN"

// PostgresServer returns the test server's DSN. Without one the test is skipped,
// except in CI, where the PostgreSQL half of the suite must run.
func PostgresServer(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnVar)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: in CI the PostgreSQL tests must run (.ci/postgres.sh starts a server)", dsnVar)
		}
		t.Skipf("%s is not set: start a server with `source .ci/postgres.sh` to run the PostgreSQL tests", dsnVar)
	}
	return dsn
}

// withSearchPath returns dsn with the schema as its search path, in either
// form of DSN (URL or key=value).
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}

// PostgresDSN creates a schema of its own for t, dropped when t ends, and
// returns a DSN whose connections use it: tests share the server but never
// see each other's tables.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := PostgresServer(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 8)
	rand.Read(b)
	schema := "promote_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// t's context is done by now.
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	scoped, err := withSearchPath(dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	return scoped
}
