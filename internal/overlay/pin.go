package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/promote"
)

// modelFile returns the model config file of model, relative to an overlay.
func modelFile(model string) string { return ModelsDir + "/" + model + ".env" }

// kustomization is an overlay's kustomization file, parsed with positions.
type kustomization struct {
	file string // on disk
	rel  string // relative to the repository, for messages
	src  []byte
	doc  *yaml.Node // the document node
	root *yaml.Node // its mapping
}

func readKustomization(dir, env string) (*kustomization, error) {
	od, err := overlayDir(dir, env)
	if err != nil {
		return nil, err
	}
	file, err := kustomizationFile(od)
	if err != nil {
		return nil, err
	}
	return readFileKustomization(file, OverlayPath(env)+"/"+filepath.Base(file))
}

// readFileKustomization reads and parses the kustomization file, rel its
// path in the repository, as errors name it.
func readFileKustomization(file, rel string) (*kustomization, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	k := &kustomization{file: file, rel: rel, src: src}
	if err := k.parse(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *kustomization) parse() error {
	var doc yaml.Node
	if err := yaml.Unmarshal(k.src, &doc); err != nil {
		return promote.Errorf(promote.Invalid, "%s: %v", k.rel, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return promote.Errorf(promote.Invalid, "%s: want a mapping (apiVersion, kind, resources, images…)", k.rel)
	}
	k.doc, k.root = &doc, doc.Content[0]
	return nil
}

// mapValue returns the value of key in mapping m, nil when it has none.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapKey returns the key node of key in mapping m, nil when it has none.
func mapKey(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}

// modelImage returns the images entry of model: the one whose name's last
// path element (without tag or digest) is the model's name.
func (k *kustomization) modelImage(model string) (*yaml.Node, error) {
	var found *yaml.Node
	if images := mapValue(k.root, "images"); images != nil && images.Kind == yaml.SequenceNode {
		for _, e := range images.Content {
			if path.Base(imageRepo(scalar(mapValue(e, "name")))) != model {
				continue
			}
			if found != nil {
				return nil, promote.Errorf(promote.Invalid, "%s: images entries at lines %d and %d both name model %s", k.rel, found.Line, e.Line, model)
			}
			found = e
		}
	}
	if found == nil {
		return nil, promote.Errorf(promote.Invalid, "%s: no images entry for model %s (the overlay must declare the model's image: an entry whose name ends in /%s; see docs/overlays.md)", k.rel, model, model)
	}
	return found, nil
}

// repository returns the image repository an images entry renders: its
// newName when it has one, else its name.
func repository(entry *yaml.Node) string {
	if n := scalar(mapValue(entry, "newName")); n != "" {
		return imageRepo(n)
	}
	return imageRepo(scalar(mapValue(entry, "name")))
}

// hasModelConfig reports whether a configMapGenerator entry reads model's
// config file.
func (k *kustomization) hasModelConfig(model string) bool {
	want := modelFile(model)
	gens := mapValue(k.root, "configMapGenerator")
	if gens == nil || gens.Kind != yaml.SequenceNode {
		return false
	}
	for _, g := range gens.Content {
		envs := mapValue(g, "envs")
		if envs == nil || envs.Kind != yaml.SequenceNode {
			continue
		}
		for _, e := range envs.Content {
			if path.Clean(scalar(e)) == want {
				return true
			}
		}
	}
	return false
}

// SetPin pins p in env's overlay in dir: it sets the digest of the model's
// images entry in the overlay's kustomization.yaml (removing a newTag, which
// the digest replaces) and writes the MODEL_NAME, MODEL_VERSION, MODEL_URI
// and MODEL_DIGEST lines of the overlay's models/<model>.env. It reports
// whether a file changed: pinning the pin an overlay has already changes
// nothing and returns false.
//
// The overlay must declare the model (an images entry whose name ends in
// /<model>, and a configMapGenerator entry with envs: [models/<model>.env]);
// SetPin writes values, never structure. Its edits are minimal and
// deterministic: the digest's text is replaced or one line inserted, and
// everything else in the file (comments, order, blank lines, quoting) stays
// byte for byte, so the same input always gives the same files. Bad input
// (a pin that fails Pin.Validate, an undeclared model) is an error with code
// Invalid and changes nothing.
func SetPin(dir, env string, p Pin) (changed bool, err error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	k, err := readKustomization(dir, env)
	if err != nil {
		return false, err
	}
	if _, err := k.modelImage(p.Model); err != nil {
		return false, err
	}
	if !k.hasModelConfig(p.Model) {
		return false, promote.Errorf(promote.Invalid, "%s: no configMapGenerator entry reads %s (add one with envs: [%s]; see docs/overlays.md)", k.rel, modelFile(p.Model), modelFile(p.Model))
	}
	newK, err := pinImage(k, p.Model, p.Digest)
	if err != nil {
		return false, err
	}
	od := filepath.Dir(k.file)
	envPath := filepath.Join(od, filepath.FromSlash(modelFile(p.Model)))
	oldEnv, err := os.ReadFile(envPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read model config: %w", err)
	}
	newEnv := editModelConfig(oldEnv, p, env)
	if !bytes.Equal(oldEnv, newEnv) {
		if err := writeFileAtomic(envPath, newEnv); err != nil {
			return false, fmt.Errorf("write model config: %w", err)
		}
		changed = true
	}
	if !bytes.Equal(k.src, newK) {
		if err := writeFileAtomic(k.file, newK); err != nil {
			return changed, fmt.Errorf("write overlay: %w", err)
		}
		changed = true
	}
	return changed, nil
}

// Pins reads every model pinned in env's overlay in dir: one per file
// models/<model>.env, keyed by model. It checks that each pin is valid, that
// the file's MODEL_NAME is its name, and that the overlay's images entry for
// the model carries the same digest; an overlay that disagrees with itself
// is an error (code Invalid) rather than a guess. A model the overlay
// declares but has not pinned yet (empty MODEL_VERSION, MODEL_URI and
// MODEL_DIGEST, its image tagged NotPromotedTag) has no pin. An overlay
// with no models directory has no pins.
func Pins(dir, env string) (map[string]Pin, error) {
	k, err := readKustomization(dir, env)
	if err != nil {
		return nil, err
	}
	pins, _, err := k.pins()
	return pins, err
}

// pins reads the overlay's pins and the image repository each model it
// declares renders: the pinned ones, and those not yet promoted there
// (see NotPromotedTag), which have a repository but no pin.
func (k *kustomization) pins() (map[string]Pin, map[string]string, error) {
	od := filepath.Dir(k.file)
	entries, err := os.ReadDir(filepath.Join(od, ModelsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Pin{}, map[string]string{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read pins: %w", err)
	}
	pins, repos := map[string]Pin{}, map[string]string{}
	overlay := path.Dir(k.rel)
	for _, e := range entries {
		model, ok := strings.CutSuffix(e.Name(), ".env")
		if e.IsDir() || !ok {
			continue
		}
		rel := overlay + "/" + modelFile(model)
		data, err := os.ReadFile(filepath.Join(od, ModelsDir, e.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("read pin: %w", err)
		}
		p, err := parseModelConfig(rel, data)
		if err != nil {
			return nil, nil, err
		}
		if p.Model != model {
			return nil, nil, promote.Errorf(promote.Invalid, "%s: %s is %q; want the file's name, %q", rel, KeyModelName, p.Model, model)
		}
		if p.notPromoted() {
			// Declared, not pinned yet: the images entry must say so too,
			// or the overlay would run an image nobody promoted.
			img, err := k.modelImage(model)
			if err != nil {
				return nil, nil, err
			}
			if d, tag := scalar(mapValue(img, "digest")), scalar(mapValue(img, "newTag")); d != "" || tag != NotPromotedTag {
				return nil, nil, promote.Errorf(promote.Invalid, "%s has empty %s, %s and %s (not yet promoted) but its images entry (line %d) has digest %q and newTag %q; want no digest and newTag: %s", rel, KeyModelVersion, KeyModelURI, KeyModelDigest, img.Line, d, tag, NotPromotedTag)
			}
			if !k.hasModelConfig(model) {
				return nil, nil, promote.Errorf(promote.Invalid, "%s: no configMapGenerator entry reads %s", k.rel, modelFile(model))
			}
			repos[model] = repository(img)
			continue
		}
		if err := p.Validate(); err != nil {
			return nil, nil, promote.Errorf(promote.Invalid, "%s: %v", rel, err)
		}
		img, err := k.modelImage(model)
		if err != nil {
			return nil, nil, err
		}
		if d := scalar(mapValue(img, "digest")); d != p.Digest {
			return nil, nil, promote.Errorf(promote.Invalid, "%s pins %s at %s but its images entry (line %d) has digest %q", rel, model, p.Digest, img.Line, d)
		}
		if !k.hasModelConfig(model) {
			return nil, nil, promote.Errorf(promote.Invalid, "%s: no configMapGenerator entry reads %s", k.rel, modelFile(model))
		}
		pins[model], repos[model] = p, repository(img)
	}
	return pins, repos, nil
}

// parseModelConfig reads a model config file with kustomize's env-file
// rules: KEY=VALUE lines, blank lines and # comments, leading space ignored.
// The MODEL_* keys must each appear once; other keys are the user's.
func parseModelConfig(rel string, data []byte) (Pin, error) {
	var p Pin
	seen := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(strings.TrimLeftFunc(line, unicode.IsSpace), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		if !slices.Contains(pinKeys, key) {
			continue
		}
		if first, dup := seen[key]; dup {
			return p, promote.Errorf(promote.Invalid, "%s:%d: %s set twice (first at line %d)", rel, i+1, key, first)
		}
		seen[key] = i + 1
		switch key {
		case KeyModelName:
			p.Model = value
		case KeyModelVersion:
			p.Version = value
		case KeyModelURI:
			p.URI = value
		case KeyModelDigest:
			p.Digest = value
		}
	}
	for _, key := range pinKeys {
		if _, ok := seen[key]; !ok {
			return p, promote.Errorf(promote.Invalid, "%s: %s is missing", rel, key)
		}
	}
	return p, nil
}

// notPromoted reports whether p is what a model config holds before the
// model's first promotion to the overlay: a name and nothing else.
func (p Pin) notPromoted() bool { return p.Version == "" && p.URI == "" && p.Digest == "" }

// editModelConfig returns the model config file old with p pinned in it:
// each MODEL_* line rewritten in place (a repeated one dropped), missing
// ones appended, every other line kept. A new file (old nil) gets a header.
func editModelConfig(old []byte, p Pin, env string) []byte {
	values := map[string]string{KeyModelName: p.Model, KeyModelVersion: p.Version, KeyModelURI: p.URI, KeyModelDigest: p.Digest}
	var b strings.Builder
	if old == nil {
		fmt.Fprintf(&b, "# The version of %s that %s runs, read into the model's ConfigMap.\n", p.Model, env)
		b.WriteString("# Promote rewrites the MODEL_* lines on every promotion and rollback.\n")
	}
	written := map[string]bool{}
	text := string(old)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	for line := range strings.Lines(text) {
		body := strings.TrimRight(strings.TrimLeftFunc(line, unicode.IsSpace), "\r\n")
		key, _, _ := strings.Cut(body, "=")
		switch {
		case body == "" || body[0] == '#' || !slices.Contains(pinKeys, key):
			b.WriteString(line)
		case !written[key]:
			b.WriteString(key + "=" + values[key] + "\n")
			written[key] = true
		}
	}
	for _, key := range pinKeys {
		if !written[key] {
			b.WriteString(key + "=" + values[key] + "\n")
		}
	}
	return []byte(b.String())
}
