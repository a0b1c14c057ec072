package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
)

func newStoreCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Work on the store itself: migrate it, copy a SQLite store into PostgreSQL",
	}
	cmd.AddCommand(newStoreCopyCmd(s), newStoreMigrateCmd(s))
	return cmd
}

func newStoreCopyCmd(s *streams) *cobra.Command {
	cfg := defaultServerConfig()
	output := "text"
	cmd := &cobra.Command{
		Use:   "copy --data DIR --database DSN",
		Short: "Copy the SQLite store of a data directory into an empty PostgreSQL database",
		Long: `Copy everything the SQLite store in a data directory holds — models, versions,
promotions, approvals, live versions and their history, holds, rollouts, the audit
log, tokens, webhook cursors, deliveries and re-sends, leases and web UI sessions —
into an empty PostgreSQL database, to move a server to PostgreSQL (and to several
replicas). Rows are copied as they are stored: IDs, sequence numbers and the audit
chain's hashes do not change, and new rows get IDs after the copied ones.

The server on the data directory must be stopped: the copy is refused while it runs,
and holds the directory's lock until it ends. The SQLite store must be at this
binary's schema, and its audit chain must verify. The database must hold no
Promote data; its schema is created (or must be this binary's already).

The copy is one transaction on PostgreSQL, committed only once every table's rows
counted there equal the SQLite store's and the copied audit chain verifies with the
SQLite store's head: a copy that fails leaves the database empty. Each table is
reported on standard error once copied, and a large one every 100000 rows or 5
seconds while it is copied. The summary goes to standard output, as JSON with
-o json. The data directory is not changed; keep it as the backup of the store
as it was.

Exit codes: 0 copied and verified, 1 refused or failed (nothing copied), 2 bad input.`,
		Example: `  promote store copy --data /srv/promote-data --database postgres://promote@db.example.internal/promote
  PROMOTE_DATABASE=postgres://promote@db.example.internal/promote promote store copy --data /srv/promote-data -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return storeCopy(cmd.Context(), s, cfg.Data, cfg.Database, output)
		},
	}
	cfg.env(getenv)
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", output, "output format of the summary: "+strings.Join(storeCopyFormats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(storeCopyFormats, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&cfg.Data, "data", cfg.Data, "data `DIR` of the SQLite store to copy ($PROMOTE_DATA)")
	fl.StringVar(&cfg.Database, "database", cfg.Database, "PostgreSQL `DSN` (postgres://…) of the empty database to copy into ($PROMOTE_DATABASE)")
	return cmd
}

// storeCopyFormats are the values of store copy --output.
var storeCopyFormats = []string{"text", "json"}

// refused is a copy refused or failed: exit code 1.
func refused(format string, args ...any) error {
	return &exitError{code: ExitBlocked, err: fmt.Errorf(format, args...)}
}

// storeCopy copies the SQLite store in dir into the PostgreSQL database
// dsn and verifies the copy (sqlstore.Copy).
func storeCopy(ctx context.Context, s *streams, dir, dsn, output string) error {
	var problems []error
	if !slices.Contains(storeCopyFormats, output) {
		problems = append(problems, fmt.Errorf("--output %q: want one of %s", output, strings.Join(storeCopyFormats, ", ")))
	}
	if dir == "" {
		problems = append(problems, errors.New("--data is empty: name the data directory of the SQLite store to copy"))
	}
	if dsn == "" {
		problems = append(problems, errors.New("--database is empty: name the PostgreSQL database to copy into (postgres://…)"))
	} else if err := databaseProblem(dsn); err != nil {
		problems = append(problems, err)
	}
	if err := errors.Join(problems...); err != nil {
		return usageError(err)
	}
	file := filepath.Join(dir, sqlite.FileName)
	if _, err := os.Stat(file); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("--data %s: no SQLite store there (%s does not exist)", dir, file)
		}
		return usageErrorf("--data %s: %w", dir, pathError(err))
	}
	if holder, ok := servedBy(dir); ok {
		return copyRefusedInUse(dir, holder)
	}
	// Held to the end, so that no server starts on the store meanwhile. A
	// server may have taken it since servedBy looked: it is refused as
	// one found running.
	unlock, err := lockDataDir(dir)
	var inUse *dataDirInUseError
	if errors.As(err, &inUse) {
		return copyRefusedInUse(dir, inUse.holder)
	}
	if err != nil {
		return refused("%w", err)
	}
	defer unlock()

	src, err := sqlite.OpenWith(ctx, dir, sqlite.Options{MayMigrate: func(_, pending []string) error {
		return fmt.Errorf("the store has not recorded this binary's migrations %s, and a copy does not change it: migrate it first with this version "+
			"('promote store migrate --data %s'; docs/operations.md, Upgrades), then copy again",
			strings.Join(pending, ", "), dir)
	}})
	if err != nil {
		return refused("open the data directory %s: %w", dir, err)
	}
	defer src.Close()
	head, err := audit.Verify(ctx, src)
	if err != nil {
		return fmt.Errorf("verify the audit chain of %s: %w", dir, err)
	}
	if !head.OK {
		return refused("the audit chain of the store in %s does not verify (event %d, %s: %s): nothing was copied; see 'promote audit verify --local --data %s' and docs/audit.md",
			dir, head.Broken.Seq, head.Broken.Kind, head.Broken.Message, dir)
	}

	shown := redactDSN(dsn)
	dst, err := postgres.OpenWith(ctx, dsn, postgres.Options{MayMigrate: func(applied, pending []string) error {
		if len(applied) == 0 {
			return nil // a database Promote has never used: its schema is created
		}
		return fmt.Errorf("the database holds an older Promote schema (it has migrations up to %s, not %s): it has held a Promote store, and is not changed; copy into a new, empty database",
			applied[len(applied)-1], strings.Join(pending, ", "))
	}})
	if err != nil {
		return refused("open PostgreSQL %s: %w", shown, err)
	}
	defer dst.Close()

	copied, err := sqlstore.Copy(ctx, src, dst, sqlstore.CopyOptions{
		Progress: newCopyProgress(s.err, time.Now).report,
		Check: func(ctx context.Context, copied sqlstore.CopyChain) error {
			res, err := audit.Verify(ctx, copied)
			if err != nil {
				return fmt.Errorf("verify the copied audit chain: %w", err)
			}
			switch {
			case !res.OK:
				return fmt.Errorf("the copied audit chain does not verify (event %d, %s: %s): nothing was copied", res.Broken.Seq, res.Broken.Kind, res.Broken.Message)
			case res.HeadSeq != head.HeadSeq || res.HeadHash != head.HeadHash:
				return fmt.Errorf("the copied audit chain ends at event %d (hash %s), the store's at event %d (hash %s): nothing was copied",
					res.HeadSeq, res.HeadHash, head.HeadSeq, head.HeadHash)
			}
			return nil
		},
	})
	var full *sqlstore.NotEmptyError
	if errors.As(err, &full) {
		return refused("%s: %w; nothing was written. Copy into a new, empty database (createdb), or, if what it holds is not needed, drop and create it again (docs/operations.md, Move from SQLite to PostgreSQL)",
			shown, err)
	}
	if err != nil {
		return refused("copy %s into %s: %w", dir, shown, err)
	}
	var rows int64
	for _, t := range copied {
		rows += t.Rows
	}
	if output == "json" {
		return writeJSON(s.out, storeCopySummary{From: dir, To: shown, Tables: copied, Rows: rows, Audit: head})
	}
	fmt.Fprintf(s.out, "Copied %d tables, %d %s, from %s to %s.\n", len(copied), rows, plural(rows, "row", "rows"), dir, shown)
	fmt.Fprintf(s.out, "The audit chain verifies on PostgreSQL: %d %s, head %d:%s, as in %s.\n",
		head.Events, plural(head.Events, "event", "events"), head.HeadSeq, head.HeadHash, dir)
	fmt.Fprintf(s.out, "Start promote serve with --database (or $PROMOTE_DATABASE) on it; keep %s, unchanged, as the backup.\n", dir)
	return nil
}

// copyRefusedInUse is the refusal of a copy of the data directory dir,
// whose lock holder holds.
func copyRefusedInUse(dir, holder string) error {
	return refused("the data directory %s is in use by promote serve (%s holds %s): stop the server, then copy; a copy of a store that changes would miss its last changes",
		dir, holder, filepath.Join(dir, lockFileName))
}

// storeCopySummary is store copy's summary, as -o json writes it.
type storeCopySummary struct {
	From   string                 `json:"from"`
	To     string                 `json:"to"`
	Tables []sqlstore.CopiedTable `json:"tables"`
	Rows   int64                  `json:"rows"`
	Audit  audit.Result           `json:"audit"`
}

// copyProgressRows and copyProgressEvery are how often, in rows copied
// or in time, store copy reports a table while it copies it: a table of
// a million rows takes minutes, and said nothing until its end.
var (
	copyProgressRows  int64 = 100_000
	copyProgressEvery       = 5 * time.Second
)

// copyProgress writes a store copy's progress as plain lines: a line for
// each table once it is copied, and, while a table is copied, a line each
// copyProgressRows rows or copyProgressEvery, whichever comes first.
type copyProgress struct {
	w        io.Writer
	now      func() time.Time
	table    string
	lastRows int64
	lastAt   time.Time
}

func newCopyProgress(w io.Writer, now func() time.Time) *copyProgress {
	return &copyProgress{w: w, now: now, lastAt: now()}
}

// report is a sqlstore.CopyOptions.Progress.
func (p *copyProgress) report(table string, rows int64, done bool) {
	if table != p.table {
		p.table, p.lastRows = table, 0
	}
	now := p.now()
	if done {
		fmt.Fprintf(p.w, "copied %s: %d %s\n", table, rows, plural(rows, "row", "rows"))
		p.table, p.lastAt = "", now
		return
	}
	if rows-p.lastRows >= copyProgressRows || now.Sub(p.lastAt) >= copyProgressEvery {
		fmt.Fprintf(p.w, "copying %s: %d %s so far\n", table, rows, plural(rows, "row", "rows"))
		p.lastRows, p.lastAt = rows, now
	}
}
