package sqlstore

import (
	"testing"

	"github.com/promote-ml/promote/promote"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		numbered bool
		query    string
		want     string
	}{
		{false, "SELECT 1 FROM t WHERE a = ? AND b = ?", "SELECT 1 FROM t WHERE a = ? AND b = ?"},
		{true, "SELECT 1 FROM t WHERE a = ? AND b = ?", "SELECT 1 FROM t WHERE a = $1 AND b = $2"},
		{true, "SELECT 1", "SELECT 1"},
		{true, "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	}
	for _, tt := range tests {
		db := &DB{dialect: Dialect{NumberedPlaceholders: tt.numbered}}
		for range 2 { // the second time from the cache
			if got := db.rebind(tt.query); got != tt.want {
				t.Errorf("rebind(%q) = %q, want %q", tt.query, got, tt.want)
			}
		}
	}
}

func TestLimit(t *testing.T) {
	tests := []struct {
		in, want int
		code     promote.Code
	}{
		{0, promote.DefaultLimit, ""},
		{1, 1, ""},
		{1000, 1000, ""},
		{1001, 1000, ""},
		{-1, 0, promote.Invalid},
	}
	for _, tt := range tests {
		got, err := limit(tt.in)
		if got != tt.want || promote.ErrorCode(err) != tt.code {
			t.Errorf("limit(%d) = %d, %v; want %d, code %q", tt.in, got, err, tt.want, tt.code)
		}
	}
}
