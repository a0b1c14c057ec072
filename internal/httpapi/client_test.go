package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// TestClientErrorCodes: every error the server renders comes back with its
// code, so promote.ErrorCode works on the client side.
func TestClientErrorCodes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.model("churn")
	tests := []struct {
		name string
		call func() error
		code promote.Code
		msg  string
	}{
		{"not found", func() error { _, err := f.client(f.vera).Model(ctx, "nope"); return err }, promote.NotFound, "nope"},
		{"invalid", func() error { _, err := f.client(f.alice).CreateModel(ctx, "../x", ""); return err }, promote.Invalid, `contains ".."`},
		{"invalid path value", func() error { _, err := f.client(f.vera).Version(ctx, "churn", "../../etc"); return err }, promote.Invalid, `version "../../etc" contains ".."`},
		{"empty path value", func() error { _, err := f.client(f.vera).Versions(ctx, promote.VersionFilter{}); return err }, promote.Invalid, "model name is empty"},
		{"unauthorized", func() error { _, err := f.client("").Models(ctx, promote.ModelFilter{}); return err }, promote.Unauthorized, "missing token"},
		{"forbidden", func() error { _, err := f.client(f.vera).Tokens(ctx); return err }, promote.Forbidden, "admin"},
		{"conflict", func() error { _, err := f.client(f.alice).CreateModel(ctx, "churn", ""); return err }, promote.Conflict, "churn"},
		{"bad metrics", func() error {
			_, err := f.client(f.alice).RegisterVersion(ctx, registry.RegisterRequest{Model: "churn", Version: "2", ArtifactURI: "s3://x", Digest: digest2, Metrics: []byte("accuracy: 1")})
			return err
		}, promote.Invalid, "metrics: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var pe *promote.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("error = %v (code %q), want *promote.Error %s containing %q", err, promote.ErrorCode(err), tt.code, tt.msg)
			}
		})
	}
}

// TestClientMetricsKeepLines: the metrics document travels byte for byte,
// so the server's error names the line of the user's file.
func TestClientMetricsKeepLines(t *testing.T) {
	f := newFixture(t)
	c := f.model("churn")
	_, err := c.RegisterVersion(t.Context(), registry.RegisterRequest{Model: "churn", Version: "2", ArtifactURI: "s3://x", Digest: digest2,
		Metrics: []byte("{\n  \"accuracy\": 0.9,\n  \"f1\": \"high\"\n}")})
	if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "f1") || !strings.Contains(err.Error(), ":3") {
		t.Errorf("RegisterVersion with a bad metric = %v, want invalid naming f1 on line 3", err)
	}
}

// TestClientForeignErrors: an error page that is not ours (a proxy's)
// still maps to a code by its status, with the start of the body.
func TestClientForeignErrors(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		code   promote.Code
	}{
		{502, "<html>Bad Gateway</html>", promote.Internal},
		{404, "not here", promote.NotFound},
		{403, `{"error":{"code":"teapot","message":"odd"}}`, promote.Forbidden},
		{413, "", promote.Invalid},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		}))
		_, err := NewClient(srv.URL, "prm_x", nil).Models(t.Context(), promote.ModelFilter{})
		srv.Close()
		if promote.ErrorCode(err) != tt.code {
			t.Errorf("status %d %q: error %v with code %q, want %s", tt.status, tt.body, err, promote.ErrorCode(err), tt.code)
		}
	}
}

// TestClientBadURL: a base URL that is not one is a clear error.
func TestClientBadURL(t *testing.T) {
	_, err := NewClient("localhost:8080", "x", nil).Models(t.Context(), promote.ModelFilter{})
	if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), `"localhost:8080" is not an absolute`) {
		t.Errorf("Models with a bad URL = %v", err)
	}
}

// TestClientExportCutOff: an export whose stream breaks off, or whose
// trailer counts more events than arrived, is an error.
func TestClientExportCutOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", EventsTrailer)
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, "{\"seq\":1}\n")
		w.Header().Set(EventsTrailer, "2")
	}))
	defer srv.Close()
	var buf bytes.Buffer
	n, err := NewClient(srv.URL, "prm_x", nil).ExportAudit(t.Context(), &buf, 0)
	if err == nil || n != 1 || !strings.Contains(err.Error(), "incomplete: 1 events received, the server sent 2") {
		t.Errorf("ExportAudit = %d, %v; want an incomplete export error", n, err)
	}

	abort := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", EventsTrailer)
		io.WriteString(w, "{\"seq\":1}\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer abort.Close()
	n, err = NewClient(abort.URL, "prm_x", nil).ExportAudit(t.Context(), &buf, 0)
	if err == nil || !strings.Contains(err.Error(), "broke off after 1 events") {
		t.Errorf("ExportAudit of a cut stream = %d, %v; want an error", n, err)
	}
}

// TestTokensOverAPI: an admin creates a token whose secret works once
// shown, lists tokens without secrets, and revokes it.
func TestTokensOverAPI(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	admin := f.client(f.admin)
	secret, tok, err := admin.CreateToken(ctx, registry.TokenRequest{Name: "ci", Role: promote.RoleSubmitter, Groups: []string{"ml"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, registry.TokenPrefix) || tok.Name != "ci" || tok.CreatedBy != "root" {
		t.Errorf("CreateToken = %q, %+v", secret, tok)
	}
	if _, err := f.client(secret).CreateModel(ctx, "by-ci", ""); err != nil {
		t.Errorf("the new token does not work: %v", err)
	}
	r := f.do("GET", "/api/v1/tokens", f.admin, "", nil)
	if r.status != 200 || strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), registry.HashToken(secret)) {
		t.Errorf("GET /tokens = %d, and it shows a secret or its hash", r.status)
	}
	if err := admin.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client(secret).Models(ctx, promote.ModelFilter{}); promote.ErrorCode(err) != promote.Unauthorized {
		t.Errorf("a revoked token reads: %v", err)
	}
	if err := admin.RevokeToken(ctx, "../tok"); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("RevokeToken(../tok) = %v, want invalid", err)
	}
}
