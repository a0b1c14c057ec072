package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// RenderError is a failure to render an environment's overlay: kustomize's
// own error, or rendered output that fails validation. A promotion to that
// environment is blocked with it.
type RenderError struct {
	Env  string // the environment; "" for deploy/base
	Path string // the overlay, relative to the repository
	Err  error
}

func (e *RenderError) Error() string {
	if e.Env == "" {
		return fmt.Sprintf("render %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("render %s (%s): %v", e.Env, e.Path, e.Err)
}

func (e *RenderError) Unwrap() error { return e.Err }

// build runs kustomize build on the kustomization in path, in-process, with
// the options the kustomize CLI uses by default: files only from inside the
// kustomization's root, no plugins, and the CLI's default output order
// (legacy, unless the kustomization sets sortOptions), so that the output is
// byte for byte what `kustomize build` prints.
func build(path string) ([]byte, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// Render builds env's overlay in dir (deploy/overlays/<env>) with kustomize,
// in-process, and returns the YAML stream, which is what `kustomize build
// deploy/overlays/<env>` prints. It then validates the output: every
// document has apiVersion, kind and metadata.name; and for each model the
// overlay pins (see Pins), every container that runs the model's image runs
// it at the pinned digest, at least one does, and a ConfigMap with the
// model's MODEL_NAME carries the pinned MODEL_VERSION, MODEL_URI and
// MODEL_DIGEST. Any failure is a *RenderError naming the environment and the
// overlay, wrapping kustomize's error as it is.
func Render(dir, env string) ([]byte, error) {
	r, err := renderOverlay(dir, env)
	if err != nil {
		return nil, err
	}
	return r.out, nil
}

// renderedOverlay is a rendered and validated overlay.
type renderedOverlay struct {
	out   []byte
	docs  []*resource
	pins  map[string]Pin
	repos map[string]string // model -> the image repository it renders
}

func renderOverlay(dir, env string) (*renderedOverlay, error) {
	od, err := overlayDir(dir, env)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*renderedOverlay, error) {
		return nil, &RenderError{Env: env, Path: OverlayPath(env), Err: err}
	}
	abs, err := filepath.Abs(od)
	if err != nil {
		return fail(err)
	}
	r := &renderedOverlay{}
	if r.out, err = build(abs); err != nil {
		return fail(err)
	}
	k, err := readKustomization(dir, env)
	if err != nil {
		return fail(err)
	}
	if r.pins, r.repos, err = k.pins(); err != nil {
		return fail(err)
	}
	if r.docs, err = parseManifests(r.out); err != nil {
		return fail(err)
	}
	if err := checkPins(r.docs, r.pins, r.repos); err != nil {
		return fail(err)
	}
	return r, nil
}

// RenderAll renders each of envs (see Render) and returns the outputs by
// environment. The overlays render concurrently, one per CPU at most;
// the first failure, in the order of envs, is the error.
func RenderAll(dir string, envs []string) (map[string][]byte, error) {
	outs := make([][]byte, len(envs))
	errs := make([]error, len(envs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, env := range envs {
		g.Go(func() error {
			outs[i], errs[i] = Render(dir, env)
			return nil
		})
	}
	_ = g.Wait()
	out := make(map[string][]byte, len(envs))
	for i, env := range envs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[env] = outs[i]
	}
	return out, nil
}

// renderBase builds deploy/base, which overlays are compared with.
func renderBase(dir string) ([]*resource, error) {
	abs, err := filepath.Abs(filepath.Join(dir, filepath.FromSlash(BaseDir)))
	if err != nil {
		return nil, err
	}
	out, err := build(abs)
	if err == nil {
		var docs []*resource
		if docs, err = parseManifests(out); err == nil {
			return docs, nil
		}
	}
	return nil, &RenderError{Path: BaseDir, Err: err}
}

// resource is one rendered document.
type resource struct {
	Kind, Name, Namespace string
	Obj                   map[string]any
	Text                  string // as rendered
	key                   string // how parity matches it across trees; ID() when ""
}

// Key is how the resource is matched with its counterpart in another
// environment: Kind/name, so that a namespace set by one overlay is a
// difference of a field rather than another resource.
func (r *resource) Key() string {
	if r.key != "" {
		return r.key
	}
	return r.ID()
}

// ID names the resource: Kind/name, or Kind/namespace/name.
func (r *resource) ID() string {
	if r.Namespace != "" {
		return r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	return r.Kind + "/" + r.Name
}

// parseManifests splits a rendered stream into documents and checks that
// each is a Kubernetes object with apiVersion, kind and metadata.name.
func parseManifests(out []byte) ([]*resource, error) {
	var docs []*resource
	dec := yaml.NewDecoder(bytes.NewReader(out))
	texts := splitDocuments(string(out))
	for i := 0; ; i++ {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rendered document %d: %w", i+1, err)
		}
		if obj == nil {
			continue
		}
		r := &resource{Obj: obj}
		r.Kind, _ = obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		r.Name, _ = meta["name"].(string)
		r.Namespace, _ = meta["namespace"].(string)
		api, _ := obj["apiVersion"].(string)
		var missing []string
		for field, v := range map[string]string{"apiVersion": api, "kind": r.Kind, "metadata.name": r.Name} {
			if v == "" {
				missing = append(missing, field)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, fmt.Errorf("rendered document %d (%s) has no %s", i+1, r.ID(), strings.Join(missing, ", "))
		}
		if len(docs) < len(texts) {
			r.Text = texts[len(docs)]
		}
		docs = append(docs, r)
	}
	return docs, nil
}

// splitDocuments splits a YAML stream at its "---" lines.
func splitDocuments(s string) []string {
	var docs []string
	var cur strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimRight(line, "\r\n") == "---" {
			if strings.TrimSpace(cur.String()) != "" {
				docs = append(docs, cur.String())
			}
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	if strings.TrimSpace(cur.String()) != "" {
		docs = append(docs, cur.String())
	}
	return docs
}

// container is a container of a rendered workload.
type container struct {
	Resource string // Kind/name
	Path     string // field path, e.g. spec.template.spec.containers[server]
	Name     string
	Image    string
}

// containers finds every container with an image in r, whatever the kind
// (Deployment, StatefulSet, CronJob, Pod, Argo Rollout…): the entries of
// any containers, initContainers or ephemeralContainers list.
func containers(r *resource) []container {
	var out []container
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				child := joinPath(p, k)
				if list, ok := v[k].([]any); ok && (k == "containers" || k == "initContainers" || k == "ephemeralContainers") {
					for i, item := range list {
						c, _ := item.(map[string]any)
						image, _ := c["image"].(string)
						name, _ := c["name"].(string)
						if image == "" {
							continue
						}
						seg := name
						if seg == "" {
							seg = fmt.Sprint(i)
						}
						out = append(out, container{Resource: r.Key(), Path: child + "[" + seg + "]", Name: name, Image: image})
					}
					continue
				}
				walk(v[k], child)
			}
		case []any:
			for i, item := range v {
				walk(item, fmt.Sprintf("%s[%d]", p, i))
			}
		}
	}
	walk(r.Obj, "")
	return out
}

// checkPins checks that each pinned model shows up in the rendered
// resources as pinned: its image at the pinned digest in every container
// that runs it (and at least one), and its config in a ConfigMap.
func checkPins(docs []*resource, pins map[string]Pin, repos map[string]string) error {
	var problems []string
	for _, model := range sortedKeys(pins) {
		p, repo := pins[model], repos[model]
		runs := 0
		for _, r := range docs {
			for _, c := range containers(r) {
				if imageRepo(c.Image) != repo {
					continue
				}
				if imageDigest(c.Image) != p.Digest {
					problems = append(problems, fmt.Sprintf("model %s is pinned at %s but container %s of %s runs %s", model, p.Digest, c.Name, c.Resource, c.Image))
					continue
				}
				runs++
			}
		}
		if runs == 0 {
			problems = append(problems, fmt.Sprintf("model %s is pinned but no container runs %s@%s", model, repo, p.Digest))
		}
		configs := 0
		for _, r := range docs {
			data, _ := r.Obj["data"].(map[string]any)
			if r.Kind != "ConfigMap" || data[KeyModelName] != model {
				continue
			}
			configs++
			for key, want := range map[string]string{KeyModelVersion: p.Version, KeyModelURI: p.URI, KeyModelDigest: p.Digest} {
				if got := fmt.Sprint(data[key]); got != want {
					problems = append(problems, fmt.Sprintf("%s has %s=%s, want the pinned %s", r.ID(), key, got, want))
				}
			}
		}
		if configs == 0 {
			problems = append(problems, fmt.Sprintf("model %s is pinned but no ConfigMap has %s=%s (is %s in a configMapGenerator?)", model, KeyModelName, model, modelFile(model)))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func joinPath(p, key string) string {
	if p == "" {
		return key
	}
	if strings.ContainsAny(key, ".[]") {
		return p + "[" + key + "]"
	}
	return p + "." + key
}
