package overlay

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/promote"
)

//go:embed addmodel/component.yaml.tmpl
var addModelFS embed.FS

// NotPromotedTag is the tag of a model's images entry in an overlay that
// declares the model but has not pinned a version of it yet. Its model
// config has MODEL_NAME and empty MODEL_VERSION, MODEL_URI and
// MODEL_DIGEST. The tag names no image, so a cluster that applies the
// overlay runs nothing of the model (its pods wait for an image that does
// not exist) rather than whatever :latest is; the first promotion replaces
// the tag with the digest, as it replaces any newTag.
const NotPromotedTag = "not-promoted"

// WorkloadPrefix starts the name of the Deployment and Service of a model
// that AddModel adds: WorkloadPrefix + the model's name.
const WorkloadPrefix = FirstWorkload + "-"

// AddModelOptions configures AddModel.
type AddModelOptions struct {
	// Model is the model's name: a DNS label (lowercase letters, digits and
	// '-'), since it names the model's Deployment and Service.
	Model string
	// ModelImage is the repository of the model's OCI image, without tag
	// or digest, ending in /<model> (the default registry path with the
	// model's name when empty).
	ModelImage string
	// ServerImage is the model server's image, pinned by digest (the image
	// of the server container of the first model's Deployment, when empty).
	ServerImage string
	// Environments are the pipeline's environments in its order, when the
	// caller has the pipeline: the overlays are edited, rendered and listed
	// in that order, and an overlay the pipeline does not name after them.
	// Each must have its overlay under OverlaysDir. Empty: every overlay,
	// in name order.
	Environments []string
}

// AddedModel is what AddModel added to a repository.
type AddedModel struct {
	// Files are the files it wrote or changed, slash-separated: those of
	// the base and the component sorted, then each overlay's, in the
	// order of Environments.
	Files []string
	// Environments are the overlays' environments, each of which now
	// declares the model, in the order of AddModelOptions.Environments and
	// those it does not name after them, in name order.
	Environments []string
}

// dnsLabel is what Kubernetes accepts as a Service's or Deployment's name.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// MaxModelNameLen bounds the name of a model in the overlays: its
// Deployment's name, WorkloadPrefix and the model's, is a DNS label, at
// most 63 characters.
const MaxModelNameLen = 63 - len(WorkloadPrefix)

// ValidateModelName checks the name of a model that the overlays deploy,
// for Scaffold and AddModel: a name the registry takes (promote.
// ValidateName) that is also a DNS label (RFC 1123) of at most
// MaxModelNameLen characters, since it is in the overlays' Kubernetes
// names: the ConfigMap model-<model>, and the Deployment and Service
// WorkloadPrefix+<model> of a model AddModel adds. The registry's own rule
// takes upper case, '.' and '_', which Kubernetes refuses, and would let
// such a name through to a render or an apply that fails later.
func ValidateModelName(m string) error {
	if err := promote.ValidateName("model name", m); err != nil {
		return err
	}
	if !dnsLabel.MatchString(m) || len(m) > MaxModelNameLen {
		return promote.Errorf(promote.Invalid, "model name %q: it names Kubernetes objects in the overlays (the ConfigMap model-%[1]s, the Deployment %[2]s%[1]s), "+
			"so it must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most %[3]d characters", m, WorkloadPrefix, MaxModelNameLen)
	}
	return nil
}

// AddModel adds a model to the repository in dir that Scaffold wrote: the
// model's Deployment and Service in deploy/base (from the templates of the
// first model's), its model-<model> ConfigMap generator there, a component
// deploy/components/model-<model> that copies values.yaml's replicas and
// resources into its Deployment, and, in every overlay under
// deploy/overlays, the component, an images entry tagged NotPromotedTag, a
// configMapGenerator entry for models/<model>.env and that file, with
// empty MODEL_VERSION, MODEL_URI and MODEL_DIGEST: the model is declared
// but not yet promoted there, and its first promotion pins it (SetPin).
//
// It edits copies first and renders deploy/base and every overlay with
// kustomize; only when all render does it write, and it returns what it
// added (AddedModel): the files it wrote or changed and the overlays'
// environments in the order it took them. Bad input (a name that
// is not a DNS label, a bad image), a model the repository has already, a
// directory without the scaffold, or an overlay that does not render is an
// error naming what is wrong, and changes nothing.
func AddModel(dir string, opts AddModelOptions) (AddedModel, error) {
	m := opts.Model
	if err := ValidateModelName(m); err != nil {
		return AddedModel{}, err
	}
	baseFile, err := kustomizationFile(filepath.Join(dir, filepath.FromSlash(BaseDir)))
	if err != nil {
		return AddedModel{}, promote.Errorf(promote.NotFound, "%s has no %s/kustomization.yaml: add a model to a repository that promote init wrote", dir, BaseDir)
	}
	overlays, err := Environments(dir)
	if err != nil || len(overlays) == 0 {
		return AddedModel{}, promote.Errorf(promote.NotFound, "%s has no overlays under %s: add a model to a repository that promote init wrote", dir, OverlaysDir)
	}
	envs, err := InOrder(overlays, opts.Environments)
	if err != nil {
		return AddedModel{}, err
	}
	if opts.ModelImage == "" {
		opts.ModelImage = path.Dir(DefaultModelImage) + "/" + m
	}
	if opts.ServerImage == "" {
		if opts.ServerImage, err = firstServerImage(dir); err != nil {
			return AddedModel{}, err
		}
	}
	sopts := ScaffoldOptions{Pin: Pin{Model: m, Version: "1", URI: "none", Digest: DefaultPin.Digest}, ModelImage: opts.ModelImage, ServerImage: opts.ServerImage}
	if err := sopts.defaults(); err != nil {
		return AddedModel{}, err
	}
	files, edits, err := addModelFiles(dir, baseFile, envs, sopts)
	if err != nil {
		return AddedModel{}, err
	}
	var exist []string
	for name := range files {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
			exist = append(exist, name)
		}
	}
	if len(exist) > 0 {
		slices.Sort(exist)
		return AddedModel{}, promote.Errorf(promote.Conflict, "model %s: %s already has %s", m, dir, strings.Join(exist, ", "))
	}
	// Render the result in a copy of deploy/ before touching the repository.
	tmp, err := os.MkdirTemp("", "promote-add-model-")
	if err != nil {
		return AddedModel{}, fmt.Errorf("add model: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(filepath.Join(tmp, "deploy"), os.DirFS(filepath.Join(dir, "deploy"))); err != nil {
		return AddedModel{}, fmt.Errorf("add model: copy deploy: %w", err)
	}
	if err := writeAll(tmp, files, edits); err != nil {
		return AddedModel{}, fmt.Errorf("add model: %w", err)
	}
	if _, err := renderBase(tmp); err != nil {
		return AddedModel{}, fmt.Errorf("model %s: nothing written: %w", m, err)
	}
	for _, env := range envs {
		if _, err := renderOverlay(tmp, env); err != nil {
			return AddedModel{}, fmt.Errorf("model %s: nothing written: %w", m, err)
		}
	}
	if err := writeAll(dir, files, edits); err != nil {
		return AddedModel{}, fmt.Errorf("add model: %w", err)
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	for name := range edits {
		names = append(names, name)
	}
	// The base's and the component's first, then the overlays' in envs'
	// order: an overlay's files sort under OverlaysDir, after the others.
	rank := func(name string) int {
		for i, env := range envs {
			if strings.HasPrefix(name, OverlayPath(env)+"/") {
				return i + 1
			}
		}
		return 0
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	return AddedModel{Files: names, Environments: envs}, nil
}

// InOrder returns the overlays in the order of the environments that
// order names, and those it does not name after them, in name order. An
// environment of order without an overlay is NotFound: the model would
// not be declared there, and its first promotion there would fail.
func InOrder(overlays, order []string) ([]string, error) {
	out := make([]string, 0, len(overlays))
	for _, env := range order {
		if !slices.Contains(overlays, env) {
			return nil, promote.Errorf(promote.NotFound, "environment %s of the pipeline has no overlay %s: add it, or take it out of the pipeline, before adding a model", env, OverlayPath(env))
		}
		if !slices.Contains(out, env) {
			out = append(out, env)
		}
	}
	rest := slices.DeleteFunc(slices.Clone(overlays), func(env string) bool { return slices.Contains(out, env) })
	slices.Sort(rest)
	return append(out, rest...), nil
}

// writeAll writes the new files (never over an existing one) and the
// edited ones into dir.
func writeAll(dir string, files, edits map[string][]byte) error {
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeNew(p, files[name], false); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(edits) {
		if err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(name)), edits[name]); err != nil {
			return err
		}
	}
	return nil
}

// firstServerImage returns the image of the server container of the first
// model's Deployment, as deploy/base renders it.
func firstServerImage(dir string) (string, error) {
	docs, err := renderBase(dir)
	if err != nil {
		return "", err
	}
	for _, r := range docs {
		if r.Kind != "Deployment" || r.Name != FirstWorkload {
			continue
		}
		for _, c := range containers(r) {
			if c.Name == "server" {
				return c.Image, nil
			}
		}
	}
	return "", promote.Errorf(promote.Invalid, "%s has no Deployment %s with a container named server to take the server image from; name the image with --server-image", BaseDir, FirstWorkload)
}

// addModelFiles returns the new files and the edited kustomizations of
// adding opts.Pin.Model, by path relative to dir, with baseFile the base's
// kustomization file. A model that the base or an overlay declares
// already is an error.
func addModelFiles(dir, baseFile string, envs []string, opts ScaffoldOptions) (files, edits map[string][]byte, err error) {
	m := opts.Pin.Model
	data := scaffoldData{ScaffoldOptions: opts, Workload: WorkloadPrefix + m}
	files = map[string][]byte{}
	deployment, service := "model-"+m+"-deployment.yaml", "model-"+m+"-service.yaml"
	component := "deploy/components/model-" + m
	for src, dst := range map[string]string{
		"scaffold/deploy/base/model-deployment.yaml.tmpl": BaseDir + "/" + deployment,
		"scaffold/deploy/base/model-service.yaml.tmpl":    BaseDir + "/" + service,
		"addmodel/component.yaml.tmpl":                    component + "/kustomization.yaml",
	} {
		fsys := fs.FS(scaffoldFS)
		if strings.HasPrefix(src, "addmodel/") {
			fsys = addModelFS
		}
		text, err := execTemplate(fsys, src, data)
		if err != nil {
			return nil, nil, err
		}
		files[dst] = text
	}

	edits = map[string][]byte{}
	base, err := readFileKustomization(baseFile, BaseDir+"/"+filepath.Base(baseFile))
	if err != nil {
		return nil, nil, err
	}
	if gens := mapValue(base.root, "configMapGenerator"); gens != nil {
		for _, g := range gens.Content {
			if scalar(mapValue(g, "name")) == "model-"+m {
				return nil, nil, promote.Errorf(promote.Conflict, "model %s: %s has a configMapGenerator model-%s already (line %d)", m, base.rel, m, g.Line)
			}
		}
	}
	src, err := appendToLists(base, []listAppend{
		{"resources", [][]string{{deployment}, {service}}},
		{"configMapGenerator", [][]string{{"name: model-" + m, "literals:", "  - " + KeyModelName + "=" + m}}},
	})
	if err != nil {
		return nil, nil, err
	}
	edits[base.rel] = src

	for _, env := range envs {
		k, err := readKustomization(dir, env)
		if err != nil {
			return nil, nil, err
		}
		if k.declaresImage(m) {
			return nil, nil, promote.Errorf(promote.Conflict, "model %s: %s declares it already (an images entry whose name ends in /%s)", m, k.rel, m)
		}
		if k.hasModelConfig(m) {
			return nil, nil, promote.Errorf(promote.Conflict, "model %s: %s declares it already (a configMapGenerator entry reads %s)", m, k.rel, modelFile(m))
		}
		src, err := appendToLists(k, []listAppend{
			{"components", [][]string{{"../../components/model-" + m}}},
			{"images", [][]string{{"name: " + opts.ModelImage, "newTag: " + NotPromotedTag}}},
			{"configMapGenerator", [][]string{{"name: model-" + m, "behavior: merge", "envs:", "  - " + modelFile(m)}}},
		})
		if err != nil {
			return nil, nil, err
		}
		edits[k.rel] = nameInPinComment(src, m)
		files[OverlayPath(env)+"/"+modelFile(m)] = notPromotedConfig(m, env)
	}
	return files, edits, nil
}

// pinComment is the line of an overlay's kustomization that Scaffold
// writes to name the models' configs (deploy/overlays/ENV/
// kustomization.yaml.tmpl): "# models/credit-risk.env.", and after
// AddModel "# models/credit-risk.env, models/fraud.env.".
var pinComment = regexp.MustCompile(`(?m)^(#[ \t]+models/[a-z0-9-]+\.env(?:, models/[a-z0-9-]+\.env)*)\.[ \t]*\r?$`)

// nameInPinComment returns src with the model's config named in the
// comment that names the others' (pinComment), so that the comment does
// not say that the pins are the first model's alone. A comment that is not
// Scaffold's (rewritten, or removed) is left as it is.
func nameInPinComment(src []byte, model string) []byte {
	loc := pinComment.FindSubmatchIndex(src)
	if loc == nil {
		return src
	}
	return slices.Concat(src[:loc[3]], []byte(", "+modelFile(model)), src[loc[3]:])
}

// declaresImage reports whether an images entry of k names model.
func (k *kustomization) declaresImage(model string) bool {
	images := mapValue(k.root, "images")
	return images != nil && slices.ContainsFunc(images.Content, func(e *yaml.Node) bool {
		return path.Base(imageRepo(scalar(mapValue(e, "name")))) == model
	})
}

// notPromotedConfig is the model config of a model an overlay declares but
// has not pinned yet.
func notPromotedConfig(model, env string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# The version of %s that %s runs, read into the model's ConfigMap.\n", model, env)
	b.WriteString("# Promote rewrites the MODEL_* lines on every promotion and rollback.\n")
	fmt.Fprintf(&b, "# Empty values: %s is not yet promoted to %s (its image is tagged %s).\n", model, env, NotPromotedTag)
	for _, key := range pinKeys {
		v := ""
		if key == KeyModelName {
			v = model
		}
		b.WriteString(key + "=" + v + "\n")
	}
	return []byte(b.String())
}

// listAppend appends items to the list under key; each item is its lines,
// the first written after "- ", the others indented under it.
type listAppend struct {
	key   string
	items [][]string
}

// appendToLists returns k's text with each list appended to, by editing
// the text as pinImage does: comments, blank lines and indentation stay as
// they are. A list that is missing is added at the end of the file; one
// that is not a block list (one "- " item per line) is an error that says
// which entries to add by hand.
func appendToLists(k *kustomization, appends []listAppend) ([]byte, error) {
	src := k.src
	for _, a := range appends {
		cur := &kustomization{rel: k.rel, src: src}
		if err := cur.parse(); err != nil {
			return nil, err
		}
		before := 0
		if seq := mapValue(cur.root, a.key); seq != nil {
			before = len(seq.Content)
		}
		out, err := appendToList(cur, a)
		if err != nil {
			return nil, err
		}
		check := &kustomization{rel: k.rel, src: out}
		if err := check.parse(); err != nil {
			return nil, fmt.Errorf("%s: appending to %s: %w", k.rel, a.key, err)
		}
		if seq := mapValue(check.root, a.key); seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) != before+len(a.items) {
			return nil, promote.Errorf(promote.Invalid, "%s: cannot append to %s in place; add %s by hand", k.rel, a.key, describeItems(a))
		}
		src = out
	}
	return src, nil
}

func describeItems(a listAppend) string {
	var parts []string
	for _, it := range a.items {
		parts = append(parts, "{"+strings.Join(it, " ")+"}")
	}
	return strings.Join(parts, ", ")
}

func writeItems(b *strings.Builder, indent int, items [][]string) {
	pad := strings.Repeat(" ", indent)
	for _, it := range items {
		b.WriteString(pad + "- " + it[0] + "\n")
		for _, line := range it[1:] {
			b.WriteString(pad + "  " + line + "\n")
		}
	}
}

func appendToList(k *kustomization, a listAppend) ([]byte, error) {
	src := k.src
	var b strings.Builder
	i := slices.IndexFunc(k.root.Content, func(n *yaml.Node) bool { return n.Value == a.key })
	for i >= 0 && i%2 == 1 {
		// A value equal to the key's name; find the key itself.
		j := slices.IndexFunc(k.root.Content[i+1:], func(n *yaml.Node) bool { return n.Value == a.key })
		if j < 0 {
			i = -1
			break
		}
		i += 1 + j
	}
	if i < 0 {
		b.WriteString(a.key + ":\n")
		writeItems(&b, 2, a.items)
		out := slices.Clone(src)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, b.String()...), nil
	}
	seq := k.root.Content[i+1]
	if seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 || len(seq.Content) == 0 {
		return nil, promote.Errorf(promote.Invalid, "%s:%d: %s is not a list of one \"- \" item per line; add %s by hand", k.rel, seq.Line, a.key, describeItems(a))
	}
	l := newLines(src)
	first := seq.Content[0]
	itemStart, ok := l.offset(first.Line, first.Column)
	lineStart, _ := l.offset(first.Line, 1)
	if !ok {
		return nil, promote.Errorf(promote.Invalid, "%s:%d: cannot read %s; add %s by hand", k.rel, seq.Line, a.key, describeItems(a))
	}
	dash := bytes.LastIndexByte(src[lineStart:itemStart], '-')
	if dash < 0 || strings.TrimSpace(string(src[lineStart:lineStart+dash])) != "" {
		return nil, promote.Errorf(promote.Invalid, "%s:%d: %s is not a list of one \"- \" item per line; add %s by hand", k.rel, seq.Line, a.key, describeItems(a))
	}
	// The list ends where the next key of the file starts, less the blank
	// and comment lines that lead into that key.
	at := len(src)
	if i+2 < len(k.root.Content) {
		at, _ = l.offset(k.root.Content[i+2].Line, 1)
	}
	for at > 0 {
		prev := bytes.LastIndexByte(src[:at-1], '\n') + 1
		if line := strings.TrimSpace(string(src[prev:at])); line != "" && line[0] != '#' {
			break
		}
		at = prev
	}
	writeItems(&b, dash, a.items)
	text := b.String()
	if at > 0 && src[at-1] != '\n' {
		text = "\n" + text
	}
	return slices.Concat(src[:at], []byte(text), src[at:]), nil
}
