package httpapi

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/api.md from the OpenAPI document")

// TestAPIReference keeps docs/api.md equal to what the OpenAPI document
// renders.
func TestAPIReference(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	const path = "../../docs/api.md"
	if *updateDocs {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/httpapi -run TestAPIReference -update)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("docs/api.md is out of date (run go test ./internal/httpapi -run TestAPIReference -update):\n%s", diff)
	}
	for _, want := range []string{"### `POST /api/v1/promotions`", "### `GET /api/v1/audit/verify`", "| `digest` |"} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("docs/api.md lacks %q", want)
		}
	}
}
