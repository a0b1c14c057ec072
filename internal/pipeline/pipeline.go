// Package pipeline reads promote.yaml: the ordered environments a model
// moves through, with each one's policy, upstream environment, soak time,
// automatic promotion, freeze windows and rollout strategy, and the keys
// trusted to sign artifacts. It parses bytes; the caller reads the files.
package pipeline

import (
	"path"
	_ "time/tzdata" // freeze windows name time zones; do not depend on the host having them

	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/internal/strictyaml"
	"github.com/promote-ml/promote/promote"
)

// APIVersion and Kind identify a pipeline file.
const (
	APIVersion = "promote.dev/v1"
	Kind       = "Pipeline"
)

// Pipeline is a parsed promote.yaml.
type Pipeline struct {
	File         string
	Name         string
	TrustedKeys  []string // public key files, relative to the pipeline file
	Environments []promote.Environment

	// trustedKeyPos is where each of TrustedKeys is written in File.
	trustedKeyPos [][2]int
}

// TrustedKeyPosition returns the line and column at which TrustedKeys[i] is
// written in the pipeline file, so that a key that cannot be used is
// reported where it is listed; 0, 0 when unknown.
func (p *Pipeline) TrustedKeyPosition(i int) (line, col int) {
	if i < 0 || i >= len(p.trustedKeyPos) {
		return 0, 0
	}
	return p.trustedKeyPos[i][0], p.trustedKeyPos[i][1]
}

// Environment returns the environment called name.
func (p *Pipeline) Environment(name string) (*promote.Environment, error) {
	for i := range p.Environments {
		if p.Environments[i].Name == name {
			return &p.Environments[i], nil
		}
	}
	return nil, promote.Errorf(promote.NotFound, "environment %q is not in the pipeline (it has %s)", name, strings.Join(p.Names(), ", "))
}

// Names lists the environments in pipeline order.
func (p *Pipeline) Names() []string {
	out := make([]string, len(p.Environments))
	for i, e := range p.Environments {
		out[i] = e.Name
	}
	return out
}

// AutoPromoted lists the environments with autoPromote, in pipeline order:
// the ones automatic promotion requests promotions into. Parse refuses
// autoPromote on the first environment, so each of them has a From.
func (p *Pipeline) AutoPromoted() []*promote.Environment {
	var out []*promote.Environment
	for i := range p.Environments {
		if p.Environments[i].AutoPromote {
			out = append(out, &p.Environments[i])
		}
	}
	return out
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Parse reads a pipeline file. Every problem is reported at once in a
// *strictyaml.LoadError with file:line:column.
func Parse(file string, data []byte) (*Pipeline, error) {
	d := &strictyaml.Decoder{File: file}
	root := d.Parse(data)
	if root == nil {
		return nil, d.Err()
	}
	p := &Pipeline{File: file}
	var envNode *yaml.Node
	sawKind := false
	d.Mapping(root, "pipeline", []string{"apiVersion", "kind", "metadata", "trustedKeys", "environments"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "apiVersion":
			if s, ok := d.Str(v, "apiVersion"); ok && s != APIVersion {
				d.Errorf(v, "apiVersion: %q is not supported (want %q)", s, APIVersion)
			}
		case "kind":
			sawKind = true
			if s, ok := d.Str(v, "kind"); ok && s != Kind {
				d.Errorf(v, "kind: %q is not a pipeline (want %q)", s, Kind)
			}
		case "metadata":
			d.Mapping(v, "metadata", []string{"name", "description"}, func(key string, _, v *yaml.Node) {
				if key == "name" {
					p.Name, _ = d.Name(v, "metadata.name")
				} else {
					d.Str(v, "metadata.description")
				}
			})
		case "trustedKeys":
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "trustedKeys: want a list of public key files, got %s", strictyaml.KindName(v))
				return
			}
			for i, item := range v.Content {
				if s, ok := d.Str(item, "trustedKeys"); ok {
					// An empty path would name the pipeline's directory.
					if strings.TrimSpace(s) == "" {
						d.Errorf(item, "trustedKeys[%d]: empty; want a public key file's path", i)
						continue
					}
					p.TrustedKeys = append(p.TrustedKeys, s)
					p.trustedKeyPos = append(p.trustedKeyPos, [2]int{item.Line, item.Column})
				}
			}
		case "environments":
			envNode = v
		}
	})
	if !sawKind && root.Kind == yaml.MappingNode {
		d.Errorf(root, "pipeline: kind is missing (want \"kind: %s\")", Kind)
	}
	if envNode == nil {
		if root.Kind == yaml.MappingNode {
			d.Errorf(root, "pipeline: environments is missing (want a list: dev, staging, prod…)")
		}
		return nil, d.Err()
	}
	if envNode.Kind != yaml.SequenceNode || len(envNode.Content) == 0 {
		d.Errorf(envNode, "environments: want a non-empty list of environments, got %s", strictyaml.KindName(envNode))
		return nil, d.Err()
	}
	seen := map[string]int{}
	for i, n := range envNode.Content {
		e := environment(d, n, fmt.Sprintf("environments[%d]", i))
		if e.Name == "" {
			continue
		}
		if line, dup := seen[e.Name]; dup {
			d.Errorf(n, "environments[%d]: environment %q defined twice (first at line %d)", i, e.Name, line)
			continue
		}
		if i == 0 && e.Soak > 0 {
			// The first environment has no upstream to soak in; the
			// setting would be ignored, typically after a reordering
			// that moved the environment it was meant for.
			d.Errorf(valueOf(n, "soak"), "environments[0].soak: the first environment %q has no upstream to soak in; move soak to the environment that comes from another, or leave it out", e.Name)
		}
		if i == 0 && e.AutoPromote {
			// Nothing comes before the first environment to promote
			// from: versions enter it by request only.
			d.Errorf(valueOf(n, "autoPromote"), "environments[0].autoPromote: the first environment %q has no upstream to promote from; move autoPromote to the environment that comes from another, or leave it out", e.Name)
		}
		switch {
		case i == 0 && e.From != "":
			d.Errorf(n, "environments[0]: the first environment %q cannot come from %q", e.Name, e.From)
		case i > 0 && e.From == "":
			d.Errorf(n, "environments[%d]: %s needs from: the environment a version must pass first (e.g. %s)", i, e.Name, p.Environments[len(p.Environments)-1].Name)
		case e.From != "":
			if _, ok := seen[e.From]; !ok {
				d.Errorf(n, "environments[%d]: from %q is not an environment listed before %s", i, e.From, e.Name)
			}
		}
		seen[e.Name] = n.Line
		p.Environments = append(p.Environments, e)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func environment(d *strictyaml.Decoder, n *yaml.Node, what string) promote.Environment {
	var e promote.Environment
	sawPolicy := false
	var overlayNode *yaml.Node
	d.Mapping(n, what, []string{"name", "from", "policy", "soak", "autoPromote", "freeze", "rollout", "overlay"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			if s, ok := d.Str(v, what+".name"); ok {
				if err := promote.ValidateName("environment name", s); err != nil {
					d.Errorf(v, "%s.name: %v", what, err)
					return
				}
				e.Name = s
			}
		case "from":
			e.From, _ = d.Str(v, what+".from")
		case "policy":
			sawPolicy = true
			// An empty path would name the pipeline's directory.
			if s, ok := d.Str(v, what+".policy"); ok && strings.TrimSpace(s) == "" {
				d.Errorf(v, "%s.policy: empty; want the policy file's path", what)
			} else {
				e.Policy = s
			}
		case "soak":
			e.Soak, _ = d.Duration(v, what+".soak")
		case "autoPromote":
			e.AutoPromote, _ = d.Boolean(v, what+".autoPromote")
		case "rollout":
			e.Strategy, _ = d.OneOf(v, what+".rollout", "direct", "canary", "shadow")
		case "overlay":
			e.Overlay, _ = d.Str(v, what+".overlay")
			overlayNode = v
		case "freeze":
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "%s.freeze: want a list of windows, got %s", what, strictyaml.KindName(v))
				return
			}
			for i, w := range v.Content {
				if fw, ok := freezeWindow(d, w, fmt.Sprintf("%s.freeze[%d]", what, i)); ok {
					e.Freeze = append(e.Freeze, fw)
				}
			}
		}
	})
	if n.Kind == yaml.MappingNode {
		if e.Name == "" {
			d.Errorf(n, "%s: name is missing", what)
		}
		if !sawPolicy {
			d.Errorf(n, "%s: policy is missing (the policy file that gates this environment)", what)
		}
	}
	if e.Strategy == "" {
		e.Strategy = "direct"
	}
	// The GitOps writer, the parity check and the local agent work on the
	// layout promote init writes: one overlay per environment at
	// deploy/overlays/<name>. Another path would be silently ignored, so
	// it is refused.
	if want := OverlayDir + "/" + e.Name; overlayNode != nil && e.Name != "" && e.Overlay != "" && path.Clean(e.Overlay) != want {
		d.Errorf(overlayNode, "%s.overlay: %q: Promote keeps each environment's overlay at %s; write that or leave overlay out", what, e.Overlay, want)
	}
	return e
}

// valueOf returns the value of key in the mapping n, or n itself when it
// has none, for an error's position.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

// OverlayDir is where each environment's overlay lives in the GitOps
// repository: OverlayDir/<environment>.
const OverlayDir = "deploy/overlays"

// freezeWindow reads an absolute window (start, end: RFC 3339 times) or a
// weekly one (days, from, to: HH:MM, timezone).
func freezeWindow(d *strictyaml.Decoder, n *yaml.Node, what string) (promote.FreezeWindow, bool) {
	var w promote.FreezeWindow
	var startNode, fromNode, zoneNode *yaml.Node
	ok := true
	timeOf := func(v *yaml.Node, field string) time.Time {
		s, good := d.Str(v, what+"."+field)
		if !good {
			ok = false
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d.Errorf(v, "%s.%s: %q is not an RFC 3339 time such as 2026-12-20T00:00:00Z", what, field, s)
			ok = false
		}
		return t
	}
	clockOf := func(v *yaml.Node, field string) int {
		s, good := d.Str(v, what+"."+field)
		if !good {
			ok = false
			return 0
		}
		t, err := time.Parse("15:04", s)
		if err != nil {
			d.Errorf(v, "%s.%s: %q is not a time of day HH:MM", what, field, s)
			ok = false
			return 0
		}
		return t.Hour()*60 + t.Minute()
	}
	d.Mapping(n, what, []string{"name", "allow", "start", "end", "days", "from", "to", "timezone"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			w.Name, _ = d.Str(v, what+".name")
		case "allow":
			w.Allow, _ = d.Boolean(v, what+".allow")
		case "start":
			startNode = v
			w.Start = timeOf(v, "start")
		case "end":
			w.End = timeOf(v, "end")
		case "from":
			fromNode = v
			w.StartClock = clockOf(v, "from")
		case "to":
			w.EndClock = clockOf(v, "to")
		case "days":
			for _, day := range d.Names(v, what+".days") {
				wd, good := weekdays[strings.ToLower(day)[:min(3, len(day))]]
				if good && len(day) > 3 && !strings.EqualFold(day, wd.String()) {
					good = false // "monkey" is not Monday
				}
				if !good || len(day) < 3 {
					d.Errorf(v, "%s.days: %q is not a day (mon, tue, wed, thu, fri, sat, sun)", what, day)
					ok = false
					continue
				}
				w.Days = append(w.Days, wd)
			}
		case "timezone":
			zoneNode = v
			if s, good := d.Str(v, what+".timezone"); good {
				loc, err := zone(s)
				if err != nil {
					d.Errorf(v, "%s.timezone: %v", what, err)
					ok = false
					return
				}
				w.Location = loc
			}
		}
	})
	if n.Kind != yaml.MappingNode {
		return w, false
	}
	absolute := startNode != nil || !w.End.IsZero()
	weekly := fromNode != nil || len(w.Days) > 0
	switch {
	case absolute && weekly:
		d.Errorf(n, "%s: a window is either absolute (start, end) or weekly (days, from, to), not both", what)
		ok = false
	case absolute && (w.Start.IsZero() || w.End.IsZero()):
		d.Errorf(n, "%s: an absolute window needs both start and end", what)
		ok = false
	case absolute && !w.End.After(w.Start):
		d.Errorf(n, "%s: end must be after start", what)
		ok = false
	case absolute && zoneNode != nil:
		// start and end carry their offsets; a zone beside them would be
		// read as the zone of their wall-clock times, and it is not.
		d.Errorf(zoneNode, "%s.timezone: plays no part in an absolute window, whose start and end carry their UTC offsets; write the offset in them (2026-12-20T00:00:00+01:00) and leave timezone out", what)
		ok = false
	case !absolute && !weekly:
		d.Errorf(n, "%s: give start and end, or days with from and to", what)
		ok = false
	}
	return w, ok
}

// utcOffset matches what people write for a fixed UTC offset: +02:00,
// -5, UTC+2, GMT-05:00.
var utcOffset = regexp.MustCompile(`^(?i:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$`)

// zone loads a weekly window's time zone by its IANA name. "Local", the
// host's own zone, is refused: a window would move with the host it runs
// on. A UTC offset is not a zone; the error says what to write instead.
func zone(name string) (*time.Location, error) {
	if strings.EqualFold(strings.TrimSpace(name), "Local") {
		return nil, fmt.Errorf("%q is the zone of whichever host runs the server; name the zone (e.g. UTC, Europe/Berlin)", name)
	}
	if m := utcOffset.FindStringSubmatch(strings.TrimSpace(name)); m != nil {
		hours, _ := strconv.Atoi(m[2])
		if m[3] == "" || m[3] == "00" {
			// The IANA database names fixed offsets Etc/GMT±N with the
			// sign reversed (POSIX): UTC+2 is Etc/GMT-2.
			sign := "-"
			if m[1] == "-" {
				sign = "+"
			}
			etc := "Etc/GMT" + sign + strconv.Itoa(hours)
			if hours == 0 {
				etc = "UTC"
			}
			if _, err := time.LoadLocation(etc); err == nil {
				return nil, fmt.Errorf("%q is a UTC offset, not a time zone; name the zone (e.g. Europe/Berlin) to follow its daylight saving, or write %s for the fixed offset (the IANA sign is reversed)", name, etc)
			}
		}
		return nil, fmt.Errorf("%q is a UTC offset, not a time zone; name the zone (e.g. Asia/Kolkata)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone (e.g. UTC, Europe/Berlin)", name)
	}
	return loc, nil
}
