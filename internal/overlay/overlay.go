// Package overlay manages a GitOps repository's Kustomize overlays on disk:
// it scaffolds a working repository (promote.yaml, policies, deploy/base and
// one overlay per environment), renders an environment's overlay in-process
// with the kustomize API and validates the result, pins a model version in an
// overlay (its image by digest and its config: URI, version, digest), reads
// the pins back, and checks that environments stay in parity. It works on a
// directory, such as a Git worktree; committing and pushing belong to the
// caller.
//
// The layout is the one the seed's Example 4 describes:
//
//	deploy/base/                    the template every environment starts from
//	deploy/components/values/       copies values.yaml into the manifests
//	deploy/overlays/<env>/
//	  kustomization.yaml            the base, values.yaml and the model pin
//	  values.yaml                   what differs in this environment
//	  models/<model>.env            the pinned model's config
package overlay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/promote-ml/promote/promote"
)

// Paths of the layout, relative to the repository directory, slash-separated.
const (
	BaseDir     = "deploy/base"
	OverlaysDir = "deploy/overlays"
	// ModelsDir is where an overlay keeps its pinned models' config files,
	// relative to the overlay.
	ModelsDir = "models"
)

// The keys of a model config file (models/<model>.env). Promote owns these
// keys; any other line of the file is kept as it is.
const (
	KeyModelName    = "MODEL_NAME"
	KeyModelVersion = "MODEL_VERSION"
	KeyModelURI     = "MODEL_URI"
	KeyModelDigest  = "MODEL_DIGEST"
)

// pinKeys lists the model config keys in the order they are written.
var pinKeys = []string{KeyModelName, KeyModelVersion, KeyModelURI, KeyModelDigest}

// Pin is what an environment runs of a model: the version, its artifact's
// URI and its sha256 digest ("sha256:" and 64 lowercase hex digits).
type Pin struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	URI     string `json:"uri"`
	Digest  string `json:"digest"`
}

// maxURILen bounds a pinned artifact URI.
const maxURILen = 4096

// Validate checks the pin's fields: the model and version are names
// (promote.ValidateName), the digest is "sha256:" and 64 lowercase hex
// digits, and the URI is non-empty with no spaces or control characters, so
// that it fits on one line of an env file. The error has code Invalid.
func (p Pin) Validate() error {
	if err := promote.ValidateName("model name", p.Model); err != nil {
		return err
	}
	if err := promote.ValidateName("version", p.Version); err != nil {
		return err
	}
	if err := ValidateDigest(p.Digest); err != nil {
		return err
	}
	switch {
	case p.URI == "":
		return promote.Errorf(promote.Invalid, "artifact URI of %s %s is empty", p.Model, p.Version)
	case len(p.URI) > maxURILen:
		return promote.Errorf(promote.Invalid, "artifact URI of %s %s is %d bytes long; at most %d", p.Model, p.Version, len(p.URI), maxURILen)
	}
	for _, c := range p.URI {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == unicode.ReplacementChar {
			return promote.Errorf(promote.Invalid, "artifact URI %q of %s %s contains a space or control character", p.URI, p.Model, p.Version)
		}
	}
	return nil
}

// ValidateDigest checks that d is "sha256:" followed by 64 lowercase hex
// digits. The error has code Invalid.
func ValidateDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 || strings.IndexFunc(hex, func(c rune) bool { return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') }) >= 0 {
		return promote.Errorf(promote.Invalid, "digest %q: want sha256: and 64 lowercase hex digits", d)
	}
	return nil
}

// OverlayPath returns the overlay directory of env, relative to the
// repository and slash-separated: deploy/overlays/<env>.
func OverlayPath(env string) string { return OverlaysDir + "/" + env }

// overlayDir checks env and returns the overlay's directory on disk.
func overlayDir(dir, env string) (string, error) {
	if err := promote.ValidateName("environment name", env); err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(OverlayPath(env))), nil
}

// Environments lists the environments that have an overlay in dir (the
// directories under deploy/overlays), sorted by name.
func Environments(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(OverlaysDir)))
	if err != nil {
		return nil, fmt.Errorf("list overlays: %w", err)
	}
	var envs []string
	for _, e := range entries {
		if e.IsDir() && promote.ValidateName("environment name", e.Name()) == nil {
			envs = append(envs, e.Name())
		}
	}
	return envs, nil
}

// kustomizationNames are the file names kustomize accepts, in its order of
// preference.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizationFile returns the kustomization file of the directory d.
func kustomizationFile(d string) (string, error) {
	for _, name := range kustomizationNames {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat(d); err != nil {
		return "", promote.Errorf(promote.NotFound, "overlay %s does not exist", d)
	}
	return "", promote.Errorf(promote.NotFound, "%s has no kustomization.yaml", d)
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory, so that a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := firstErr(werr, cerr, os.Chmod(tmp, mode)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// imageRepo returns an image reference without its tag and digest.
func imageRepo(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	// A colon after the last slash starts a tag; one before it belongs to a
	// registry host's port.
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// imageDigest returns the digest of an image reference, "" when it has none.
func imageDigest(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	return ""
}
