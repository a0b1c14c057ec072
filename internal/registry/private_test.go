package registry_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// TestPrivateDirectoryNotHashed: a submitter cannot have the server hash
// the files of its data directory (the database, the clones), although
// the artifact root holds it, as the default root, the working directory,
// does; a file beside it is hashed as before.
func TestPrivateDirectoryNotHashed(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	data := filepath.Join(root, "promote-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	svc := registrytest.Load(t, pipelineYAML, policyYAML).New(t, registrytest.SQLite(t, t.TempDir()),
		registry.Config{ArtifactRoots: []string{root}, Private: []string{data}})
	if _, err := svc.CreateModel(ctx, submitter, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(data, "promote.db")
	beside := filepath.Join(root, "model.bin")
	link := filepath.Join(root, "link.bin")
	for _, p := range []string{secret, beside} {
		if err := os.WriteFile(p, []byte("bytes of "+p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	for i, uri := range []string{"file://" + secret, secret, "file://" + link} {
		_, err := svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: "credit-risk", Version: string(rune('1' + i)), ArtifactURI: uri,
			Metrics: []byte(`{"accuracy": 0.9}`)})
		if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "digest is required") {
			t.Errorf("register %s = %v, want Invalid: digest is required", uri, err)
		}
	}
	// Beside the data directory, the server hashes the file.
	v, err := svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: "credit-risk", Version: "9", ArtifactURI: "file://" + beside,
		Metrics: []byte(`{"accuracy": 0.9}`)})
	want := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("bytes of "+beside)))
	if err != nil || v.Digest != want {
		t.Errorf("register %s = %q, %v; want it hashed: %s", beside, v.Digest, err, want)
	}
}
