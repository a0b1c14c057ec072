package cli

import (
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://promote:s3cret@db/promote", "postgres://promote:xxxxx@db/promote"},
		{"postgres://promote:s3@cret@db:5432/promote?sslmode=require", "postgres://promote:xxxxx@db:5432/promote?sslmode=require"},
		{"postgres://promote@db/promote", "postgres://promote@db/promote"},
		{"postgres://promote@db/promote?password=s3cret&sslmode=require", "postgres://promote@db/promote?password=xxxxx&sslmode=require"},
		{"postgresql://db/promote?user=promote&Password=s3cret", "postgresql://db/promote?user=promote&Password=xxxxx"},
		{"postgres://promote:s3cret@db/promote?sslpassword=k3y", "postgres://promote:xxxxx@db/promote?sslpassword=xxxxx"},
		{"postgres://db/promote?pass%77ord=s3cret", "postgres://db/promote?pass%77ord=xxxxx"},
		{"host=db user=promote password=s3cret dbname=promote", "(not shown: not a URL)"},
	}
	for _, tc := range tests {
		if got := redactDSN(tc.dsn); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

// TestValidateHidesDSNPassword checks that the error for a DSN that is not
// a URL, printed at start, does not carry its password.
func TestValidateHidesDSNPassword(t *testing.T) {
	for _, dsn := range []string{"host=db user=promote password=s3cret", "mysql://promote:s3cret@db/promote?password=s3cret"} {
		c := defaultServerConfig()
		c.Database, c.Pipeline = dsn, "promote.yaml"
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), "--database") {
			t.Fatalf("validate() with --database %q = %v, want an error about --database", dsn, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("validate() with --database %q = %q: it shows the password", dsn, err)
		}
	}
}
