package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// TestEveryRouteRefusesLowerRoles walks the route table: every route is
// public or needs a token, refusing a missing one and, with the same
// answer, so that it does not tell which exists, a well-formed token that
// is unknown and one that was revoked; every read needs the viewer role,
// and every
// write is refused, with a 403 naming the role it needs, to each role
// below it, changing nothing. The request each role sends is one the
// role above would have carried out, so that the role is the only reason
// for the refusal. A route added without an entry here fails the test.
func TestEveryRouteRefusesLowerRoles(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.model("churn")
	// Awaiting two approvals in prod, requested by alice.
	prod := f.promoteTo("churn", "prod").Promotion
	if prod.State != promote.StateAwaitingApproval {
		t.Fatalf("the prod promotion is %s, want awaiting approval", prod.State)
	}
	hold, err := f.client(f.bob).SetHold(ctx, "churn", "1", "staging", "under review")
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := f.client(f.admin).CreateToken(ctx, registry.TokenRequest{Name: "ci-old", Role: promote.RoleSubmitter})
	if err != nil {
		t.Fatal(err)
	}
	// An admin's token, revoked: it opened every route before.
	revoked, gone, err := f.client(f.admin).CreateToken(ctx, registry.TokenRequest{Name: "ci-gone", Role: promote.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client(f.admin).RevokeToken(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	unknown := registry.TokenPrefix + strings.Repeat("a", len(revoked)-len(registry.TokenPrefix))
	const ct = "application/json"
	pr := Prefix + "/promotions/" + prod.ID
	reason := `{"reason":"checked"}`

	public := map[string]bool{
		"GET " + Prefix + "/openapi.json": true, "GET /healthz": true, "GET /readyz": true, "GET /metrics": true,
	}
	// writes are the routes that change something, with the role each
	// needs and a request that the role would have carried out.
	writes := map[string]struct {
		need       promote.Role
		path, body string
	}{
		"POST " + Prefix + "/models":                                   {promote.RoleSubmitter, Prefix + "/models", `{"name":"fraud"}`},
		"POST " + Prefix + "/models/{model}/versions":                  {promote.RoleSubmitter, Prefix + "/models/churn/versions", `{"version":"2","artifact_uri":"s3://m/2","digest":"` + digest2 + `"}`},
		"POST " + Prefix + "/models/{model}/versions/{version}/reject": {promote.RoleApprover, Prefix + "/models/churn/versions/1/reject", reason},
		"POST " + Prefix + "/promotions":                               {promote.RoleSubmitter, Prefix + "/promotions", `{"model":"churn","version":"1","environment":"dev"}`},
		"POST " + Prefix + "/promotions/{id}/approve":                  {promote.RoleApprover, pr + "/approve", `{"digest":"` + digest1 + `"}`},
		"POST " + Prefix + "/promotions/{id}/reject":                   {promote.RoleApprover, pr + "/reject", reason},
		"POST " + Prefix + "/promotions/{id}/cancel":                   {promote.RoleSubmitter, pr + "/cancel", reason},
		"POST " + Prefix + "/rollbacks":                                {promote.RoleApprover, Prefix + "/rollbacks", `{"model":"churn","environment":"dev","reason":"bad"}`},
		"POST " + Prefix + "/rollouts/{id}/pause":                      {promote.RoleApprover, Prefix + "/rollouts/" + prod.ID + "/pause", reason},
		"POST " + Prefix + "/rollouts/{id}/resume":                     {promote.RoleApprover, Prefix + "/rollouts/" + prod.ID + "/resume", reason},
		"POST " + Prefix + "/rollouts/{id}/abort":                      {promote.RoleApprover, Prefix + "/rollouts/" + prod.ID + "/abort", reason},
		"POST " + Prefix + "/rollouts/{id}/promote":                    {promote.RoleApprover, Prefix + "/rollouts/" + prod.ID + "/promote", reason},
		"POST " + Prefix + "/webhooks/deliveries/{id}/resend":          {promote.RoleAdmin, Prefix + "/webhooks/deliveries/dlv_1/resend", ""},
		"POST " + Prefix + "/holds":                                    {promote.RoleApprover, Prefix + "/holds", `{"model":"churn","version":"1","environment":"prod","reason":"wait"}`},
		"POST " + Prefix + "/holds/{id}/clear":                         {promote.RoleApprover, Prefix + "/holds/" + strconv.FormatInt(hold.ID, 10) + "/clear", reason},
		"GET " + Prefix + "/tokens":                                    {promote.RoleAdmin, Prefix + "/tokens", ""},
		"POST " + Prefix + "/tokens":                                   {promote.RoleAdmin, Prefix + "/tokens", `{"name":"x","role":"admin"}`},
		"DELETE " + Prefix + "/tokens/{id}":                            {promote.RoleAdmin, Prefix + "/tokens/" + tok.ID, ""},
	}
	secrets := map[promote.Role]string{promote.RoleViewer: f.vera, promote.RoleSubmitter: f.alice, promote.RoleApprover: f.bob}

	for _, pattern := range f.server.routes {
		method, path, _ := strings.Cut(pattern, " ")
		t.Run(pattern, func(t *testing.T) {
			if public[pattern] {
				if r := f.do(method, path, "", "", nil); r.status != http.StatusOK {
					t.Errorf("%s without a token = %d, want 200: it is public", pattern, r.status)
				}
				return
			}
			w, isWrite := writes[pattern]
			if !isWrite && method != http.MethodGet {
				t.Fatalf("%s is in no table of this test: say which role it needs", pattern)
			}
			target := strings.NewReplacer("{model}", "churn", "{version}", "1", "{id}", prod.ID).Replace(path)
			body, ctype := "", ""
			if isWrite {
				target, body = w.path, w.body
				if body != "" {
					ctype = ct
				}
			}
			send := func(token string) rawResponse {
				if body == "" {
					return f.do(method, target, token, ctype, nil)
				}
				return f.do(method, target, token, ctype, strings.NewReader(body))
			}
			before := f.auditCount()
			if r := send(""); r.status != http.StatusUnauthorized {
				t.Errorf("%s %s without a token = %d %s, want 401", method, target, r.status, r.body)
			}
			var refused []string
			for _, bad := range []struct{ what, secret string }{{"an unknown token", unknown}, {"a revoked token", revoked}} {
				r := send(bad.secret)
				if r.status != http.StatusUnauthorized || r.err.Error.Code != promote.Unauthorized {
					t.Errorf("%s %s with %s = %d %s, want 401", method, target, bad.what, r.status, r.body)
				}
				refused = append(refused, r.err.Error.Message)
			}
			if refused[0] != refused[1] {
				t.Errorf("%s %s tells an unknown token (%q) from a revoked one (%q)", method, target, refused[0], refused[1])
			}
			if !isWrite {
				return
			}
			for _, role := range promote.Roles {
				if role.Allows(w.need) {
					break
				}
				r := send(secrets[role])
				if r.status != http.StatusForbidden || r.err.Error.Code != promote.Forbidden || !strings.Contains(r.err.Error.Message, "needs the "+string(w.need)+" role") {
					t.Errorf("%s %s as a %s = %d %s, want 403 saying it needs the %s role", method, target, role, r.status, r.body, w.need)
				}
			}
			if after := f.auditCount(); after != before {
				t.Errorf("audit events %d → %d: a refused %s changed something", before, after, pattern)
			}
		})
	}
	for pattern := range writes {
		if !f.server.known[pattern] {
			t.Errorf("%s is in this test's table but not a route", pattern)
		}
	}
	// A dry run changes nothing, and a viewer may ask for one.
	before := f.auditCount()
	r := f.do("POST", Prefix+"/promotions", f.vera, ct, strings.NewReader(`{"model":"churn","version":"1","environment":"prod","dry_run":true}`))
	if r.status != http.StatusOK {
		t.Errorf("a viewer's dry run = %d %s, want 200", r.status, r.body)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("audit events %d → %d: a dry run changed something", before, after)
	}
}
