package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// jsonStrict decodes b into v refusing unknown fields.
func jsonStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestBadInput sends each kind of bad or hostile request and checks the
// status, the error's code and message, and that nothing changed: the
// audit log has the same number of events and the models are the same.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	f.model("churn")
	revoked := func() string {
		c := f.client(f.admin)
		secret, tok, err := c.CreateToken(t.Context(), registry.TokenRequest{Name: "temp", Role: promote.RoleSubmitter})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RevokeToken(t.Context(), tok.ID); err != nil {
			t.Fatal(err)
		}
		return secret
	}()
	long := strings.Repeat("a", promote.MaxNameLen+1)
	huge := `{"name":"big","description":"` + strings.Repeat("x", 2<<20) + `"}`
	const ct = "application/json"

	tests := []struct {
		name                    string
		method, path, token, ct string
		body                    string
		status                  int
		code                    promote.Code
		message                 string
	}{
		{"malformed JSON", "POST", "/api/v1/models", f.alice, ct, `{"name": "x" "description": ""}`, 400, promote.Invalid, "malformed JSON at byte 14"},
		{"truncated JSON", "POST", "/api/v1/models", f.alice, ct, `{"name": "x",`, 400, promote.Invalid, "the body ends before the object does"},
		{"empty body", "POST", "/api/v1/models", f.alice, ct, ``, 400, promote.Invalid, "request body is empty"},
		{"not an object", "POST", "/api/v1/models", f.alice, ct, `["x"]`, 400, promote.Invalid, "want a JSON object, got array"},
		{"null", "POST", "/api/v1/holds", f.bob, ct, " null", 400, promote.Invalid, "want a JSON object, got null"},
		{"wrong type", "POST", "/api/v1/models", f.alice, ct, `{"name": 5}`, 400, promote.Invalid, "field name: want a string, got number"},
		{"unknown field", "POST", "/api/v1/models", f.alice, ct, `{"name":"x","actor":"mallory"}`, 400, promote.Invalid, `unknown field "actor"`},
		{"nested unknown field", "POST", "/api/v1/models/churn/versions", f.alice, ct, `{"version":"9","artifact_uri":"s3://x","digest":"` + digest2 + `","lineage":{"commit":"x"}}`, 400, promote.Invalid, `unknown field "commit"`},
		{"trailing data", "POST", "/api/v1/models", f.alice, ct, `{"name":"x"} {"name":"y"}`, 400, promote.Invalid, "data after the JSON object"},
		{"huge body", "POST", "/api/v1/models", f.alice, ct, huge, 413, promote.Invalid, "limit of 1048576 bytes (1 MiB)"},
		{"empty name", "POST", "/api/v1/models", f.alice, ct, `{"name":""}`, 400, promote.Invalid, "model name is empty"},
		{"long name", "POST", "/api/v1/models", f.alice, ct, `{"name":"` + long + `"}`, 400, promote.Invalid, "is 129 characters long; at most 128"},
		{"path-like name", "POST", "/api/v1/models", f.alice, ct, `{"name":"../x"}`, 400, promote.Invalid, `model name "../x" contains ".."`},
		{"slash in name", "POST", "/api/v1/models", f.alice, ct, `{"name":"a/b"}`, 400, promote.Invalid, `model name "a/b": only letters`},
		{"path-like path", "GET", "/api/v1/models/..%2Fx", f.vera, "", "", 400, promote.Invalid, `model name "../x" contains ".."`},
		{"path-like version", "GET", "/api/v1/models/churn/versions/..%2F..%2Fetc", f.vera, "", "", 400, promote.Invalid, `version "../../etc" contains ".."`},
		{"long path value", "GET", "/api/v1/models/" + long + "/versions", f.vera, "", "", 400, promote.Invalid, "model name is 129 characters long"},
		{"path-like promotion", "POST", "/api/v1/promotions/..%2Fx/approve", f.bob, ct, `{"digest":"` + digest1 + `"}`, 400, promote.Invalid, `promotion id "../x" contains ".."`},
		{"reason without override", "POST", "/api/v1/promotions", f.alice, ct, `{"model":"churn","version":"1","environment":"dev","reason":"because"}`, 400, promote.Invalid, "a reason is recorded only with override"},
		{"path-like in promote body", "POST", "/api/v1/promotions", f.alice, ct, `{"model":"churn","version":"1","environment":"../prod"}`, 400, promote.Invalid, `environment "../prod" contains ".."`},
		{"path-like hold", "POST", "/api/v1/holds/..%2F1/clear", f.bob, ct, `{"reason":"x"}`, 400, promote.Invalid, `hold id "../1" is not a positive integer`},
		{"model differs", "POST", "/api/v1/models/churn/versions", f.alice, ct, `{"model":"other","version":"9","artifact_uri":"s3://x","digest":"` + digest2 + `"}`, 400, promote.Invalid, `model "other" in the body differs`},
		{"metrics not an object", "POST", "/api/v1/models/churn/versions", f.alice, ct, `{"version":"9","artifact_uri":"s3://x","digest":"` + digest2 + `","metrics":[1]}`, 400, promote.Invalid, "field metrics: want a JSON object"},
		{"bad metrics", "POST", "/api/v1/models/churn/versions", f.alice, ct, `{"version":"9","artifact_uri":"s3://x","digest":"` + digest2 + `","metrics":{"accuracy":"high"}}`, 400, promote.Invalid, "accuracy"},
		{"negative size", "POST", "/api/v1/models/churn/versions", f.alice, ct, `{"version":"9","artifact_uri":"s3://x","digest":"` + digest2 + `","size":-5}`, 400, promote.Invalid, "size is -5"},
		{"bad digest", "POST", "/api/v1/models/churn/versions", f.alice, ct, `{"version":"9","artifact_uri":"s3://x","digest":"md5:abc"}`, 400, promote.Invalid, `digest "md5:abc" is not sha256:`},
		{"duplicate model", "POST", "/api/v1/models", f.alice, ct, `{"name":"churn"}`, 409, promote.Conflict, "churn"},
		{"missing token", "POST", "/api/v1/models", "", ct, `{"name":"x"}`, 401, promote.Unauthorized, "missing token"},
		{"missing token on read", "GET", "/api/v1/models", "", "", "", 401, promote.Unauthorized, "missing token"},
		{"wrong token", "POST", "/api/v1/models", "prm_abcdefghijklmnop", ct, `{"name":"x"}`, 401, promote.Unauthorized, "invalid or revoked token"},
		{"not a token", "GET", "/api/v1/models", "hunter2", "", "", 401, promote.Unauthorized, "missing or malformed token"},
		{"revoked token", "POST", "/api/v1/models", revoked, ct, `{"name":"x"}`, 401, promote.Unauthorized, "invalid or revoked token"},
		{"viewer writes", "POST", "/api/v1/models", f.vera, ct, `{"name":"x"}`, 403, promote.Forbidden, "creating a model needs the submitter role; vera has viewer"},
		{"submitter makes tokens", "POST", "/api/v1/tokens", f.alice, ct, `{"name":"x","role":"admin"}`, 403, promote.Forbidden, "needs the admin role"},
		{"submitter lists tokens", "GET", "/api/v1/tokens", f.alice, "", "", 403, promote.Forbidden, "needs the admin role"},
		{"bad role", "POST", "/api/v1/tokens", f.admin, ct, `{"name":"x","role":"root"}`, 400, promote.Invalid, `role "root" is not one of`},
		{"wrong content type", "POST", "/api/v1/models", f.alice, "text/plain", `{"name":"x"}`, 415, promote.Invalid, "must be application/json (Content-Type is text/plain)"},
		{"no content type", "POST", "/api/v1/models", f.alice, "", `{"name":"x"}`, 415, promote.Invalid, "Content-Type is none"},
		{"form content type", "POST", "/api/v1/models", f.alice, "application/x-www-form-urlencoded", `name=x`, 415, promote.Invalid, "must be application/json"},
		{"unknown route", "GET", "/api/v1/nope", f.vera, "", "", 404, promote.NotFound, "no route GET /api/v1/nope"},
		{"unknown route outside the API", "GET", "/wp-login.php", "", "", "", 404, promote.NotFound, "no route GET /wp-login.php"},
		{"wrong method", "PUT", "/api/v1/models", f.alice, ct, `{}`, 405, promote.Invalid, "method not allowed"},
		{"unknown model", "GET", "/api/v1/models/nope", f.vera, "", "", 404, promote.NotFound, "nope"},
		{"unknown environment", "GET", "/api/v1/models/churn/history?environment=qa", f.vera, "", "", 404, promote.NotFound, `environment "qa" is not in the pipeline`},
		{"history without environment", "GET", "/api/v1/models/churn/history", f.vera, "", "", 400, promote.Invalid, "environment is required"},
		{"unknown query parameter", "GET", "/api/v1/promotions?enviroment=prod", f.vera, "", "", 400, promote.Invalid, `unknown query parameter "enviroment"`},
		{"query parameter on a write", "POST", "/api/v1/holds?dry_run=true", f.bob, ct, `{"model":"churn","version":"1","environment":"dev","reason":"x"}`, 400, promote.Invalid, `unknown query parameter "dry_run": this route takes none`},
		{"repeated query parameter", "GET", "/api/v1/promotions?model=a&model=b", f.vera, "", "", 400, promote.Invalid, `"model" given 2 times`},
		{"bad limit", "GET", "/api/v1/promotions?limit=0", f.vera, "", "", 400, promote.Invalid, "limit"},
		{"huge limit", "GET", "/api/v1/audit?limit=100000", f.vera, "", "", 400, promote.Invalid, "from 1 to 1000"},
		{"bad state", "GET", "/api/v1/promotions?state=done", f.vera, "", "", 400, promote.Invalid, `"done" is not a state`},
		{"bad boolean", "GET", "/api/v1/holds?all=maybe", f.vera, "", "", 400, promote.Invalid, `"maybe" is not true or false`},
		{"bad before", "GET", "/api/v1/audit?before=-1", f.vera, "", "", 400, promote.Invalid, "before"},
		{"bad after", "GET", "/api/v1/audit?after=x", f.vera, "", "", 400, promote.Invalid, "after"},
		{"versions limit 0", "GET", "/api/v1/models/churn/versions?limit=0", f.vera, "", "", 400, promote.Invalid, `query parameter limit: "0" is not a number from 1 to 1000`},
		{"versions huge limit", "GET", "/api/v1/models/churn/versions?limit=1001", f.vera, "", "", 400, promote.Invalid, `query parameter limit: "1001" is not a number from 1 to 1000`},
		{"versions negative before", "GET", "/api/v1/models/churn/versions?before=-1", f.vera, "", "", 400, promote.Invalid, `query parameter before: "-1" is not a non-negative integer`},
		{"versions bad after", "GET", "/api/v1/models/churn/versions?after=x", f.vera, "", "", 400, promote.Invalid, `query parameter after: "x" is not a non-negative integer`},
		{"versions unknown parameter", "GET", "/api/v1/models/churn/versions?page=2", f.vera, "", "", 400, promote.Invalid, `unknown query parameter "page" (known: before, after, limit)`},
		{"models limit 0", "GET", "/api/v1/models?limit=0", f.vera, "", "", 400, promote.Invalid, `query parameter limit: "0" is not a number from 1 to 1000`},
		{"models negative before", "GET", "/api/v1/models?before=-1", f.vera, "", "", 400, promote.Invalid, `query parameter before: "-1" is not a non-negative integer`},
		{"models unknown parameter", "GET", "/api/v1/models?page=2", f.vera, "", "", 400, promote.Invalid, `unknown query parameter "page" (known: before, after, limit)`},
		{"promotions limit 1001", "GET", "/api/v1/promotions?limit=1001", f.vera, "", "", 400, promote.Invalid, `query parameter limit: "1001" is not a number from 1 to 1000`},
		{"promotions negative before", "GET", "/api/v1/promotions?before=-1", f.vera, "", "", 400, promote.Invalid, `query parameter before: "-1" is not a non-negative integer`},
		{"promotions bad after", "GET", "/api/v1/promotions?model=churn&after=1.5", f.vera, "", "", 400, promote.Invalid, `query parameter after: "1.5" is not a non-negative integer`},
		{"holds limit 0", "GET", "/api/v1/holds?limit=0", f.vera, "", "", 400, promote.Invalid, `query parameter limit: "0" is not a number from 1 to 1000`},
		{"holds negative after", "GET", "/api/v1/holds?all=true&after=-3", f.vera, "", "", 400, promote.Invalid, `query parameter after: "-3" is not a non-negative integer`},
		{"holds bad before", "GET", "/api/v1/holds?before=ten", f.vera, "", "", 400, promote.Invalid, `query parameter before: "ten" is not a non-negative integer`},
		{"holds unknown parameter", "GET", "/api/v1/holds?page=2", f.vera, "", "", 400, promote.Invalid, `unknown query parameter "page" (known: model, version, environment, all, before, after, limit)`},
		{"rollouts limit -1", "GET", "/api/v1/rollouts?limit=-1", f.vera, "", "", 400, promote.Invalid, `query parameter limit: "-1" is not a number from 1 to 1000`},
		{"rollouts negative before", "GET", "/api/v1/rollouts?before=-9", f.vera, "", "", 400, promote.Invalid, `query parameter before: "-9" is not a non-negative integer`},
		{"rollouts huge after", "GET", "/api/v1/rollouts?after=99999999999999999999", f.vera, "", "", 400, promote.Invalid, `query parameter after: "99999999999999999999" is not a non-negative integer`},
		{"rollouts unknown parameter", "GET", "/api/v1/rollouts?cursor=5", f.vera, "", "", 400, promote.Invalid, `unknown query parameter "cursor" (known: model, version, environment, active, before, after, limit)`},
		{"long actor", "GET", "/api/v1/audit?actor=" + strings.Repeat("a", promote.MaxNameLen+1), f.vera, "", "", 400, promote.Invalid, "actor"},
		{"path-like query", "GET", "/api/v1/promotions?model=..%2Fx", f.vera, "", "", 400, promote.Invalid, `model name "../x" contains ".."`},
		{"unknown promotion", "POST", "/api/v1/promotions/pr_nope/approve", f.bob, ct, `{"digest":"` + digest1 + `"}`, 404, promote.NotFound, "pr_nope"},
		{"reject without reason", "POST", "/api/v1/models/churn/versions/1/reject", f.bob, ct, `{}`, 400, promote.Invalid, "a rejection needs a reason"},
		{"hold without reason", "POST", "/api/v1/holds", f.bob, ct, `{"model":"churn","version":"1","environment":"dev","reason":" "}`, 400, promote.Invalid, "a hold needs a reason"},
		{"revoke unknown token", "DELETE", "/api/v1/tokens/tok_nope", f.admin, "", "", 404, promote.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			beforeEvents := f.auditCount()
			beforeModels, err := f.svc.Models(t.Context(), promote.ModelFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := f.do(tt.method, tt.path, tt.token, tt.ct, body)
			if r.status != tt.status || r.err.Error.Code != tt.code || !strings.Contains(r.err.Error.Message, tt.message) {
				t.Errorf("%s %s = %d %s/%q, want %d %s containing %q", tt.method, tt.path, r.status, r.err.Error.Code, r.err.Error.Message, tt.status, tt.code, tt.message)
			}
			if got := r.header.Get("WWW-Authenticate"); tt.status == 401 && got != `Bearer realm="promote"` {
				t.Errorf("%s %s = 401 with WWW-Authenticate %q, want the Bearer challenge", tt.method, tt.path, got)
			}
			if after := f.auditCount(); after != beforeEvents {
				t.Errorf("audit events %d → %d: a refused request changed something", beforeEvents, after)
			}
			afterModels, err := f.svc.Models(t.Context(), promote.ModelFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(afterModels) != len(beforeModels) {
				t.Errorf("models %d → %d", len(beforeModels), len(afterModels))
			}
		})
	}
}

// TestWrongMethodAllow: a 405 says which methods the path takes.
func TestWrongMethodAllow(t *testing.T) {
	f := newFixture(t)
	r := f.do("DELETE", "/api/v1/models", f.admin, "", nil)
	if r.status != 405 || !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("DELETE /api/v1/models = %d, Allow %q; want 405 allowing GET, POST", r.status, r.header.Get("Allow"))
	}
}

// TestHugeChunkedBody: a body without a length is cut at the limit as it
// is read.
func TestHugeChunkedBody(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBodyBytes = 1024 })
	before := f.auditCount()
	body := io.MultiReader(strings.NewReader(`{"name":"big","description":"`), strings.NewReader(strings.Repeat("x", 4096)), strings.NewReader(`"}`))
	r := f.do("POST", "/api/v1/models", f.alice, "application/json", body)
	if r.status != 413 || !strings.Contains(r.err.Error.Message, "limit of 1024 bytes (1 KiB)") {
		t.Errorf("chunked huge body = %d %s, want 413 naming the 1 KiB limit", r.status, r.body)
	}
	if after := f.auditCount(); after != before {
		t.Errorf("audit events %d → %d", before, after)
	}
}
