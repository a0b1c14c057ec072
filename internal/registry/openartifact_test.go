package registry

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenArtifactStaysBeneathItsRoot: openArtifact opens the file at a
// path that localArtifact found beneath an artifact root, as it lies when
// opened: a directory on the path swapped since for a symbolic link that
// leads out of the root, or into the data directory, is not followed.
// Each path is given as localArtifact returned it before the swap.
func TestOpenArtifactStaysBeneathItsRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	data := filepath.Join(root, "promote-data")
	files := map[string]string{
		filepath.Join(root, "models", "model.bin"): "weights",
		filepath.Join(outside, "model.bin"):        "outside",
		filepath.Join(data, "model.bin"):           "private",
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"out": outside, "in-data": data, "models-link": filepath.Join(root, "models")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	tests := []struct {
		name, rel string
		read      string // the content read
		err       error  // or the error, and what its message says
		says      string
	}{
		{name: "file beneath the root", rel: filepath.Join("models", "model.bin"), read: "weights"},
		{name: "directory swapped for a link out of the root", rel: filepath.Join("out", "model.bin"),
			err: errReplaced, says: "directory out on its path was replaced while it was being opened; register it again"},
		{name: "directory swapped for a link into the data directory", rel: filepath.Join("in-data", "model.bin"),
			err: errReplaced, says: "directory in-data on its path was replaced"},
		{name: "directory swapped for a link within the root", rel: filepath.Join("models-link", "model.bin"),
			err: errReplaced, says: "directory models-link on its path was replaced"},
		{name: "the data directory itself", rel: filepath.Join("promote-data", "model.bin"), err: errPrivate, says: "in a private directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := openArtifact(artifactPath{root: root, rel: tt.rel}, []string{data})
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.says) {
					t.Errorf("openArtifact(%s, %s) = %v, want %v saying %q", root, tt.rel, err, tt.err, tt.says)
				}
				if f != nil {
					f.Close()
				}
				return
			}
			if err != nil {
				t.Fatalf("openArtifact(%s, %s) = %v, want it opened", root, tt.rel, err)
			}
			defer f.Close()
			if b, err := io.ReadAll(f); err != nil || string(b) != tt.read {
				t.Errorf("openArtifact(%s, %s) read %q, %v; want %q", root, tt.rel, b, err, tt.read)
			}
		})
	}
}
