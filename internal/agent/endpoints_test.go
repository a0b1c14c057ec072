package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/strictyaml"
)

var (
	digest1 = "sha256:" + strings.Repeat("1", 64)
	digest2 = "sha256:" + strings.Repeat("2", 64)
)

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Endpoints
	}{
		{
			name: "yaml",
			in: "# where each artifact is served\nendpoints:\n" +
				"  - model: credit-risk\n    digest: " + digest1 + "\n    url: http://127.0.0.1:9001\n" +
				"  - model: credit-risk\n    digest: " + digest2 + "\n    url: https://models.local/credit-risk/2/\n",
			want: Endpoints{
				{Model: "credit-risk", Digest: digest1, URL: "http://127.0.0.1:9001"},
				{Model: "credit-risk", Digest: digest2, URL: "https://models.local/credit-risk/2/"},
			},
		},
		{
			name: "json",
			in:   `{"endpoints": [{"model": "fraud", "digest": "` + digest1 + `", "url": "http://[::1]:8080"}]}`,
			want: Endpoints{{Model: "fraud", Digest: digest1, URL: "http://[::1]:8080"}},
		},
		{name: "empty list", in: "endpoints: []\n", want: Endpoints{}},
		{name: "null list", in: "endpoints:\n", want: Endpoints{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEndpoints("endpoints.yaml", []byte(tc.in))
			if err != nil {
				t.Fatalf("ParseEndpoints: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseEndpoints mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEndpointsErrors(t *testing.T) {
	entry := func(lines ...string) string {
		return "endpoints:\n  - " + strings.Join(lines, "\n    ") + "\n"
	}
	tests := []struct {
		name string
		in   string
		want []string // the problems, in order
	}{
		{
			name: "unknown key with a suggestion",
			in:   entry("model: credit-risk", "digest: "+digest1, "urll: http://127.0.0.1:9001"),
			want: []string{
				`e.yaml:4:5: endpoints[0]: unknown key "urll" (did you mean "url"?)`,
				`e.yaml:2:5: endpoints[0]: url is missing`,
			},
		},
		{
			name: "unknown top-level key",
			in:   "endpoint:\n  - model: x\n",
			want: []string{`e.yaml:1:1: endpoints file: unknown key "endpoint" (did you mean "endpoints"?)`},
		},
		{
			name: "bad URLs",
			in: "endpoints:\n" +
				"  - {model: a, digest: " + digest1 + ", url: ftp://host/x}\n" +
				"  - {model: b, digest: " + digest1 + ", url: 'http://'}\n" +
				"  - {model: c, digest: " + digest1 + ", url: 'http://user:secret@host'}\n" +
				"  - {model: d, digest: " + digest1 + ", url: 'http://host/?q=1'}\n" +
				"  - {model: e, digest: " + digest1 + ", url: 'http://host:99999999999/%zz'}\n" +
				"  - {model: f, digest: " + digest1 + ", url: 9001}\n",
			want: []string{
				`e.yaml:2:102: endpoints[0].url: "ftp://host/x": want an http:// or https:// URL`,
				`e.yaml:3:102: endpoints[1].url: "http://" has no host`,
				`e.yaml:4:102: endpoints[2].url: "http://user:xxxxx@host" carries credentials; endpoints are local and take none`,
				`e.yaml:5:102: endpoints[3].url: "http://host/?q=1" has a query or fragment; want a base URL`,
				`e.yaml:6:102: endpoints[4].url: "http://host:99999999999/%zz" is not a URL: parse "http://host:99999999999/%zz": invalid URL escape "%zz"`,
				`e.yaml:7:102: endpoints[5].url: "9001": want an http:// or https:// URL`,
			},
		},
		{
			name: "bad digest and model",
			in:   entry("model: credit risk", "digest: sha256:ABC", "url: http://127.0.0.1:9001"),
			want: []string{
				`e.yaml:2:12: endpoints[0].model: model "credit risk": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`,
				`e.yaml:3:13: endpoints[0].digest: digest "sha256:ABC": want sha256: and 64 lowercase hex digits`,
			},
		},
		{
			name: "listed twice",
			in: "endpoints:\n" +
				"  - {model: a, digest: " + digest1 + ", url: 'http://h:1'}\n" +
				"  - {model: a, digest: " + digest1 + ", url: 'http://h:2'}\n",
			want: []string{`e.yaml:3:5: endpoints[1]: a ` + digest1 + ` is listed already, at line 2`},
		},
		{
			name: "not a list",
			in:   "endpoints:\n  model: a\n",
			want: []string{`e.yaml:2:3: endpoints: want a list of {model, digest, url}, got a mapping`},
		},
		{
			name: "entry not a mapping",
			in:   "endpoints:\n  - http://h:1\n",
			want: []string{`e.yaml:2:5: endpoints[0]: want a mapping, got "http://h:1"`},
		},
		{
			name: "not a string",
			in:   entry("model: [a]", "digest: "+digest1, "url: http://h:1"),
			want: []string{`e.yaml:2:12: endpoints[0].model: want a string, got a list`},
		},
		{
			name: "empty file",
			in:   "",
			want: []string{`e.yaml: file is empty`},
		},
		{
			name: "syntax error",
			in:   "endpoints:\n  - model: a\n  digest: b\n",
			want: []string{`e.yaml:1:1: did not find expected '-' indicator`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEndpoints("e.yaml", []byte(tc.in))
			var le *strictyaml.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("ParseEndpoints() = %v, %v; want a *strictyaml.LoadError", got, err)
			}
			var problems []string
			for _, p := range le.Problems {
				problems = append(problems, p.String())
			}
			if diff := cmp.Diff(tc.want, problems); diff != "" {
				t.Errorf("ParseEndpoints() problems (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseEndpoints(f *testing.F) {
	f.Add([]byte("endpoints:\n  - model: credit-risk\n    digest: " + digest1 + "\n    url: http://127.0.0.1:9001\n"))
	f.Add([]byte(`{"endpoints": [{"model": "a", "digest": "x", "url": "http://h"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		eps, err := ParseEndpoints("f.yaml", data)
		if err != nil {
			return
		}
		for _, e := range eps {
			if _, err := parseEndpointURL(e.URL); err != nil {
				t.Errorf("ParseEndpoints accepted %+v: %v", e, err)
			}
		}
	})
}

// TestEndpointsFileWrittenInPlace reads an endpoints file while it is
// being written in place, cut inside the second entry's port: the cut file
// parses and would route the second artifact to port 90.
// It must not be applied; the complete file is, at the next read.
func TestEndpointsFileWrittenInPlace(t *testing.T) {
	full := "endpoints:\n" +
		"  - model: credit-risk\n    digest: " + digest1 + "\n    url: http://127.0.0.1:9001\n" +
		"  - model: credit-risk\n    digest: " + digest2 + "\n    url: http://127.0.0.1:9002\n"
	cut := strings.TrimSuffix(full, "02\n")
	if _, err := ParseEndpoints("endpoints.yaml", []byte(cut)); err != nil {
		t.Fatalf("the cut file must parse for this test to mean anything: %v", err)
	}
	path := filepath.Join(t.TempDir(), "endpoints.yaml")
	if err := os.WriteFile(path, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	// The writer finishes while the file settles.
	f := &endpointsFile{path: path, wait: func() {
		if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
			t.Error(err)
		}
	}}
	got, err := f.load()
	if err == nil || !strings.Contains(err.Error(), "changed while it was read") || !strings.Contains(err.Error(), "rename") {
		t.Fatalf("load of a file being written = %v, %v; want an error saying it changed while read and to rename", got, err)
	}
	if !f.changed() {
		t.Error("changed() = false after a refused read: the next poll would not read the file again")
	}
	f.wait = func() {}
	got, err = f.load()
	if err != nil {
		t.Fatalf("load of the complete file: %v", err)
	}
	want := map[endpointKey]string{
		{"credit-risk", digest1}: "http://127.0.0.1:9001",
		{"credit-risk", digest2}: "http://127.0.0.1:9002",
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(endpointKey{})); diff != "" {
		t.Errorf("load mismatch (-want +got):\n%s", diff)
	}
	// The same content again is not waited on, nor a new content in a file
	// last modified longer ago than the settling time (a server starting
	// on its endpoints file serves at once).
	f.wait = func() { t.Error("an unchanged file, or one modified long ago, was waited on") }
	if _, err := f.load(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.load(); err != nil {
		t.Fatal(err)
	}
}
