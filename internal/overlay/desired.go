package overlay

import (
	"fmt"
	"strings"
)

// Desired is what a rendered overlay asks to run of one model: the pin its
// ConfigMap carries, and what the workload that reads that ConfigMap says
// about how it runs.
type Desired struct {
	Pin
	// ConfigMap is the name of the rendered ConfigMap that carries the pin
	// (with kustomize's hash suffix).
	ConfigMap string `json:"config_map"`
	// Workload names the resource that runs the model, as Kind/name: the
	// first rendered resource that references the ConfigMap (envFrom, an
	// env valueFrom or a volume) and runs an image at the pinned digest.
	// It is "" when none does.
	Workload string `json:"workload,omitempty"`
	// Image is that workload's model image, by digest
	// (repository@sha256:...); "" without a workload.
	Image string `json:"image,omitempty"`
	// Replicas is the workload's spec.replicas, 1 when the workload does
	// not set it (Kubernetes' default), 0 without a workload.
	Replicas int `json:"replicas"`
}

// DesiredState reads the desired state of every model from rendered
// manifests, the output of Render: each ConfigMap whose data has
// MODEL_NAME carries one model's pin (MODEL_NAME, MODEL_VERSION, MODEL_URI,
// MODEL_DIGEST), and the workload that reads it says how the model runs.
// It is what a deployment of the manifests would run, read the way a
// cluster would read it, so that an agent applying it needs nothing but
// the rendered output. A ConfigMap whose MODEL_VERSION, MODEL_URI and
// MODEL_DIGEST are empty is a model not yet promoted there, and is left
// out. The result is sorted by model. A ConfigMap whose pin
// is incomplete or invalid, or two that pin the same model differently, is
// an error naming the ConfigMap; a stream with no pinned model gives an
// empty result.
func DesiredState(rendered []byte) ([]Desired, error) {
	docs, err := parseManifests(rendered)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	byModel := map[string]Desired{}
	for _, r := range docs {
		if r.Kind != "ConfigMap" {
			continue
		}
		data, _ := r.Obj["data"].(map[string]any)
		if _, ok := data[KeyModelName]; !ok {
			continue
		}
		if (Pin{Version: fmt.Sprint(data[KeyModelVersion]), URI: fmt.Sprint(data[KeyModelURI]), Digest: fmt.Sprint(data[KeyModelDigest])}).notPromoted() {
			// Declared but not yet promoted to this environment: nothing
			// of the model is to run.
			continue
		}
		p, err := configMapPin(r, data)
		if err != nil {
			return nil, fmt.Errorf("desired state: %w", err)
		}
		d := Desired{Pin: p, ConfigMap: r.Name}
		if prev, dup := byModel[p.Model]; dup {
			if prev.Pin != p {
				return nil, fmt.Errorf("desired state: ConfigMaps %s and %s pin model %s differently (%s and %s)",
					prev.ConfigMap, r.Name, p.Model, prev.Version, p.Version)
			}
			continue
		}
		d.Workload, d.Image, d.Replicas = workloadOf(docs, r, p.Digest)
		byModel[p.Model] = d
	}
	out := make([]Desired, 0, len(byModel))
	for _, model := range sortedKeys(byModel) {
		out = append(out, byModel[model])
	}
	return out, nil
}

// configMapPin reads the pin in a ConfigMap's data. ConfigMap values are
// strings in Kubernetes, so a value of another type is an error rather
// than a conversion.
func configMapPin(r *resource, data map[string]any) (Pin, error) {
	values := map[string]string{}
	var missing []string
	for _, key := range pinKeys {
		v, ok := data[key]
		if !ok {
			missing = append(missing, key)
			continue
		}
		s, ok := v.(string)
		if !ok {
			return Pin{}, fmt.Errorf("%s: %s is %v (%T); want a string", r.ID(), key, v, v)
		}
		values[key] = s
	}
	if len(missing) > 0 {
		return Pin{}, fmt.Errorf("%s has %s but no %s", r.ID(), KeyModelName, strings.Join(missing, ", "))
	}
	p := Pin{Model: values[KeyModelName], Version: values[KeyModelVersion], URI: values[KeyModelURI], Digest: values[KeyModelDigest]}
	if err := p.Validate(); err != nil {
		return Pin{}, fmt.Errorf("%s: %w", r.ID(), err)
	}
	return p, nil
}

// workloadOf finds the first resource that references the ConfigMap cm and
// runs an image at digest, and returns its Kind/name, that image and its
// replicas.
func workloadOf(docs []*resource, cm *resource, digest string) (workload, image string, replicas int) {
	for _, r := range docs {
		if r == cm || !referencesConfigMap(r.Obj, cm.Name) {
			continue
		}
		for _, c := range containers(r) {
			if imageDigest(c.Image) != digest {
				continue
			}
			replicas = 1
			if spec, ok := r.Obj["spec"].(map[string]any); ok {
				if n, ok := spec["replicas"].(int); ok {
					replicas = n
				}
			}
			return r.Key(), c.Image, replicas
		}
	}
	return "", "", 0
}

// referenceKeys are the fields of a pod spec that name a ConfigMap:
// envFrom[].configMapRef, env[].valueFrom.configMapKeyRef and
// volumes[].configMap (and projected volumes' sources[].configMap).
var referenceKeys = []string{"configMapRef", "configMapKeyRef", "configMap"}

// referencesConfigMap reports whether v names the ConfigMap name in one of
// referenceKeys, at any depth.
func referencesConfigMap(v any, name string) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range referenceKeys {
			if ref, ok := v[k].(map[string]any); ok && ref["name"] == name {
				return true
			}
		}
		for _, child := range v {
			if referencesConfigMap(child, name) {
				return true
			}
		}
	case []any:
		for _, item := range v {
			if referencesConfigMap(item, name) {
				return true
			}
		}
	}
	return false
}
