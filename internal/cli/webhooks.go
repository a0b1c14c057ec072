package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/strictyaml"
)

// webhookKeys are the keys of a webhooks file entry.
var webhookKeys = []string{"name", "url", "secretFile", "secretEnv", "events", "format"}

// loadWebhooks reads serve's webhooks file (--webhooks):
//
//	webhooks:
//	  - name: ops
//	    url: https://hooks.example.com/promote
//	    secretFile: /run/secrets/promote-webhook   # or secretEnv: NAME
//	    events: [rollout.rolled_back, promotion.awaiting_approval]   # all when left out
//	    format: json                               # or slack
//
// Secrets come from a file or an environment variable, never from the
// file itself. Every problem is reported at once, at its line.
func loadWebhooks(file string, getenv func(string) string) ([]notify.Endpoint, error) {
	data, err := readInput(file, "webhooks file")
	if err != nil {
		return nil, err
	}
	d := &strictyaml.Decoder{File: file}
	root := d.Parse(data)
	if root == nil {
		return nil, d.Err()
	}
	var out []notify.Endpoint
	names := map[string]int{} // the line of each endpoint's name
	d.Mapping(root, "webhooks file", []string{"webhooks"}, func(_ string, _, v *yaml.Node) {
		if v.Kind != yaml.SequenceNode {
			d.Errorf(v, "webhooks: want a list of {name, url, secretFile or secretEnv, events, format}, got %s", strictyaml.KindName(v))
			return
		}
		for i, item := range v.Content {
			what := fmt.Sprintf("webhooks[%d]", i)
			var e notify.Endpoint
			var secretFile, secretEnv string
			d.Mapping(item, what, webhookKeys, func(key string, _, v *yaml.Node) {
				switch key {
				case "name":
					e.Name, _ = d.Str(v, what+".name")
					// The name keys the endpoint's cursor and deliveries in
					// the store: two endpoints cannot share one.
					if line, dup := names[e.Name]; dup && e.Name != "" {
						d.Errorf(item, "%s: name %q is used already, at line %d", what, e.Name, line)
					} else if e.Name != "" {
						names[e.Name] = item.Line
					}
				case "url":
					e.URL, _ = d.Str(v, what+".url")
				case "secretFile":
					secretFile, _ = d.Str(v, what+".secretFile")
				case "secretEnv":
					secretEnv, _ = d.Str(v, what+".secretEnv")
				case "events":
					e.Events = d.Names(v, what+".events")
				case "format":
					e.Format, _ = d.OneOf(v, what+".format", notify.FormatJSON, notify.FormatSlack)
				}
			})
			if item.Kind != yaml.MappingNode {
				continue
			}
			switch {
			case secretFile != "" && secretEnv != "":
				d.Errorf(item, "%s: give secretFile or secretEnv, not both", what)
			case secretFile != "":
				if !filepath.IsAbs(secretFile) {
					secretFile = filepath.Join(filepath.Dir(file), secretFile)
				}
				raw, err := os.ReadFile(secretFile)
				if err != nil {
					d.Errorf(item, "%s.secretFile: %v", what, err)
				}
				e.Secret = []byte(strings.TrimSpace(string(raw)))
			case secretEnv != "":
				if e.Secret = []byte(getenv(secretEnv)); len(e.Secret) == 0 {
					d.Errorf(item, "%s.secretEnv: $%s is empty", what, secretEnv)
				}
			default:
				d.Errorf(item, "%s: a secret is needed (secretFile or secretEnv): receivers check every request's signature", what)
			}
			if err := e.Validate(); err != nil {
				d.Errorf(item, "%s: %v", what, err)
			}
			out = append(out, e)
		}
	})
	if err := d.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
