package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// documentedRoutes lists the document's operations as mux patterns
// ("GET /api/v1/models").
func documentedRoutes(doc *Document) []string {
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIMatchesRoutes fails when the server registers a route the
// document lacks, or the document has one the server does not register.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := NewServer(nil, Options{})
	registered := slices.Clone(s.routes)
	sort.Strings(registered)
	if diff := cmp.Diff(documentedRoutes(document()), registered); diff != "" {
		t.Errorf("OpenAPI paths (-) differ from the server's routes (+):\n%s", diff)
	}
	if dup := len(registered) - len(slices.Compact(slices.Clone(registered))); dup != 0 {
		t.Errorf("%d routes registered twice", dup)
	}
}

// TestDocumentedRoutesAnswer sends a request to every documented route with
// an admin token and real path values: none may be a 404 or 405 from the
// router, and each status must be one the document lists for the route.
func TestDocumentedRoutesAnswer(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.model("churn")
	p := f.promoteTo("churn", "prod")
	h, err := f.client(f.bob).SetHold(ctx, "churn", "1", "dev", "test")
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := f.client(f.admin).CreateToken(ctx, registry.TokenRequest{Name: "throwaway", Role: promote.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	doc := document()
	for _, route := range documentedRoutes(doc) {
		t.Run(route, func(t *testing.T) {
			method, path, _ := strings.Cut(route, " ")
			o := doc.Paths[path][strings.ToLower(method)]
			id := p.ID
			switch {
			case strings.HasPrefix(path, Prefix+"/holds/"):
				id = strconv.FormatInt(h.ID, 10)
			case strings.HasPrefix(path, Prefix+"/tokens/"):
				id = tok.ID
			}
			url := strings.NewReplacer("{model}", "churn", "{version}", "1", "{id}", id).Replace(path)
			var q []string
			for _, prm := range o.Parameters {
				if prm.In == "query" && prm.Required {
					q = append(q, prm.Name+"=dev")
				}
			}
			if len(q) > 0 {
				url += "?" + strings.Join(q, "&")
			}
			ct, body := "", ""
			if o.RequestBody != nil {
				ct, body = "application/json", "{}"
			}
			r := f.do(method, url, f.admin, ct, strings.NewReader(body))
			if r.status == http.StatusNotFound && strings.Contains(r.err.Error.Message, "no route") || r.status == http.StatusMethodNotAllowed {
				t.Fatalf("%s %s = %d %s: the router does not know a documented route", method, url, r.status, r.body)
			}
			if _, ok := o.Responses[strconv.Itoa(r.status)]; !ok {
				t.Errorf("%s %s = %d %s, a status the document does not list for it", method, url, r.status, r.body)
			}
		})
	}
}

// schemaTypes maps each component schema to the Go type whose JSON it
// describes.
var schemaTypes = map[string]any{
	"Error": ErrorBody{}, "Health": Health{}, "Leader": Leader{}, "Environment": Environment{}, "FreezeWindow": FreezeWindow{},
	"Model": promote.Model{}, "ModelDetail": ModelDetail{}, "Status": registry.Status{}, "Lineage": promote.Lineage{},
	"Signature": promote.Signature{}, "SignatureCheck": promote.SignatureCheck{}, "Version": promote.Version{}, "Live": promote.Live{}, "LiveChange": promote.LiveChange{}, "CommitError": promote.CommitError{},
	"Promotion": promote.Promotion{}, "PromotionView": registry.PromotionView{}, "PromotionDryRun": registry.PromotionView{}, "Approval": promote.Approval{},
	"Decision": policy.Decision{}, "Result": policy.Result{}, "Summary": policy.Summary{}, "Hold": promote.Hold{},
	"AuditEvent": promote.AuditEvent{}, "AuditPolicy": promote.AuditPolicy{}, "AuditMetrics": promote.AuditMetrics{}, "AuditLine": audit.Line{}, "VerifyResult": audit.Result{}, "Break": audit.Break{},
	"Token": promote.Token{}, "TokenCreated": TokenCreated{},
	"CreateModelRequest": CreateModelRequest{}, "RegisterVersionRequest": RegisterVersionRequest{},
	"PromoteRequest": registry.PromoteRequest{}, "ApproveRequest": registry.ApproveRequest{}, "ReasonRequest": ReasonRequest{}, "RolloutOpRequest": RolloutOpRequest{},
	"HoldRequest": HoldRequest{}, "TokenRequest": registry.TokenRequest{},
	"RollbackRequest": registry.RollbackRequest{}, "RollbackView": registry.RollbackView{}, "Rollout": promote.Rollout{}, "Delivery": notify.Delivery{},
	"RolloutSample": promote.RolloutSample{}, "TrackSample": promote.TrackSample{}, "StepNeeds": promote.StepNeeds{}, "RolloutNext": promote.RolloutNext{}, "Plan": registry.Plan{},
}

// notServed lists JSON fields of the Go types that the API leaves out on
// purpose: a promotion's raw decision (base64 in JSON) is served as gate.
var notServed = map[string][]string{"Promotion": {"decision"}, "PromotionView": {"decision"}, "PromotionDryRun": {"decision"}}

// jsonFields lists the JSON field names of a struct type, following
// embedded structs as encoding/json does.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		n, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && n == "" && sf.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(sf.Type)...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if n == "" {
			n = sf.Name
		}
		out = append(out, n)
	}
	return out
}

// TestOpenAPISchemasMatchTypes checks each schema's properties against the
// JSON fields of the Go type it describes, so that the document cannot
// drift from what the server sends and accepts.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := document()
	for name, s := range doc.Components.Schemas {
		v, ok := schemaTypes[name]
		if !ok {
			t.Errorf("schema %s has no Go type in schemaTypes", name)
			continue
		}
		want := jsonFields(reflect.TypeOf(v))
		want = slices.DeleteFunc(want, func(f string) bool { return slices.Contains(notServed[name], f) })
		if name == "Error" {
			want = []string{"error"}
		}
		var got []string
		for p := range s.Properties {
			got = append(got, p)
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("schema %s: JSON fields of %T (-) differ from the properties (+):\n%s", name, v, diff)
		}
		for _, r := range s.Required {
			if _, ok := s.Properties[r]; !ok {
				t.Errorf("schema %s requires %s, which it does not have", name, r)
			}
		}
	}
	for name := range schemaTypes {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schemaTypes names %s, which the document lacks", name)
		}
	}
}

// TestOpenAPIDocument checks the served document: public, valid JSON,
// every $ref resolving, operation IDs unique, every error response with the
// error schema, bearer security.
func TestOpenAPIDocument(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/api/v1/openapi.json", "", "", nil)
	if r.status != 200 {
		t.Fatalf("GET /api/v1/openapi.json without a token = %d %s, want 200", r.status, r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v", doc["openapi"])
	}
	comps := doc["components"].(map[string]any)
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "$ref" {
					ref, _ := c.(string)
					parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
					group, _ := comps[parts[0]].(map[string]any)
					if len(parts) != 2 || group[parts[1]] == nil {
						t.Errorf("%s: $ref %q does not resolve", at, ref)
					}
					continue
				}
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range v {
				walk(c, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")

	ids := map[string]string{}
	for _, route := range documentedRoutes(document()) {
		method, path, _ := strings.Cut(route, " ")
		o := document().Paths[path][strings.ToLower(method)]
		if prev, dup := ids[o.OperationID]; dup {
			t.Errorf("operationId %s used by %s and %s", o.OperationID, prev, route)
		}
		ids[o.OperationID] = route
		public := o.Security != nil && len(*o.Security) == 0
		if strings.HasPrefix(path, Prefix) && path != Prefix+"/openapi.json" && public {
			t.Errorf("%s is documented as public", route)
		}
		if _, ok := o.Responses["401"]; !public && !ok {
			t.Errorf("%s needs a token but documents no 401", route)
		}
	}
	schemes := comps["securitySchemes"].(map[string]any)["bearer"].(map[string]any)
	if schemes["type"] != "http" || schemes["scheme"] != "bearer" {
		t.Errorf("security scheme = %v", schemes)
	}
}

// TestTimeoutIsDocumented runs every documented route on a server whose
// request timeout has passed before the handler starts: the 503 it
// answers must be one the document lists for the route.
func TestTimeoutIsDocumented(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.RequestTimeout = time.Nanosecond })
	doc := document()
	timedOut := 0
	for _, route := range documentedRoutes(doc) {
		method, path, _ := strings.Cut(route, " ")
		o := doc.Paths[path][strings.ToLower(method)]
		if o.Security != nil {
			continue // public routes ask the store nothing, or answer 503 already (readyz)
		}
		url := strings.NewReplacer("{model}", "churn", "{version}", "1", "{id}", "1").Replace(path)
		ct, body := "", ""
		if o.RequestBody != nil {
			ct, body = "application/json", "{}"
		}
		r := f.do(method, url, f.admin, ct, strings.NewReader(body))
		if r.status != http.StatusServiceUnavailable {
			continue // answered before asking anything that waits (a path or body check)
		}
		timedOut++
		if _, ok := o.Responses["503"]; !ok {
			t.Errorf("%s = 503 %s on a timeout, a status the document does not list for it", route, r.err.Error.Message)
		}
	}
	if timedOut == 0 {
		t.Error("no route timed out: the test checked nothing")
	}
}

// The answer to a dry run has no ID: the schema the document gives its 200
// must not require one, nor ask for a name there, or a client that
// validates answers against the document refuses every dry run.
func TestOpenAPIDryRunAnswerHasNoID(t *testing.T) {
	doc := document()
	resp := doc.Paths[Prefix+"/promotions"]["post"].Responses["200"]
	if resp == nil || resp.Content["application/json"].Schema == nil {
		t.Fatal("POST /promotions documents no 200 answer")
	}
	s := resp.Content["application/json"].Schema
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		s = doc.Components.Schemas[name]
	}
	if slices.Contains(s.Required, "id") {
		t.Errorf("the dry run's answer requires id (%v), which it leaves empty", s.Required)
	}
	if id := s.Properties["id"]; id == nil || id.MinLength != nil && *id.MinLength > 0 || id.Pattern != "" {
		t.Errorf("the dry run's answer documents id as %+v, which its empty id does not match", id)
	}
	if s.Properties["dry_run"] == nil || !slices.Contains(s.Required, "dry_run") {
		t.Errorf("the dry run's answer does not document dry_run as always there: %v", s.Required)
	}
}
