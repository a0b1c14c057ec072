package overlay

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDesiredStateOfScaffold(t *testing.T) {
	dir := scaffold(t)
	image := DefaultModelImage + "@" + DefaultPin.Digest
	for _, tc := range []struct {
		env      string
		replicas int
	}{
		{"dev", 1},
		{"staging", 2},
		{"prod", 4},
	} {
		t.Run(tc.env, func(t *testing.T) {
			out, err := Render(dir, tc.env)
			if err != nil {
				t.Fatalf("Render(%s): %v", tc.env, err)
			}
			got, err := DesiredState(out)
			if err != nil {
				t.Fatalf("DesiredState: %v", err)
			}
			if len(got) != 1 || !strings.HasPrefix(got[0].ConfigMap, "model-credit-risk-") {
				t.Fatalf("DesiredState = %+v, want one model whose ConfigMap is model-credit-risk-<hash>", got)
			}
			want := []Desired{{Pin: DefaultPin, ConfigMap: got[0].ConfigMap, Workload: "Deployment/model-server", Image: image, Replicas: tc.replicas}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("DesiredState(%s) mismatch (-want +got):\n%s", tc.env, diff)
			}
		})
	}
}

func TestDesiredStateFollowsPin(t *testing.T) {
	dir := scaffold(t)
	p := Pin{Model: "credit-risk", Version: "2", URI: "s3://ml-models/credit-risk/2/model.bin", Digest: "sha256:" + strings.Repeat("b", 64)}
	if _, err := SetPin(dir, "prod", p); err != nil {
		t.Fatalf("SetPin: %v", err)
	}
	out, err := Render(dir, "prod")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	got, err := DesiredState(out)
	if err != nil {
		t.Fatalf("DesiredState: %v", err)
	}
	if len(got) != 1 || got[0].Pin != p || got[0].Image != DefaultModelImage+"@"+p.Digest {
		t.Errorf("DesiredState = %+v, want pin %+v run by %s@%s", got, p, DefaultModelImage, p.Digest)
	}
}

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func configMap(name, model, version, digest string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ` + name + `
data:
  MODEL_NAME: ` + model + `
  MODEL_VERSION: "` + version + `"
  MODEL_URI: s3://models/` + model + `/` + version + `
  MODEL_DIGEST: ` + digest + `
`
}

func TestDesiredState(t *testing.T) {
	pinA := Pin{Model: "fraud", Version: "3", URI: "s3://models/fraud/3", Digest: digestA}
	pinB := Pin{Model: "churn", Version: "7", URI: "s3://models/churn/7", Digest: digestB}
	tests := []struct {
		name    string
		in      string
		want    []Desired
		wantErr string
	}{
		{
			name: "no pinned model",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  LOG_LEVEL: info\n",
			want: []Desired{},
		},
		{
			name: "config without a workload",
			in:   configMap("fraud-cm", "fraud", "3", digestA),
			want: []Desired{{Pin: pinA, ConfigMap: "fraud-cm"}},
		},
		{
			name: "two models sorted, a volume reference, default replicas",
			in: configMap("fraud-cm", "fraud", "3", digestA) + "---\n" + configMap("churn-cm", "churn", "7", digestB) + `---
apiVersion: v1
kind: Pod
metadata:
  name: churn
spec:
  containers:
  - name: m
    image: r.example/churn@` + digestB + `
  volumes:
  - name: cfg
    configMap:
      name: churn-cm
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: fraud
  namespace: risk
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: server
        image: r.example/server:1
        env:
        - name: MODEL_VERSION
          valueFrom:
            configMapKeyRef:
              name: fraud-cm
              key: MODEL_VERSION
      - name: model
        image: r.example/fraud@` + digestA + `
`,
			want: []Desired{
				{Pin: pinB, ConfigMap: "churn-cm", Workload: "Pod/churn", Image: "r.example/churn@" + digestB, Replicas: 1},
				{Pin: pinA, ConfigMap: "fraud-cm", Workload: "StatefulSet/risk/fraud", Image: "r.example/fraud@" + digestA, Replicas: 3},
			},
		},
		{
			name: "a workload at another digest is not the model's",
			in: configMap("fraud-cm", "fraud", "3", digestA) + `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: fraud
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: model
        image: r.example/fraud@` + digestB + `
        envFrom:
        - configMapRef:
            name: fraud-cm
`,
			want: []Desired{{Pin: pinA, ConfigMap: "fraud-cm"}},
		},
		{
			name: "the same pin twice counts once",
			in:   configMap("a", "fraud", "3", digestA) + "---\n" + configMap("b", "fraud", "3", digestA),
			want: []Desired{{Pin: pinA, ConfigMap: "a"}},
		},
		{
			name:    "two pins of one model",
			in:      configMap("a", "fraud", "3", digestA) + "---\n" + configMap("b", "fraud", "4", digestB),
			wantErr: "ConfigMaps a and b pin model fraud differently (3 and 4)",
		},
		{
			name:    "missing keys",
			in:      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: half\ndata:\n  MODEL_NAME: fraud\n  MODEL_VERSION: \"3\"\n",
			wantErr: "ConfigMap/half has MODEL_NAME but no MODEL_URI, MODEL_DIGEST",
		},
		{
			name:    "a value that is not a string",
			in:      strings.Replace(configMap("cm", "fraud", "3", digestA), `"3"`, "3", 1),
			wantErr: "ConfigMap/cm: MODEL_VERSION is 3 (int); want a string",
		},
		{
			name:    "a bad digest",
			in:      configMap("cm", "fraud", "3", "sha256:abc"),
			wantErr: `ConfigMap/cm: digest "sha256:abc": want sha256: and 64 lowercase hex digits`,
		},
		{
			name:    "a document without a name",
			in:      "apiVersion: v1\nkind: ConfigMap\ndata:\n  MODEL_NAME: fraud\n",
			wantErr: "rendered document 1 (ConfigMap/) has no metadata.name",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DesiredState([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DesiredState() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DesiredState(): %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DesiredState() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDesiredState(f *testing.F) {
	f.Add([]byte(configMap("cm", "fraud", "3", digestA)))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  MODEL_NAME: [1]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DesiredState(data)
		if err != nil {
			return
		}
		for _, d := range got {
			if verr := d.Pin.Validate(); verr != nil {
				t.Errorf("DesiredState returned an invalid pin %+v: %v", d.Pin, verr)
			}
		}
	})
}

func TestValidateDigest(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, tt := range []struct {
		d  string
		ok bool
	}{
		{"sha256:" + hex64, true},
		{"sha256:" + hex64[:63], false},
		{"sha256:" + hex64 + "0", false},
		{"sha256:" + strings.ToUpper(hex64), false},
		{"sha256:" + hex64[:63] + "g", false},
		{"sha512:" + hex64, false},
		{hex64, false},
		{"sha256:" + hex64[:62] + "é", false}, // 64 bytes, not 64 digits
		{"", false},
	} {
		err := ValidateDigest(tt.d)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateDigest(%q) = %v, want ok %v", tt.d, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "want sha256: and 64 lowercase hex digits") {
			t.Errorf("ValidateDigest(%q) = %v, want it to say what a digest is", tt.d, err)
		}
	}
}
