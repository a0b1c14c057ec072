package deploy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/promote-ml/promote/internal/cli"
	"github.com/promote-ml/promote/internal/leader"
)

// object is the part of a Kubernetes object these tests read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		// Deployment and StatefulSet
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		// Service
		Ports []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
	raw []byte // the object as rendered
}

type podSpec struct {
	ServiceAccountName            string `yaml:"serviceAccountName"`
	TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
	SecurityContext               struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	TopologySpreadConstraints []struct {
		MaxSkew           int    `yaml:"maxSkew"`
		TopologyKey       string `yaml:"topologyKey"`
		WhenUnsatisfiable string `yaml:"whenUnsatisfiable"`
		LabelSelector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"labelSelector"`
	} `yaml:"topologySpreadConstraints"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		EmptyDir *struct{} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Lifecycle struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

// intOrString is a port given by number or by name.
type intOrString string

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	*v = intOrString(n.Value)
	return nil
}

// env returns the value of a container's variable, or its Secret reference.
func (c container) env(t *testing.T, name string) (value, secret, key string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != name {
			continue
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return "", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
		}
		return e.Value, "", ""
	}
	t.Errorf("container %s: no env %s", c.Name, name)
	return "", "", ""
}

// port resolves a port given by number or by the name of a container port.
func (c container) port(p intOrString) int {
	for _, cp := range c.Ports {
		if string(p) == cp.Name || string(p) == strconv.Itoa(cp.ContainerPort) {
			return cp.ContainerPort
		}
	}
	return 0
}

// mountOf returns the volume mounted at dir, or at a parent of dir.
func (c container) mountOf(dir string) (volume string, readOnly bool) {
	best := ""
	for _, m := range c.VolumeMounts {
		if (dir == m.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/")) && len(m.MountPath) > len(best) {
			best, volume, readOnly = m.MountPath, m.Name, m.ReadOnly
		}
	}
	return volume, readOnly
}

// render builds the kustomization in dir in-process, as `kustomize build`
// does, and decodes every object.
func render(t *testing.T, dir string) []object {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range m.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var o object
		if err := yaml.Unmarshal(data, &o); err != nil {
			t.Fatalf("%s: %v\n%s", r.CurId(), err, data)
		}
		o.raw = data
		objs = append(objs, o)
	}
	return objs
}

// one returns the only object of a kind (and name, when name is not "").
func one(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s named %q, want 1", len(found), kind, name)
	}
	return found[0]
}

func kinds(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Kind+"/"+o.Metadata.Name)
	}
	slices.Sort(out)
	return out
}

// hashed matches a generated name: the generator's name and a content hash.
func hashed(name string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(name) + "-[a-z0-9]{10}$")
}

// cliReads reports whether the CLI's sources name an environment variable:
// a variable in a manifest that promote does not read is a silent no-op.
func cliReads(t *testing.T, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "internal", "cli", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("glob internal/cli: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(strconv.Quote(name))) {
			return true
		}
	}
	return false
}

// checkServer checks the promote Deployment and Service of a rendering and
// returns the server's container.
func checkServer(t *testing.T, objs []object) container {
	t.Helper()
	dep := one(t, objs, "Deployment", "promote")
	if r := dep.Spec.Replicas; r == nil || *r != 3 {
		got := "unset (Kubernetes defaults to 1, and an autoscaler may change it)"
		if r != nil {
			got = strconv.Itoa(*r)
		}
		t.Errorf("Deployment replicas = %s, want 3 (one elected leader, two that take over)", got)
	}
	if dep.Spec.Strategy.Type != "RollingUpdate" {
		t.Errorf("Deployment strategy = %q, want RollingUpdate (the lease keeps old and new pods from both leading)", dep.Spec.Strategy.Type)
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("pod labels %v lack the selector's %s=%s", dep.Spec.Template.Metadata.Labels, k, v)
		}
	}
	pod := dep.Spec.Template.Spec
	checkAvailability(t, objs, dep)
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	if !regexp.MustCompile(`^ghcr\.io/promote-ml/promote(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$`).MatchString(c.Image) {
		t.Errorf("image = %q, want ghcr.io/promote-ml/promote with a tag or digest", c.Image)
	}
	if diff := cmp.Diff([]string{"serve"}, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}

	// Every variable is one promote reads; the DSN comes from a Secret.
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "PROMOTE_") && !cliReads(t, e.Name) {
			t.Errorf("env %s: promote reads no such variable (internal/cli)", e.Name)
		}
	}
	if v, secret, key := c.env(t, "PROMOTE_DATABASE"); v != "" || secret == "" || key != "dsn" {
		t.Errorf("PROMOTE_DATABASE = value %q, Secret %q key %q; want the key dsn of a Secret", v, secret, key)
	}

	// The address, the container port, the probes and the Service agree.
	addr, _, _ := c.env(t, "PROMOTE_ADDR")
	host, portStr, _ := strings.Cut(addr, ":")
	port, err := strconv.Atoi(portStr)
	if host != "" || err != nil {
		t.Fatalf("PROMOTE_ADDR = %q, want :PORT (every interface)", addr)
	}
	if got := c.port("http"); got != port {
		t.Errorf("container port http = %d, want %d (PROMOTE_ADDR)", got, port)
	}
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"startup", c.StartupProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: none, want GET %s", p.name, p.path)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || c.port(p.probe.HTTPGet.Port) != port {
			t.Errorf("%s probe = GET %s on port %q, want GET %s on %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path, port)
		}
	}
	svc := one(t, objs, "Service", "promote")
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service ports = %d, want 1", len(svc.Spec.Ports))
	}
	if sp := svc.Spec.Ports[0]; c.port(sp.TargetPort) != port || sp.Port != port {
		t.Errorf("Service port %d → targetPort %q, want %d → the container's %d", sp.Port, sp.TargetPort, port, port)
	}
	var svcSelector struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}
	reencode(t, svc, &svcSelector)
	if len(svcSelector.Spec.Selector) == 0 {
		t.Error("Service has no selector")
	}
	for k, v := range svcSelector.Spec.Selector {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("Service selects %s=%s; the pods have %v", k, v, dep.Spec.Template.Metadata.Labels)
		}
	}

	// Non-root, read-only, no capabilities.
	if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod securityContext runAsNonRoot %v runAsUser %v, want true and a non-zero user", sc.RunAsNonRoot, sc.RunAsUser)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container securityContext: want readOnlyRootFilesystem: true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container securityContext: want allowPrivilegeEscalation: false")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container capabilities drop %q, want ALL", sc.Capabilities.Drop)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod automountServiceAccountToken: want false (promote does not call the Kubernetes API)")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}

	// With a read-only root, what promote writes is on emptyDir volumes.
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v.EmptyDir != nil
	}
	for _, dir := range []string{"PROMOTE_DATA", "/tmp"} {
		if strings.HasPrefix(dir, "PROMOTE_") {
			dir, _, _ = c.env(t, dir)
		}
		if vol, ro := c.mountOf(dir); vol == "" || ro || !volumes[vol] {
			t.Errorf("%s: mounted from volume %q (read-only %v), want a writable emptyDir", dir, vol, ro)
		}
	}

	checkShutdown(t, pod, c)

	// Every replica is scraped on its own (the leader judges rollouts from
	// all of them through --prometheus-url): the annotations name the
	// container's port and the path promote serves its metrics on.
	ann := dep.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations prometheus.io/scrape %q path %q, want \"true\" and /metrics", ann["prometheus.io/scrape"], ann["prometheus.io/path"])
	}
	if got := ann["prometheus.io/port"]; c.port(intOrString(got)) != port || got != strconv.Itoa(port) {
		t.Errorf("pod annotation prometheus.io/port %q, want %d (PROMOTE_ADDR's port)", got, port)
	}

	// The pipeline comes from a ConfigMap, mounted where PROMOTE_PIPELINE says.
	pipelinePath, _, _ := c.env(t, "PROMOTE_PIPELINE")
	vol, _ := c.mountOf(path.Dir(pipelinePath))
	var cmName string
	for _, v := range pod.Volumes {
		if v.Name == vol && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	if !hashed("promote-pipeline").MatchString(cmName) {
		t.Fatalf("PROMOTE_PIPELINE %s is on volume %q from ConfigMap %q, want the generated promote-pipeline", pipelinePath, vol, cmName)
	}
	cm := one(t, objs, "ConfigMap", cmName)
	if _, ok := cm.Data[path.Base(pipelinePath)]; !ok {
		t.Errorf("ConfigMap %s has no %s (keys %v)", cmName, path.Base(pipelinePath), slices.Sorted(mapsKeys(cm.Data)))
	}
	return c
}

// selects reports whether a selector's labels are all among labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// checkAvailability checks that the replicas survive a node's loss and a
// drain: one replica leads through the lease and the others take over, which
// helps only if they are not all on one node and not all evicted at once.
func checkAvailability(t *testing.T, objs []object, dep object) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	labels := dep.Spec.Template.Metadata.Labels
	spread := false
	for _, c := range pod.TopologySpreadConstraints {
		if c.TopologyKey == "kubernetes.io/hostname" && c.MaxSkew == 1 && selects(c.LabelSelector.MatchLabels, labels) {
			spread = true
		}
	}
	if !spread {
		t.Error("pod: no topologySpreadConstraints over kubernetes.io/hostname with maxSkew 1 selecting its replicas: they may all land on one node")
	}

	var pdbs []object
	for _, o := range objs {
		if o.Kind == "PodDisruptionBudget" && selects(o.Spec.Selector.MatchLabels, labels) {
			pdbs = append(pdbs, o)
		}
	}
	if len(pdbs) != 1 {
		t.Errorf("%d PodDisruptionBudgets select the server's pods, want 1: a drain may evict every replica at once", len(pdbs))
		return
	}
	var pdb struct {
		APIVersion string `yaml:"apiVersion"`
		Spec       struct {
			MaxUnavailable             *intOrString `yaml:"maxUnavailable"`
			MinAvailable               *intOrString `yaml:"minAvailable"`
			UnhealthyPodEvictionPolicy string       `yaml:"unhealthyPodEvictionPolicy"`
		} `yaml:"spec"`
	}
	reencode(t, pdbs[0], &pdb)
	if pdb.APIVersion != "policy/v1" {
		t.Errorf("PodDisruptionBudget apiVersion %q, want policy/v1", pdb.APIVersion)
	}
	// One replica at a time: a drain never takes the API away, and at most
	// one takeover of the lease is under way.
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != "1" {
		t.Errorf("PodDisruptionBudget maxUnavailable %v minAvailable %v, want maxUnavailable 1 alone", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	// While the database is down every replica is unready (/readyz): the
	// budget must not then block a drain for ever.
	if pdb.Spec.UnhealthyPodEvictionPolicy != "AlwaysAllow" {
		t.Errorf("PodDisruptionBudget unhealthyPodEvictionPolicy %q, want AlwaysAllow (unready replicas, as in a database outage, must not block drains)", pdb.Spec.UnhealthyPodEvictionPolicy)
	}
}

// serverShutdown is how long promote serve gives its HTTP servers to
// finish their requests after SIGTERM (internal/cli/serve.go).
const serverShutdown = 10 * time.Second

// checkShutdown checks that a pod leaves a rolling update or a drain
// without refused connections and with its lease released. On SIGTERM
// promote closes its listener at once, while the endpoints, kube-proxy and
// ingress controllers still send it new connections for a few seconds: a
// preStop sleep keeps it serving until they have let go (the image has no
// shell, hence the sleep action rather than exec). The grace period then
// covers that sleep, the HTTP shutdown and the release of the lease, which
// the leader attempts for up to the lease's TTL after its controllers stop;
// a pod killed before that leaves the controllers unrun until the lease
// expires.
func checkShutdown(t *testing.T, pod podSpec, c container) {
	t.Helper()
	var sleep time.Duration
	if ps := c.Lifecycle.PreStop; ps == nil || ps.Sleep == nil || ps.Sleep.Seconds <= 0 {
		t.Error("container lifecycle: no preStop sleep; on SIGTERM promote stops accepting connections while the Service still routes new ones to it")
	} else {
		sleep = time.Duration(ps.Sleep.Seconds) * time.Second
	}
	ttl := leader.DefaultTTL
	for _, e := range c.Env {
		if e.Name == "PROMOTE_LEASE_TTL" {
			d, err := time.ParseDuration(e.Value)
			if err != nil {
				t.Fatalf("PROMOTE_LEASE_TTL %q: %v", e.Value, err)
			}
			ttl = d
		}
	}
	grace := 30 * time.Second // Kubernetes' default
	if g := pod.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if need := sleep + serverShutdown + ttl; grace < need {
		t.Errorf("terminationGracePeriodSeconds = %s, want at least %s: the preStop sleep (%s), the HTTP shutdown (%s) and the lease's release (up to its TTL, %s)",
			grace, need, sleep, serverShutdown, ttl)
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// reencode decodes fields of an object that the object type does not keep.
func reencode(t *testing.T, o object, dst any) {
	t.Helper()
	if err := yaml.Unmarshal(o.raw, dst); err != nil {
		t.Fatal(err)
	}
}

// TestKubernetesBase renders the base: the server only, against a
// PostgreSQL that the user brings through the promote-database Secret.
func TestKubernetesBase(t *testing.T) {
	objs := render(t, filepath.Join(root, "deploy", "kubernetes", "base"))
	got := kinds(objs)
	for i, k := range got {
		got[i] = hashed("ConfigMap/promote-pipeline").ReplaceAllString(k, "ConfigMap/promote-pipeline-HASH")
	}
	want := []string{"ConfigMap/promote-pipeline-HASH", "Deployment/promote", "PodDisruptionBudget/promote", "Service/promote", "ServiceAccount/promote"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("base objects (-want +got):\n%s", diff)
	}
	c := checkServer(t, objs)
	if _, secret, _ := c.env(t, "PROMOTE_DATABASE"); secret != "promote-database" {
		t.Errorf("PROMOTE_DATABASE from Secret %q, want promote-database (docs/operations.md tells users to create it)", secret)
	}
}

// TestKubernetesPipelineLoads loads the pipeline the base ships, from the
// rendered ConfigMap, with the CLI: a pipeline or policy that promote would
// refuse fails here rather than in a CrashLoopBackOff.
func TestKubernetesPipelineLoads(t *testing.T) {
	objs := render(t, filepath.Join(root, "deploy", "kubernetes", "base"))
	var cm object
	for _, o := range objs {
		if o.Kind == "ConfigMap" && hashed("promote-pipeline").MatchString(o.Metadata.Name) {
			cm = o
		}
	}
	if len(cm.Data) == 0 {
		t.Fatal("no promote-pipeline ConfigMap with data")
	}
	dir := t.TempDir()
	for name, content := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), []string{"token", "create", "--name", "ada", "--role", "admin", "--quiet",
		"--database=", "--data", filepath.Join(dir, "data"), "--pipeline", filepath.Join(dir, "promote.yaml")},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 || strings.TrimSpace(stdout.String()) == "" {
		t.Fatalf("promote token create with the ConfigMap's pipeline = exit %d, stdout %q, stderr %q; want 0 and a token", code, stdout.String(), stderr.String())
	}
	var pl struct {
		Environments []struct {
			Name string `yaml:"name"`
		} `yaml:"environments"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["promote.yaml"]), &pl); err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, e := range pl.Environments {
		envs = append(envs, e.Name)
	}
	if diff := cmp.Diff([]string{"dev", "staging", "prod"}, envs); diff != "" {
		t.Errorf("pipeline environments (-want +got):\n%s", diff)
	}
}

// TestKubernetesTrial renders the trial overlay: the base, a PostgreSQL
// StatefulSet and the Secrets, in the namespace promote, with the DSN
// pointing at that PostgreSQL with its credentials.
func TestKubernetesTrial(t *testing.T) {
	objs := render(t, filepath.Join(root, "deploy", "kubernetes", "overlays", "trial"))
	for _, o := range objs {
		if o.Kind != "Namespace" && o.Metadata.Namespace != "promote" {
			t.Errorf("%s/%s in namespace %q, want promote", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
	}
	one(t, objs, "Namespace", "promote")
	c := checkServer(t, objs)

	secretData := func(name, key string) string {
		t.Helper()
		s := one(t, objs, "Secret", name)
		raw, ok := s.Data[key]
		if !ok {
			t.Fatalf("Secret %s has no key %s", name, key)
		}
		v, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			t.Fatalf("Secret %s key %s: %v", name, key, err)
		}
		return string(v)
	}

	_, dsnSecret, dsnKey := c.env(t, "PROMOTE_DATABASE")
	if !hashed("promote-database").MatchString(dsnSecret) {
		t.Fatalf("PROMOTE_DATABASE from Secret %q, want the generated promote-database (kustomize renames references)", dsnSecret)
	}
	dsn, err := url.Parse(secretData(dsnSecret, dsnKey))
	if err != nil {
		t.Fatal(err)
	}

	sts := one(t, objs, "StatefulSet", "promote-postgresql")
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("StatefulSet volumeClaimTemplates = %d, want 1 (the data on a PVC)", len(sts.Spec.VolumeClaimTemplates))
	}
	pg := sts.Spec.Template.Spec.Containers[0]
	if sc := sts.Spec.Template.Spec.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("PostgreSQL pod: want runAsNonRoot")
	}
	pgEnv := map[string]string{}
	for _, name := range []string{"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} {
		_, secret, key := pg.env(t, name)
		if !hashed("promote-postgresql").MatchString(secret) {
			t.Fatalf("%s from Secret %q, want the generated promote-postgresql", name, secret)
		}
		pgEnv[name] = secretData(secret, key)
	}
	pgSvc := one(t, objs, "Service", sts.Spec.ServiceName)
	pass, _ := dsn.User.Password()
	got := []string{dsn.Scheme, dsn.User.Username(), pass, dsn.Hostname(), dsn.Port(), strings.TrimPrefix(dsn.Path, "/")}
	want := []string{"postgres", pgEnv["POSTGRES_USER"], pgEnv["POSTGRES_PASSWORD"], pgSvc.Metadata.Name,
		strconv.Itoa(pgSvc.Spec.Ports[0].Port), pgEnv["POSTGRES_DB"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DSN (scheme, user, password, host, port, database) does not reach the PostgreSQL it ships (-want +got):\n%s", diff)
	}
	if pg.port(pgSvc.Spec.Ports[0].TargetPort) != pgSvc.Spec.Ports[0].Port {
		t.Errorf("PostgreSQL Service targetPort %q is not the container's port %d", pgSvc.Spec.Ports[0].TargetPort, pgSvc.Spec.Ports[0].Port)
	}
}

// TestKubernetesMonitored renders the monitored overlay: the trial with the
// monitoring component, whose PodMonitor must scrape every replica of the
// server on the port and path it serves /metrics on, in its namespace.
func TestKubernetesMonitored(t *testing.T) {
	objs := render(t, filepath.Join(root, "deploy", "kubernetes", "overlays", "monitored"))
	for _, o := range objs {
		if o.Kind != "Namespace" && o.Metadata.Namespace != "promote" {
			t.Errorf("%s/%s in namespace %q, want promote", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
	}
	c := checkServer(t, objs)
	dep := one(t, objs, "Deployment", "promote")
	addr, _, _ := c.env(t, "PROMOTE_ADDR")
	_, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)

	pm := one(t, objs, "PodMonitor", "promote")
	if pm.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("PodMonitor apiVersion = %q, want monitoring.coreos.com/v1", pm.APIVersion)
	}
	var spec struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			NamespaceSelector map[string]any `yaml:"namespaceSelector"`
			Endpoints         []struct {
				Port        string `yaml:"port"`
				TargetPort  string `yaml:"targetPort"`
				Path        string `yaml:"path"`
				HonorLabels bool   `yaml:"honorLabels"`
			} `yaml:"podMetricsEndpoints"`
		} `yaml:"spec"`
	}
	reencode(t, pm, &spec)
	if !selects(spec.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels) {
		t.Errorf("PodMonitor selects %v; the pods have %v", spec.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels)
	}
	// Without a namespaceSelector the Operator looks in the PodMonitor's own
	// namespace, which must then be the Deployment's.
	if spec.Spec.NamespaceSelector != nil {
		t.Errorf("PodMonitor namespaceSelector = %v, want none (the PodMonitor's own namespace)", spec.Spec.NamespaceSelector)
	}
	if pm.Metadata.Namespace != dep.Metadata.Namespace {
		t.Errorf("PodMonitor in namespace %q, Deployment in %q", pm.Metadata.Namespace, dep.Metadata.Namespace)
	}
	if len(spec.Spec.Endpoints) != 1 {
		t.Fatalf("PodMonitor podMetricsEndpoints = %d, want 1", len(spec.Spec.Endpoints))
	}
	// The Operator takes port as the name of a container port.
	ep := spec.Spec.Endpoints[0]
	named := slices.ContainsFunc(c.Ports, func(p struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	}) bool {
		return p.Name == ep.Port && p.ContainerPort == port
	})
	if !named || ep.TargetPort != "" || ep.Path != "/metrics" {
		t.Errorf("PodMonitor scrapes port %q (targetPort %q) path %q, want the container's port named for %d and /metrics", ep.Port, ep.TargetPort, ep.Path, port)
	}
	if got, want := ep.Path, dep.Spec.Template.Metadata.Annotations["prometheus.io/path"]; got != want {
		t.Errorf("PodMonitor path %q, pod annotation prometheus.io/path %q: one server, one path", got, want)
	}
	// The rollout queries select the splitter's own env, model and track
	// labels (docs/rollouts.md).
	if !ep.HonorLabels {
		t.Error("PodMonitor honorLabels = false, want true: a target label env would rename the splitter's to exported_env")
	}

	one(t, objs, "PrometheusRule", "promote")
}

// TestKubernetesPrometheusRule checks that the monitoring component's
// PrometheusRule, as rendered, holds exactly the groups of the rule file
// that promtool checks and tests: it is a copy, and a copy that drifts
// alerts on rules nobody tested.
func TestKubernetesPrometheusRule(t *testing.T) {
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if file.Groups == nil {
		t.Fatalf("%s has no groups", rulesFile)
	}
	objs := render(t, filepath.Join(root, "deploy", "kubernetes", "overlays", "monitored"))
	pr := one(t, objs, "PrometheusRule", "promote")
	if pr.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("PrometheusRule apiVersion = %q, want monitoring.coreos.com/v1", pr.APIVersion)
	}
	var rendered struct {
		Spec map[string]any `yaml:"spec"`
	}
	reencode(t, pr, &rendered)
	if keys := slices.Sorted(maps.Keys(rendered.Spec)); !slices.Equal(keys, []string{"groups"}) {
		t.Errorf("PrometheusRule spec keys = %q, want only groups", keys)
	}
	if diff := cmp.Diff(file.Groups, rendered.Spec["groups"]); diff != "" {
		t.Errorf("PrometheusRule spec.groups differ from %s's groups; copy them into deploy/kubernetes/components/monitoring/prometheusrule.yaml (-file +PrometheusRule):\n%s", rulesFile, diff)
	}
}
