package storetest

import (
	"bufio"
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// RunActorBackfill checks the UPDATE of migration 0007 (file, the dialect's
// migration) that copies each stored audit event's actor from its body into
// the indexed column: events are appended through the store, the column is
// emptied through the raw connection as it was before the migration, the
// statement runs, and the actor filter finds every event again.
func RunActorBackfill(t *testing.T, file string, open func(t *testing.T) (promote.Store, *sql.DB)) {
	ctx := t.Context()
	update := migrationStatement(t, file, "UPDATE audit_events")
	s, db := open(t)
	actors := []string{"alice", "bob", "alice", "root", "bob", "alice"}
	if err := s.Update(ctx, func(tx promote.Tx) error {
		for i, a := range actors {
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: at(i), Actor: a, Action: promote.ActionModelCreated, Model: "fraud"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	exec(ctx, t, db, "UPDATE audit_events SET actor = ''")
	bySeq := func() []int64 {
		var seqs []int64
		view(t, s, func(tx promote.Tx) error {
			evs, err := tx.AuditEvents(promote.AuditFilter{Actor: "alice"})
			for _, e := range evs {
				seqs = append(seqs, e.Seq)
			}
			return err
		})
		return seqs
	}
	if got := bySeq(); len(got) != 0 {
		t.Fatalf("with the column emptied, the filter found %v", got)
	}
	exec(ctx, t, db, update)
	if diff := cmp.Diff([]int64{6, 3, 1}, bySeq()); diff != "" {
		t.Errorf("alice's events after the backfill (-want +got):\n%s", diff)
	}
}

// migrationStatement returns the statement of a migration file that starts
// with prefix, up to its semicolon.
func migrationStatement(t *testing.T, file, prefix string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stmt strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if stmt.Len() == 0 && !strings.HasPrefix(line, prefix) {
			continue
		}
		stmt.WriteString(line + " ")
		if strings.HasSuffix(line, ";") {
			return strings.TrimSuffix(strings.TrimSpace(stmt.String()), ";")
		}
	}
	t.Fatalf("%s has no statement starting %q", file, prefix)
	return ""
}
