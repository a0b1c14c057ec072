package overlay

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/promote"
)

// The rules a Finding breaks.
const (
	// RuleDrift: an environment differs from the base outside the allowlist.
	RuleDrift = "drift"
	// RuleImage: a container (other than a pinned model's) runs different
	// images in different environments.
	RuleImage = "image"
	// RuleUnpinned: a container (other than a pinned model's) runs an image
	// that is not pinned by digest.
	RuleUnpinned = "unpinned"
	// RuleDependency: a dependency list (a ConfigMap's requirements.txt,
	// constraints.txt or dependencies) differs between environments.
	RuleDependency = "dependency"
)

// Finding is one parity problem.
type Finding struct {
	Rule     string `json:"rule"`
	Env      string `json:"env,omitempty"` // RuleDrift: the environment that differs from the base
	Resource string `json:"resource"`      // Kind/name, generated names without their hash suffix
	Path     string `json:"path,omitempty"`
	Message  string `json:"message"`
	Diff     string `json:"diff"` // the values side by side, one per line
}

// Report is the outcome of Check.
type Report struct {
	Environments []string  `json:"environments"`
	Allow        []string  `json:"allow"`
	Findings     []Finding `json:"findings"`
}

// OK reports whether the environments are in parity.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// String describes the report for people: that all is in parity, or each
// finding with its diff.
func (r Report) String() string {
	var b strings.Builder
	if r.OK() {
		fmt.Fprintf(&b, "In parity: %s differ from %s only in allowed fields, and share their images and dependencies.\n", strings.Join(r.Environments, ", "), BaseDir)
		return b.String()
	}
	fmt.Fprintf(&b, "Drift: %d finding(s) in %s.\n", len(r.Findings), strings.Join(r.Environments, ", "))
	for _, f := range r.Findings {
		b.WriteString("\n")
		b.WriteString(f.Message + "\n")
		b.WriteString(f.Diff)
	}
	fmt.Fprintf(&b, "\nAllowed to differ: %s\n", strings.Join(r.Allow, ", "))
	return b.String()
}

// hashSuffix matches the suffix kustomize appends to a generated
// ConfigMap's or Secret's name: ten characters of a hash, with 0, 1, 3, a
// and e replaced by g, h, k, m and t.
var hashSuffix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-[2456789bcdfghkmt]{10}$`) })

// normalize strips the hash suffix from generated names, and from every
// reference to them, so that resources compare by what they hold rather
// than by a name that changes with their content.
func normalize(docs []*resource) {
	names := map[string]string{}
	for _, r := range docs {
		if (r.Kind == "ConfigMap" || r.Kind == "Secret") && hashSuffix().MatchString(r.Name) {
			names[r.Name] = hashSuffix().ReplaceAllString(r.Name, "")
		}
	}
	if len(names) == 0 {
		return
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		case string:
			if plain, ok := names[v]; ok {
				return plain
			}
		}
		return v
	}
	hashed := sortedKeys(names)
	for _, r := range docs {
		walk(r.Obj)
		if plain, ok := names[r.Name]; ok {
			r.Name = plain
		}
		for _, h := range hashed {
			r.Text = strings.ReplaceAll(r.Text, h, names[h])
		}
	}
}

// rendered is one rendered tree with what parity needs to know of it.
type rendered struct {
	name  string // the environment, or "base"
	docs  []*resource
	byID  map[string]*resource
	repos map[string]bool // the declared models' image repositories
	// models are the models the overlay declares, pinned or not yet
	// promoted.
	models map[string]bool
}

func newRendered(name string, docs []*resource, repos map[string]string) *rendered {
	normalize(docs)
	t := &rendered{name: name, docs: docs, byID: map[string]*resource{}, repos: map[string]bool{}, models: map[string]bool{}}
	// Match by Kind/name, unless two resources share one (in different
	// namespaces).
	count := map[string]int{}
	for _, r := range docs {
		count[r.Kind+"/"+r.Name]++
	}
	for _, r := range docs {
		if count[r.Kind+"/"+r.Name] == 1 {
			r.key = r.Kind + "/" + r.Name
		}
		t.byID[r.Key()] = r
	}
	for model, repo := range repos {
		t.repos[repo], t.models[model] = true, true
	}
	return t
}

func renderTree(dir, env string) (*rendered, error) {
	r, err := renderOverlay(dir, env)
	if err != nil {
		return nil, err
	}
	return newRendered(env, r.docs, r.repos), nil
}

// Check renders deploy/base and the overlays of envs in dir (all of
// deploy/overlays when envs is empty) and reports whether they are in
// parity. Two kinds of rule are checked:
//
//   - Each environment against the base: every field that differs (added,
//     removed or changed, and every resource added or removed) must be
//     allowed by the allowlist, allow (DefaultAllow when nil).
//   - The environments against each other, whatever the allowlist says:
//     every container other than a pinned model's runs the same image, pinned
//     by digest, in every environment; and every dependency list (a
//     ConfigMap key named requirements.txt, constraints.txt or dependencies)
//     names the same packages at the same versions.
//
// An allowlist entry is a field path, optionally after a resource
// selector: [KIND[/NAME]:]PATH, or KIND/NAME alone for a whole resource, or
// @pin for the model pin. KIND and NAME match a resource's kind and name
// (a generated ConfigMap's without its hash suffix). PATH is a field path
// from the resource's root: fields separated by dots, and [KEY] for a list
// element by its name (containers[server]) or index ([0]), or for a map key
// that holds dots or slashes (data[requirements.txt]). Each part may use *
// for any run of characters and ? for one. An entry allows a difference at
// its path and anywhere below it. Examples: Deployment/*:spec.replicas,
// ConfigMap/*:data.SLO_*, spec.template.metadata.annotations[example.com/*].
//
// A broken overlay or base is an error (a *RenderError); drift is a Report
// whose OK is false.
func Check(dir string, envs []string, allow []string) (Report, error) {
	if allow == nil {
		allow = DefaultAllow
	}
	rules, err := parseAllow(allow)
	if err != nil {
		return Report{}, err
	}
	if len(envs) == 0 {
		if envs, err = Environments(dir); err != nil {
			return Report{}, err
		}
		if len(envs) == 0 {
			return Report{}, promote.Errorf(promote.NotFound, "%s has no overlays", OverlaysDir)
		}
	}
	baseDocs, err := renderBase(dir)
	if err != nil {
		return Report{}, err
	}
	base := newRendered("base", baseDocs, nil)
	var trees []*rendered
	for _, env := range envs {
		t, err := renderTree(dir, env)
		if err != nil {
			return Report{}, err
		}
		trees = append(trees, t)
	}
	rep := Report{Environments: slices.Clone(envs), Allow: slices.Clone(allow), Findings: []Finding{}}
	pinAllowed := slices.ContainsFunc(rules, func(e allowEntry) bool { return e.pin })
	for _, t := range trees {
		rep.Findings = append(rep.Findings, driftFromBase(base, t, rules, pinAllowed)...)
	}
	rep.Findings = append(rep.Findings, imageParity(trees)...)
	rep.Findings = append(rep.Findings, dependencyParity(trees)...)
	return rep, nil
}

// driftFromBase lists the differences of t from base that rules do not
// allow.
func driftFromBase(base, t *rendered, rules []allowEntry, pinAllowed bool) []Finding {
	var out []Finding
	ids := map[string]bool{}
	for id := range base.byID {
		ids[id] = true
	}
	for id := range t.byID {
		ids[id] = true
	}
	for _, id := range sortedKeys(ids) {
		b, e := base.byID[id], t.byID[id]
		r := e
		if r == nil {
			r = b
		}
		allowed := func(segs []string) bool {
			return slices.ContainsFunc(rules, func(a allowEntry) bool { return a.allows(r.Kind, r.Name, segs) })
		}
		if b == nil || e == nil {
			if allowed(nil) {
				continue
			}
			f := Finding{Rule: RuleDrift, Env: t.name, Resource: id}
			if b == nil {
				f.Message = fmt.Sprintf("%s: %s is added (not in %s)", t.name, id, BaseDir)
				f.Diff = sideBySide([]string{"base", t.name}, []any{absent{}, e.Obj})
			} else {
				f.Message = fmt.Sprintf("%s: %s is removed (it is in %s)", t.name, id, BaseDir)
				f.Diff = sideBySide([]string{"base", t.name}, []any{b.Obj, absent{}})
			}
			out = append(out, f)
			continue
		}
		// A declared model's config is the model pin.
		pinConfig := false
		if data, ok := e.Obj["data"].(map[string]any); ok && e.Kind == "ConfigMap" {
			name, _ := data[KeyModelName].(string)
			pinConfig = t.models[name]
		}
		diffValues(b.Obj, e.Obj, nil, func(segs []string, bv, ev any) {
			if allowed(segs) {
				return
			}
			if pinAllowed && isPinChange(t, pinConfig, segs, bv, ev) {
				return
			}
			p := formatPath(segs)
			f := Finding{
				Rule: RuleDrift, Env: t.name, Resource: id, Path: p,
				Message: fmt.Sprintf("%s: %s %s differs from %s", t.name, id, p, BaseDir),
				Diff:    sideBySide([]string{"base", t.name}, []any{bv, ev}),
			}
			// Text over several lines (a file in a ConfigMap) reads best as
			// a diff of its lines.
			if bs, ok := bv.(string); ok {
				if es, ok := ev.(string); ok && (strings.Contains(bs, "\n") || strings.Contains(es, "\n")) {
					f.Diff = indent(unifiedDiff("base", t.name, bs, es, 2), "    ")
				}
			}
			out = append(out, f)
		})
	}
	return out
}

// isPinChange reports whether a difference is the model pin: a pinned
// model's image at another digest or tag, or a MODEL_* key of a pinned
// model's config.
func isPinChange(t *rendered, pinConfig bool, segs []string, bv, ev any) bool {
	if len(segs) == 0 {
		return false
	}
	last := segs[len(segs)-1]
	if pinConfig && len(segs) == 2 && segs[0] == "data" && (last == KeyModelVersion || last == KeyModelURI || last == KeyModelDigest) {
		return true
	}
	bs, ok1 := bv.(string)
	es, ok2 := ev.(string)
	return last == "image" && ok1 && ok2 && imageRepo(bs) == imageRepo(es) && t.repos[imageRepo(es)]
}

// absent stands for a value that is not there.
type absent struct{}

// diffValues calls emit for every difference between b and e below segs:
// maps by key, lists of named objects by name, other lists by index.
func diffValues(b, e any, segs []string, emit func(segs []string, bv, ev any)) {
	switch bv := b.(type) {
	case map[string]any:
		ev, ok := e.(map[string]any)
		if !ok {
			break
		}
		diffKeyed(bv, ev, segs, "", emit)
		return
	case []any:
		ev, ok := e.([]any)
		if !ok {
			break
		}
		if bn, en := listNames(bv), listNames(ev); bn != nil && en != nil {
			diffKeyed(bn, en, segs, elem, emit)
			return
		}
		for i := range max(len(bv), len(ev)) {
			child := append(slices.Clip(segs), elem+fmt.Sprint(i))
			switch {
			case i >= len(bv):
				emit(child, absent{}, ev[i])
			case i >= len(ev):
				emit(child, bv[i], absent{})
			default:
				diffValues(bv[i], ev[i], child, emit)
			}
		}
		return
	}
	if !equalValues(b, e) {
		emit(segs, b, e)
	}
}

// diffKeyed diffs the values of b and e under each key either has, in key
// order, as child segments prefix+key: a map's keys, or a list's element
// names.
func diffKeyed(b, e map[string]any, segs []string, prefix string, emit func(segs []string, bv, ev any)) {
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range e {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		x, inB := b[k]
		y, inE := e[k]
		child := append(slices.Clip(segs), prefix+k)
		switch {
		case !inB:
			emit(child, absent{}, y)
		case !inE:
			emit(child, x, absent{})
		default:
			diffValues(x, y, child, emit)
		}
	}
}

// listNames indexes a list of objects by their name field, nil when some
// element has none or two share one.
func listNames(list []any) map[string]any {
	out := map[string]any{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil
		}
		name, ok := m["name"].(string)
		if !ok || name == "" {
			return nil
		}
		if _, dup := out[name]; dup {
			return nil
		}
		out[name] = m
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func equalValues(a, b any) bool {
	return fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
}

// sideBySide shows values under labels, one per line (indented YAML for
// objects and lists), the first with "-" and the others with "+".
func sideBySide(labels []string, values []any) string {
	width := 0
	for _, l := range labels {
		width = max(width, len(l))
	}
	var b strings.Builder
	for i, l := range labels {
		mark := "+"
		if i == 0 {
			mark = "-"
		}
		text := formatValue(values[i])
		if !strings.Contains(text, "\n") {
			fmt.Fprintf(&b, "    %s %-*s %s\n", mark, width+1, l+":", text)
			continue
		}
		fmt.Fprintf(&b, "    %s %s:\n", mark, l)
		for line := range strings.Lines(text) {
			b.WriteString("        " + line)
		}
	}
	return b.String()
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// formatValue writes a value as YAML: a scalar on one line, anything else
// as a block ending in a newline.
func formatValue(v any) string {
	if _, ok := v.(absent); ok {
		return "(absent)"
	}
	if s, ok := v.(string); ok && strings.Contains(s, "\n") {
		return s
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(out)
	if strings.Count(s, "\n") == 1 {
		return strings.TrimSuffix(s, "\n")
	}
	return s
}

// imageParity checks that every container other than a pinned model's runs
// the same image, pinned by digest, in every environment.
func imageParity(trees []*rendered) []Finding {
	type slot struct{ resource, path, name string }
	images := map[slot]map[string]string{} // slot -> env -> image
	var slots []slot
	for _, t := range trees {
		for _, r := range t.docs {
			for _, c := range containers(r) {
				if t.repos[imageRepo(c.Image)] {
					continue
				}
				s := slot{c.Resource, c.Path, c.Name}
				if images[s] == nil {
					images[s] = map[string]string{}
					slots = append(slots, s)
				}
				images[s][t.name] = c.Image
			}
		}
	}
	sort.Slice(slots, func(i, j int) bool {
		return slots[i].resource+" "+slots[i].path < slots[j].resource+" "+slots[j].path
	})
	var out []Finding
	for _, s := range slots {
		byEnv := images[s]
		labels, values := []string{}, []any{}
		distinct := map[string]bool{}
		var unpinned []string
		for _, t := range trees {
			img, ok := byEnv[t.name]
			labels = append(labels, t.name)
			if !ok {
				values = append(values, absent{})
				distinct["\x00absent"] = true
				continue
			}
			values = append(values, img)
			distinct[img] = true
			if ValidateDigest(imageDigest(img)) != nil {
				unpinned = append(unpinned, t.name)
			}
		}
		what := fmt.Sprintf("container %s of %s", s.name, s.resource)
		if len(distinct) > 1 {
			out = append(out, Finding{
				Rule: RuleImage, Resource: s.resource, Path: s.path + ".image",
				Message: fmt.Sprintf("%s runs different images in different environments", what),
				Diff:    sideBySide(labels, values),
			})
		}
		if len(unpinned) > 0 {
			out = append(out, Finding{
				Rule: RuleUnpinned, Resource: s.resource, Path: s.path + ".image",
				Message: fmt.Sprintf("%s runs an image not pinned by digest (IMAGE@sha256:...) in %s", what, strings.Join(unpinned, ", ")),
				Diff:    sideBySide(labels, values),
			})
		}
	}
	return out
}

// isDependencyKey reports whether a ConfigMap key holds a dependency list.
func isDependencyKey(key string) bool {
	switch strings.ToLower(key) {
	case "requirements.txt", "constraints.txt", "dependencies":
		return true
	}
	return false
}

// parseDependencies reads a requirements.txt-style list: one requirement a
// line (NAME followed by a version specifier), # comments. Names are
// compared as PEP 503 normalizes them; an option line (-r, --index-url…) is
// kept whole.
func parseDependencies(text string) map[string]string {
	deps := map[string]string{}
	for line := range strings.Lines(text) {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '-' {
			deps[line] = line
			continue
		}
		end := strings.IndexAny(line, "=<>!~;[ @")
		if end < 0 {
			end = len(line)
		}
		name := strings.ToLower(line[:end])
		name = strings.NewReplacer("_", "-", ".", "-").Replace(name)
		deps[name] = line
	}
	return deps
}

// sameRequirement reports whether two requirement lines of one package
// say the same, whatever the spelling of the name and the spacing.
func sameRequirement(a, b string) bool {
	norm := func(line string) string {
		end := strings.IndexAny(line, "=<>!~;[ @")
		if end < 0 {
			end = len(line)
		}
		return strings.Join(strings.Fields(line[end:]), "")
	}
	return norm(a) == norm(b)
}

// dependencyParity checks that every dependency list names the same
// packages at the same versions in every environment.
func dependencyParity(trees []*rendered) []Finding {
	type list struct{ resource, key string }
	lists := map[list]map[string]map[string]string{} // list -> env -> package -> line
	for _, t := range trees {
		for _, r := range t.docs {
			data, _ := r.Obj["data"].(map[string]any)
			if r.Kind != "ConfigMap" {
				continue
			}
			for key, v := range data {
				text, ok := v.(string)
				if !ok || !isDependencyKey(key) {
					continue
				}
				l := list{r.Key(), key}
				if lists[l] == nil {
					lists[l] = map[string]map[string]string{}
				}
				lists[l][t.name] = parseDependencies(text)
			}
		}
	}
	keys := make([]list, 0, len(lists))
	for l := range lists {
		keys = append(keys, l)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].resource+" "+keys[i].key < keys[j].resource+" "+keys[j].key })
	var out []Finding
	for _, l := range keys {
		byEnv := lists[l]
		pkgs := map[string]bool{}
		for _, deps := range byEnv {
			for p := range deps {
				pkgs[p] = true
			}
		}
		p := formatPath([]string{"data", l.key})
		for _, t := range trees {
			if _, ok := byEnv[t.name]; !ok {
				out = append(out, Finding{
					Rule: RuleDependency, Resource: l.resource, Path: p,
					Message: fmt.Sprintf("%s %s is missing in %s", l.resource, p, t.name),
				})
			}
		}
		for _, pkg := range sortedKeys(pkgs) {
			labels, values := []string{}, []any{}
			differ := false
			var first any
			for _, t := range trees {
				deps, ok := byEnv[t.name]
				if !ok {
					continue
				}
				var v any = absent{}
				if line, ok := deps[pkg]; ok {
					v = line
				}
				if len(values) == 0 {
					first = v
				} else {
					fs, ok1 := first.(string)
					vs, ok2 := v.(string)
					if ok1 != ok2 || ok1 && !sameRequirement(fs, vs) {
						differ = true
					}
				}
				labels = append(labels, t.name)
				values = append(values, v)
			}
			if differ {
				out = append(out, Finding{
					Rule: RuleDependency, Resource: l.resource, Path: p,
					Message: fmt.Sprintf("dependency %s in %s %s differs between environments", pkg, l.resource, p),
					Diff:    sideBySide(labels, values),
				})
			}
		}
	}
	return out
}
