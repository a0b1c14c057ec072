package agent

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/strictyaml"
	"github.com/promote-ml/promote/promote"
)

// endpointKey is the identity of a model artifact: what a pin's digest
// names, and so what an endpoint serves.
type endpointKey struct{ model, digest string }

// endpointsSettle is how long a new content of the endpoints file must
// stay the same before it is applied. A file written in place can be read
// cut short; most cuts do not parse, but one inside a URL's port or host
// (http://127.0.0.1:90 of http://127.0.0.1:9001) is a good file that routes
// elsewhere. A writer that finishes within this time is caught: the second
// read differs and the file is read again at the next poll.
const endpointsSettle = 200 * time.Millisecond

// endpointsFile is the endpoints file as the last sync read it.
type endpointsFile struct {
	path   string
	read   bool   // the last load read the file
	loaded []byte // what it read

	// wait waits between the two reads of a new content; nil is
	// time.Sleep(endpointsSettle).
	wait func()
}

// changed reports whether the file's content differs from what the last
// load read, or whether it appeared or disappeared since. The file is small
// and read once per poll, which also catches a rewrite within one mtime
// tick that a stat would miss.
func (f *endpointsFile) changed() bool {
	if f.path == "" {
		return false
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return f.read
	}
	return !f.read || !bytes.Equal(data, f.loaded)
}

// load reads and parses the file. A content other than the last one read,
// in a file modified less than endpointsSettle ago, is read twice,
// endpointsSettle apart, and refused when the two differ: the file was
// being written. (An older file is not waited on: a server starting on it
// serves at once.)
func (f *endpointsFile) load() (map[endpointKey]string, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		f.read, f.loaded = false, nil
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	if (!f.read || !bytes.Equal(data, f.loaded)) && f.recent() {
		if f.wait != nil {
			f.wait()
		} else {
			time.Sleep(endpointsSettle)
		}
		again, err := os.ReadFile(f.path)
		if err != nil {
			f.read, f.loaded = false, nil
			return nil, fmt.Errorf("endpoints: %w", err)
		}
		if !bytes.Equal(data, again) {
			return nil, fmt.Errorf("endpoints: %s changed while it was read (%d bytes, then %d %s later); "+
				"it is read again at the next poll. Replace the file with a rename instead of writing it in place",
				f.path, len(data), len(again), endpointsSettle)
		}
	}
	f.read, f.loaded = true, data
	eps, err := ParseEndpoints(f.path, data)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	return eps.byKey(), nil
}

// recent reports whether the file was modified less than endpointsSettle
// ago, or cannot be told.
func (f *endpointsFile) recent() bool {
	st, err := os.Stat(f.path)
	return err != nil || time.Since(st.ModTime()) < endpointsSettle
}

// Endpoint says which local endpoint serves a model artifact.
type Endpoint struct {
	Model  string `json:"model"`
	Digest string `json:"digest"`
	URL    string `json:"url"`
}

// Endpoints is the content of an endpoints file.
type Endpoints []Endpoint

func (eps Endpoints) byKey() map[endpointKey]string {
	m := make(map[endpointKey]string, len(eps))
	for _, e := range eps {
		m[endpointKey{e.Model, e.Digest}] = e.URL
	}
	return m
}

// endpointKeys are the keys of an endpoints entry, all required.
var endpointKeys = []string{"model", "digest", "url"}

// ParseEndpoints reads an endpoints file (YAML, or JSON, which is YAML):
//
//	endpoints:
//	  - model: credit-risk          a model name
//	    digest: sha256:<64 hex>     the artifact's digest, as pinned
//	    url: http://127.0.0.1:9001  the endpoint's base URL
//
// CheckEndpoints reads the endpoints file at path as the agent does, and
// returns what is wrong with it: a file New would refuse.
func CheckEndpoints(path string) error {
	_, err := (&endpointsFile{path: path}).load()
	return err
}

// Every key must be known and every entry complete; the URL is http or
// https with a host and no credentials, query or fragment; a model and
// digest may appear once. Every problem is reported at once, each as
// file:line:column (a *strictyaml.LoadError).
func ParseEndpoints(file string, data []byte) (Endpoints, error) {
	d := &strictyaml.Decoder{File: file}
	root := d.Parse(data)
	if root == nil {
		return nil, d.Err()
	}
	eps := Endpoints{}
	first := map[endpointKey]int{}
	d.Mapping(root, "endpoints file", []string{"endpoints"}, func(_ string, _, v *yaml.Node) {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return
		}
		if v.Kind != yaml.SequenceNode {
			d.Errorf(v, "endpoints: want a list of {model, digest, url}, got %s", strictyaml.KindName(v))
			return
		}
		for i, item := range v.Content {
			what := fmt.Sprintf("endpoints[%d]", i)
			var e Endpoint
			ok, seen := true, map[string]bool{}
			d.Mapping(item, what, endpointKeys, func(key string, _, v *yaml.Node) {
				seen[key] = true
				s, good := d.Str(v, what+"."+key)
				if !good {
					ok = false
					return
				}
				var err error
				switch key {
				case "model":
					e.Model, err = s, promote.ValidateName("model", s)
				case "digest":
					e.Digest, err = s, overlay.ValidateDigest(s)
				case "url":
					var u *url.URL
					if u, err = parseEndpointURL(s); err == nil {
						e.URL = u.String()
					}
				}
				if err != nil {
					d.Errorf(v, "%s.%s: %v", what, key, err)
					ok = false
				}
			})
			if item.Kind != yaml.MappingNode {
				continue
			}
			for _, key := range endpointKeys {
				if !seen[key] {
					d.Errorf(item, "%s: %s is missing", what, key)
					ok = false
				}
			}
			if !ok {
				continue
			}
			k := endpointKey{e.Model, e.Digest}
			if line, dup := first[k]; dup {
				d.Errorf(item, "%s: %s %s is listed already, at line %d", what, e.Model, e.Digest, line)
				continue
			}
			first[k] = item.Line
			eps = append(eps, e)
		}
	})
	if err := d.Err(); err != nil {
		return nil, err
	}
	return eps, nil
}
