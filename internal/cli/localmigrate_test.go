package cli

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/storetest"
)

// migrations returns the migrations the SQLite database in the data
// directory data has recorded.
func migrations(t *testing.T, data string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(data, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return storetest.RecordedMigrations(t, db)
}

// A local command of a newer binary, run while an older promote serve
// runs on the data directory (during an upgrade), would migrate the store
// under that server. It is refused, naming the server and the migrations,
// and leaves the store as it was; once the server has stopped, it
// migrates and runs.
func TestLocalCommandDoesNotMigrateUnderAServer(t *testing.T) {
	// A database written at schema 0010 by an earlier Promote.
	data := olderStore(t)
	dir := filepath.Dir(data)
	before := migrations(t, data)

	unlock, err := lockDataDir(data) // the older server, running
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"token", "create", "--name", "ada", "--role", "viewer", "--data", data},
	} {
		code, out, errOut := run(t, dir, args...)
		if code == 0 {
			t.Errorf("promote %s while a server runs on the data directory = exit 0, %q; want it refused", strings.Join(args, " "), out)
		}
		for _, want := range []string{"in use by promote serve", fmt.Sprintf("process %d", os.Getpid()), "0011_", "stop the server first"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("promote %s while a server runs: stderr %q, want it to say %q", strings.Join(args, " "), errOut, want)
			}
		}
		if got := migrations(t, data); strings.Join(got, " ") != strings.Join(before, " ") {
			t.Fatalf("promote %s migrated the store under the running server: %v, was %v", strings.Join(args, " "), got, before)
		}
	}
	// audit verify --local migrates no store, served or not: it is
	// refused for the migrations alone.
	code, out, errOut := run(t, dir, "audit", "verify", "--local", "--data", data)
	if code != ExitUsage || !strings.Contains(errOut, "has not applied 0011_") {
		t.Errorf("promote audit verify --local of an older store while a server runs = exit %d, %q %q; want it refused naming 0011_", code, out, errOut)
	}
	if got := migrations(t, data); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Fatalf("promote audit verify --local migrated the store: %v, was %v", got, before)
	}
	unlock()

	code, _, errOut = run(t, dir, "token", "create", "--name", "ada", "--role", "viewer", "--quiet", "--data", data)
	if code != 0 {
		t.Fatalf("promote token create once the server stopped = exit %d, %s", code, errOut)
	}
	if got := migrations(t, data); len(got) <= len(before) {
		t.Errorf("promote token create once the server stopped left the migrations at %v", got)
	}
}
