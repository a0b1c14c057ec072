package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/promote"
)

// A full disk (here, the database at its page bound) makes a write fail as
// the database being unavailable — a 503 for the API, not an internal
// error — and the transaction changes nothing: what was written before
// stays, reads go on, and the audit chain verifies.
func TestFullDatabaseIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+dir+"/"+FileName)
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := raw.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err = OpenWith(ctx, dir, Options{maxPages: pages + 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	reasons, _ := json.Marshal([]string{strings.Repeat("a reason long enough to fill pages ", 60)})
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	appended := 0
	var full error
	for i := range 500 {
		err := db.Update(ctx, func(tx promote.Tx) error {
			_, err := tx.AppendAudit(promote.AuditEvent{Time: at.Add(time.Duration(i) * time.Second), Actor: "ci",
				Action: promote.ActionHoldSet, Reasons: reasons})
			return err
		})
		if err != nil {
			full = err
			break
		}
		appended++
	}
	if full == nil {
		t.Fatalf("500 appends fitted in %d pages: the bound did not apply", pages+4)
	}
	if !errors.Is(full, promote.ErrUnavailable) || !strings.Contains(full.Error(), "full") {
		t.Fatalf("a write to a full database = %v, want promote.ErrUnavailable saying it is full", full)
	}
	if appended == 0 {
		t.Fatal("no append fitted before the bound: the test shows nothing about what stays")
	}
	var events []promote.AuditEvent
	if err := db.View(ctx, func(tx promote.Tx) (err error) {
		events, err = tx.AuditEvents(promote.AuditFilter{Limit: 1000})
		return err
	}); err != nil || len(events) != appended {
		t.Errorf("after the full write: %d events, %v; want the %d appended before", len(events), err, appended)
	}
	if res, err := audit.Verify(ctx, db); err != nil || !res.OK {
		t.Errorf("audit.Verify after the full write = %+v, %v", res, err)
	}
}

// A damaged page fails the reads that reach it with an error that names
// the database file and says to restore a backup: SQLite's own message
// ("database disk image is malformed") names neither.
func TestDamagedDatabaseNamesItsFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	reasons, _ := json.Marshal([]string{strings.Repeat("a reason long enough to fill pages ", 20)})
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := db.Update(ctx, func(tx promote.Tx) error {
		for i := range 2000 {
			if _, err := tx.AppendAudit(promote.AuditEvent{Time: at.Add(time.Duration(i) * time.Second), Actor: "ci",
				Action: promote.ActionHoldSet, Reasons: reasons}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints the log into promote.db
	path := filepath.Join(dir, FileName)
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var root int
	err = raw.QueryRow("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'").Scan(&root)
	raw.Close()
	if err != nil || root < 2 {
		t.Fatalf("the audit table's root page = %d, %v", root, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The audit table's root page, which every read of the table starts
	// from, gets a page type that does not exist: SQLite finds it damaged.
	const page = 4096
	if len(data) < root*page {
		t.Fatalf("the database has %d bytes, less than its page %d", len(data), root)
	}
	data[(root-1)*page] = 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open of a database damaged in its middle: %v (its first page is whole, so it opens)", err)
	}
	defer db.Close()
	_, err = audit.Verify(ctx, db)
	if err == nil || !strings.Contains(err.Error(), path+" is damaged") || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Fatalf("audit.Verify of a damaged database = %v, want an error naming %s and saying to restore a backup", err, path)
	}
}
