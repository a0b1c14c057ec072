package httpapi

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteMarkdown renders the API reference (docs/api.md) from the OpenAPI
// document, so that the reference and the served document cannot differ.
func WriteMarkdown(w io.Writer) error {
	doc := document()
	var b strings.Builder
	b.WriteString("# API reference\n\n")
	b.WriteString("<!-- Generated from the OpenAPI document by `go test ./internal/httpapi -run TestAPIReference -update`; do not edit. -->\n\n")
	fmt.Fprintf(&b, "%s\n\n", doc.Info.Description)
	b.WriteString("The machine-readable document is served at `GET /api/v1/openapi.json`. The Go client in `internal/httpapi` has one method per route.\n\n")
	type entry struct {
		path, method string
		op           *Operation
	}
	byTag := map[string][]entry{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], entry{path, method, op})
		}
	}
	methodOrder := map[string]int{"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}
	for _, tag := range doc.Tags {
		entries := byTag[tag.Name]
		if len(entries) == 0 {
			continue
		}
		sort.Slice(entries, func(i, j int) bool {
			if entries[i].path != entries[j].path {
				return entries[i].path < entries[j].path
			}
			return methodOrder[entries[i].method] < methodOrder[entries[j].method]
		})
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", tag.Name, tag.Description)
		for _, e := range entries {
			fmt.Fprintf(&b, "### `%s %s`\n\n%s", strings.ToUpper(e.method), e.path, e.op.Summary)
			if e.op.Description != "" {
				fmt.Fprintf(&b, ". %s", strings.TrimSuffix(e.op.Description, "."))
			}
			b.WriteString(".\n\n")
			if e.op.Security != nil && len(*e.op.Security) == 0 {
				b.WriteString("Public: no token needed.\n\n")
			}
			if len(e.op.Parameters) > 0 {
				b.WriteString("| parameter | in | required | description |\n|---|---|---|---|\n")
				for _, p := range e.op.Parameters {
					fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.Name, p.In, yes(p.Required), cell(p.Description))
				}
				b.WriteString("\n")
			}
			if rb := e.op.RequestBody; rb != nil {
				for ct, mt := range rb.Content {
					fmt.Fprintf(&b, "Request body (`%s`): %s.\n\n", ct, schemaName(mt.Schema))
				}
			}
			codes := make([]string, 0, len(e.op.Responses))
			for c := range e.op.Responses {
				codes = append(codes, c)
			}
			sort.Strings(codes)
			b.WriteString("| status | answer |\n|---|---|\n")
			for _, c := range codes {
				r := e.op.Responses[c]
				desc := r.Description
				if r.Ref != "" {
					desc = "error: " + strings.TrimPrefix(r.Ref, "#/components/responses/")
					if cr := doc.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]; cr != nil {
						desc = cr.Description
					}
				}
				for ct, mt := range r.Content {
					desc += fmt.Sprintf(" (`%s`: %s)", ct, schemaName(mt.Schema))
				}
				fmt.Fprintf(&b, "| %s | %s |\n", c, cell(desc))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("## Schemas\n\n")
	names := make([]string, 0, len(doc.Components.Schemas))
	for n := range doc.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := doc.Components.Schemas[n]
		fmt.Fprintf(&b, "### %s\n\n", n)
		if s.Description != "" {
			fmt.Fprintf(&b, "%s\n\n", s.Description)
		}
		if len(s.Properties) == 0 {
			continue
		}
		props := make([]string, 0, len(s.Properties))
		for p := range s.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		b.WriteString("| field | type | required | description |\n|---|---|---|---|\n")
		for _, p := range props {
			ps := s.Properties[p]
			required := false
			for _, r := range s.Required {
				required = required || r == p
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p, schemaName(ps), yes(required), cell(schemaDesc(ps)))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func cell(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

func schemaDesc(s *Schema) string {
	d := s.Description
	if len(s.Enum) > 0 {
		d = strings.TrimSpace(d + " One of: " + strings.Join(s.Enum, ", ") + ".")
	}
	return d
}

// schemaName describes a schema's type briefly: a reference's name, an
// array of one, a map of one, or the JSON type.
func schemaName(s *Schema) string {
	switch {
	case s == nil:
		return "-"
	case s.Ref != "":
		n := s.Ref[strings.LastIndex(s.Ref, "/")+1:]
		return "[" + n + "](#" + strings.ToLower(n) + ")"
	case s.Type == "array":
		return "array of " + schemaName(s.Items)
	case s.Type == "object" && s.AdditionalProperties != nil:
		if as, ok := s.AdditionalProperties.(*Schema); ok {
			return "map of " + schemaName(as)
		}
		return "object"
	case len(s.OneOf) > 0:
		parts := make([]string, len(s.OneOf))
		for i, o := range s.OneOf {
			parts[i] = schemaName(o)
		}
		return strings.Join(parts, " or ")
	case s.Format != "":
		return s.Type + " (" + s.Format + ")"
	case s.Type == "":
		return "any"
	}
	return s.Type
}
