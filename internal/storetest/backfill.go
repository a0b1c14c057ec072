package storetest

import (
	"bufio"
	"database/sql"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
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

// RunAuditTimeUpgrade checks migration 0013 (name, its file's name), the
// indexed copy of each audit event's time, on a database at schema 0012
// that holds events: open returns a function that opens a store on one
// database, migrating it, and a raw connection to it; down are the
// dialect's statements that take the schema back from 0013 to 0012. Events
// with times of every shape the body can hold (whole seconds, fractions
// trimmed of their zeros, before 1970, the zero time) are appended; the
// schema is taken back to 0012 (down, and the migration unrecorded) and
// the store opened again, which applies 0013 to the rows present. Every copy must then be the body's time to the nanosecond:
// verification, which checks each against its body, passes, the column
// holds the expected integers, and the time filter finds the events.
func RunAuditTimeUpgrade(t *testing.T, name string, down []string, open func(t *testing.T) (func(t *testing.T) promote.Store, *sql.DB)) {
	ctx := t.Context()
	reopen, db := open(t)
	s := reopen(t)
	times := []time.Time{
		time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 1, 9, 30, 15, 500_000_000, time.UTC),
		time.Date(2026, 11, 2, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 11, 3, 8, 0, 0, 1, time.FixedZone("CET", 3600)),
		time.Date(2026, 11, 3, 8, 0, 0, 120_000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 250_000_000, time.UTC),
		{},
		time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	update(t, s, func(tx promote.Tx) error {
		for _, at := range times {
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: at, Actor: "alice", Action: promote.ActionModelCreated, Model: "fraud"}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, stmt := range down {
		exec(ctx, t, db, stmt)
	}
	exec(ctx, t, db, "DELETE FROM schema_migrations WHERE name = $1", name)

	s = reopen(t)
	res, err := audit.Verify(ctx, s)
	if err != nil || !res.OK || res.Events != int64(len(times)) {
		t.Fatalf("audit.Verify after migration %s = %+v %+v, %v; want OK with %d events", name, res, res.Broken, err, len(times))
	}
	var want, got []int64
	for _, at := range times {
		n := int64(math.MinInt64)
		if !at.IsZero() {
			n = at.UnixNano()
		}
		want = append(want, n)
	}
	rows, err := db.QueryContext(ctx, "SELECT at FROM audit_events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit_events.at after migration %s (-want +got):\n%s", name, diff)
	}
	for _, c := range []struct {
		f    promote.AuditFilter
		want []int64
	}{
		{promote.AuditFilter{Since: times[1], Until: times[3]}, []int64{3, 2}},
		{promote.AuditFilter{Since: times[3]}, []int64{8, 5, 4}},
		{promote.AuditFilter{Until: times[0]}, []int64{7, 6}},
		{promote.AuditFilter{Since: times[2].Add(time.Nanosecond), Until: times[4]}, []int64{4}},
	} {
		var seqs []int64
		view(t, s, func(tx promote.Tx) error {
			evs, err := tx.AuditEvents(c.f)
			for _, e := range evs {
				seqs = append(seqs, e.Seq)
			}
			return err
		})
		if diff := cmp.Diff(c.want, seqs); diff != "" {
			t.Errorf("AuditEvents(since %v, until %v) after migration %s (-want +got):\n%s", c.f.Since, c.f.Until, name, diff)
		}
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
