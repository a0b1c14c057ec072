package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
)

func newStoreMigrateCmd(s *streams) *cobra.Command {
	cfg := defaultServerConfig()
	output := "text"
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate (--data DIR | --database DSN)",
		Short: "Bring a store to this binary's schema, or say what that would apply (--dry-run)",
		Long: `Apply the schema migrations this binary has and the store has not recorded, in one
transaction, and say which. promote serve does the same when it opens an older store;
this command does it on its own, for an upgrade done in steps, or for a copy an auditor
is to verify with 'promote audit verify --local', which never migrates.

--dry-run reads the store and names the migrations it would apply, changing nothing
(it needs read access alone). A store a newer Promote has migrated is refused: run that
version, or restore the backup taken before the upgrade.

SQLite: the server on the data directory must be stopped; the migration is refused
while it runs, and holds the directory's lock until it ends. PostgreSQL: stop the
replicas of the older version first, since they do not know the new schema
(docs/operations.md, Upgrades). Take a backup before migrating.

Exit codes: 0 migrated, nothing to migrate, or a dry run; 1 refused or failed (nothing
changed); 2 bad input.`,
		Example: `  promote store migrate --data /srv/promote-data --dry-run
  promote store migrate --data /srv/promote-data
  promote store migrate --database postgres://promote@db.example.internal/promote -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return storeMigrate(cmd.Context(), s, cfg, dryRun, output)
		},
	}
	cfg.env(getenv)
	fl := cmd.Flags()
	fl.BoolVar(&dryRun, "dry-run", false, "name the migrations that would be applied, and change nothing")
	fl.StringVarP(&output, "output", "o", output, "output format: "+strings.Join(storeCopyFormats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(storeCopyFormats, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&cfg.Data, "data", cfg.Data, "data `DIR` of the SQLite store ($PROMOTE_DATA)")
	fl.StringVar(&cfg.Database, "database", cfg.Database, "PostgreSQL `DSN` (postgres://…) of the store, instead of --data ($PROMOTE_DATABASE)")
	return cmd
}

// migrateReport is what store migrate says, as JSON with -o json.
type migrateReport struct {
	Store string `json:"store"`
	// Was is the last migration the store had recorded; empty for none.
	Was string `json:"was"`
	// Pending are the migrations it had not recorded, in order: applied,
	// or in a dry run, to be applied.
	Pending []string `json:"pending"`
	// At is the last migration the store has recorded now.
	At     string `json:"at"`
	DryRun bool   `json:"dry_run"`
}

// storeMigrate is promote store migrate.
func storeMigrate(ctx context.Context, s *streams, cfg serverConfig, dryRun bool, output string) error {
	var problems []error
	if !slices.Contains(storeCopyFormats, output) {
		problems = append(problems, fmt.Errorf("--output %q: want one of %s", output, strings.Join(storeCopyFormats, ", ")))
	}
	if cfg.Database != "" {
		if err := databaseProblem(cfg.Database); err != nil {
			problems = append(problems, err)
		}
	} else if cfg.Data == "" {
		problems = append(problems, errors.New("--data is empty: name the data directory of the SQLite store, or --database"))
	}
	if err := errors.Join(problems...); err != nil {
		return usageError(err)
	}
	where := storeWhere(cfg)
	known, err := postgres.MigrationNames()
	if cfg.Database == "" {
		known, err = sqlite.MigrationNames()
		file := filepath.Join(cfg.Data, sqlite.FileName)
		if _, serr := os.Stat(file); serr != nil {
			if errors.Is(serr, fs.ErrNotExist) {
				return usageErrorf("--data %s: no SQLite store there (%s does not exist), and none was created", cfg.Data, file)
			}
			return usageErrorf("--data %s: %w", cfg.Data, pathError(serr))
		}
	}
	if err != nil {
		return err
	}

	// What the store has recorded, read without changing anything.
	applied, err := recordedMigrations(ctx, cfg, known)
	if err != nil {
		return err
	}
	rep := migrateReport{Store: where, Was: last(applied), At: last(applied), DryRun: dryRun, Pending: []string{}}
	se := &sqlstore.SchemaError{Applied: applied, Known: known}
	if u := se.Unknown(); len(u) > 0 {
		return refused("%s: %v: run the newer promote that migrated it, or restore the backup taken before the upgrade (docs/operations.md, Upgrades)", where, se)
	}
	if len(applied) == 0 {
		return usageErrorf("no Promote store in %s (it has none of Promote's tables), and none was created: check --data/--database; promote serve creates a store", where)
	}
	rep.Pending = se.Missing()
	if len(rep.Pending) > 0 && !dryRun {
		if err := applyMigrations(ctx, cfg, rep.Pending); err != nil {
			return err
		}
		rep.At = known[len(known)-1]
	}
	if output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	switch {
	case len(rep.Pending) == 0:
		fmt.Fprintf(s.out, "The store in %s is at %s, this promote's last migration: nothing to migrate.\n", where, rep.At)
	case dryRun:
		fmt.Fprintf(s.out, "The store in %s is at %s. This promote would apply %s: %s. Nothing was changed.\n",
			where, rep.Was, plural(len(rep.Pending), "1 migration", fmt.Sprintf("%d migrations", len(rep.Pending))), strings.Join(rep.Pending, ", "))
	default:
		fmt.Fprintf(s.out, "Migrated the store in %s from %s to %s: applied %s.\n", where, rep.Was, rep.At, strings.Join(rep.Pending, ", "))
	}
	return nil
}

// recordedMigrations returns the migrations the store of cfg has
// recorded, read only: a store at known has them all.
func recordedMigrations(ctx context.Context, cfg serverConfig, known []string) ([]string, error) {
	var err error
	if cfg.Database != "" {
		var db *sqlstore.DB
		if db, err = postgres.OpenReadOnly(ctx, cfg.Database); err == nil {
			db.Close()
		}
	} else {
		var r *sqlite.Reader
		if r, err = sqlite.OpenReadOnly(ctx, cfg.Data); err == nil {
			r.Close()
		}
	}
	var se *sqlstore.SchemaError
	switch {
	case err == nil:
		return known, nil
	case errors.As(err, &se):
		return se.Applied, nil
	default:
		return nil, refused("read the migrations of the store in %s: %w", storeWhere(cfg), err)
	}
}

// applyMigrations opens the store of cfg, which applies pending, the
// migrations it has not recorded. Another set than pending (the store
// moved since it was read) is refused, as is a SQLite store a server runs
// on; the data directory is locked while it is migrated.
func applyMigrations(ctx context.Context, cfg serverConfig, pending []string) error {
	check := func(_, now []string) error {
		if !slices.Equal(now, pending) {
			return fmt.Errorf("the store's pending migrations changed while it was read (now %s): run the command again", strings.Join(now, ", "))
		}
		return nil
	}
	if cfg.Database != "" {
		db, err := postgres.OpenWith(ctx, cfg.Database, postgres.Options{MayMigrate: check})
		if err != nil {
			return refused("migrate %s: %w", storeWhere(cfg), err)
		}
		return db.Close()
	}
	if holder, ok := servedBy(cfg.Data); ok {
		return refused("the data directory %s is in use by promote serve (%s holds %s): stop the server, then migrate", cfg.Data, holder, filepath.Join(cfg.Data, lockFileName))
	}
	unlock, err := lockDataDir(cfg.Data)
	var inUse *dataDirInUseError
	if errors.As(err, &inUse) {
		return refused("the data directory %s is in use by promote serve (%s): stop the server, then migrate", cfg.Data, inUse.holder)
	}
	if err != nil {
		return refused("%w", err)
	}
	defer unlock()
	db, err := sqlite.OpenWith(ctx, cfg.Data, sqlite.Options{MayMigrate: check})
	if err != nil {
		return refused("migrate the store in %s: %w", cfg.Data, err)
	}
	return db.Close()
}

// storeWhere names the store of cfg in messages: its data directory, or
// its PostgreSQL database without the password.
func storeWhere(cfg serverConfig) string {
	if cfg.Database != "" {
		return "the PostgreSQL database " + redactDSN(cfg.Database)
	}
	return cfg.Data
}

// last returns the last of names, "" for none.
func last(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}
