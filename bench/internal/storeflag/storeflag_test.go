package storeflag

import (
	"flag"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// parse defines the flags on a new flag set and parses args.
func parse(t *testing.T, args ...string) *Store {
	t.Helper()
	fl := flag.NewFlagSet("seed", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	s := Add(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return s
}

func TestOpenRefusesNoneOrBoth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{nil, {"-data", dir, "-database", "postgres://localhost/promote"}} {
		store, err := parse(t, args...).Open(t.Context())
		if err == nil {
			store.Close()
		}
		if err == nil || err.Error() != "give one of -data and -database" {
			t.Errorf("Open with %q = %v, want an error asking for one of -data and -database", args, err)
		}
	}
}

// TestOpenStore opens each kind of store the flags name, writes a model
// and finds it again through a second Open of the same flags.
func TestOpenStore(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"data", func(t *testing.T) []string { return []string{"-data", filepath.Join(t.TempDir(), "data")} }},
		{"database", func(t *testing.T) []string { return []string{"-database", storetest.PostgresDSN(t)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args(t)
			open := func() promote.Store {
				store, err := parse(t, args...).Open(t.Context())
				if err != nil {
					t.Fatalf("Open(%q): %v", args, err)
				}
				return store
			}
			first := open()
			err := first.Update(t.Context(), func(tx promote.Tx) error {
				_, err := tx.CreateModel(promote.Model{Name: "fraud", CreatedBy: "seed", CreatedAt: time.Unix(1700000000, 0).UTC()})
				return err
			})
			first.Close()
			if err != nil {
				t.Fatal(err)
			}
			second := open()
			defer second.Close()
			var got promote.Model
			if err := second.View(t.Context(), func(tx promote.Tx) (err error) { got, err = tx.Model("fraud"); return err }); err != nil {
				t.Fatalf("Model(fraud) in the store opened again: %v", err)
			}
			if got.CreatedBy != "seed" {
				t.Errorf("Model(fraud).CreatedBy = %q, want seed", got.CreatedBy)
			}
		})
	}
}
