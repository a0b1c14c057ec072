// Package storeflag defines the flags with which the bench's seeding
// commands name the store they fill: -data, a SQLite data directory, or
// -database, a PostgreSQL DSN.
package storeflag

import (
	"context"
	"errors"
	"flag"

	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/promote"
)

// Store is the store that a command's -data or -database flag names.
type Store struct {
	data, database string
}

// Add defines -data and -database on fl and returns the Store they are
// parsed into.
func Add(fl *flag.FlagSet) *Store {
	s := new(Store)
	fl.StringVar(&s.data, "data", "", "SQLite data `DIR`")
	fl.StringVar(&s.database, "database", "", "PostgreSQL `DSN` instead of -data")
	return s
}

// Open opens the store that the flags name; exactly one of them must be
// given.
func (s *Store) Open(ctx context.Context) (promote.Store, error) {
	switch {
	case (s.data == "") == (s.database == ""):
		return nil, errors.New("give one of -data and -database")
	case s.database != "":
		return postgres.Open(ctx, s.database)
	default:
		return sqlite.Open(ctx, s.data)
	}
}
