package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeWebUI checks that promote serve mounts the web UI beside the
// API: the root redirects to it, it signs in with an API token, and the API
// still answers under /api/v1.
func TestServeWebUI(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	token := createToken(t, data, pipelineFile, "vera", "viewer")
	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	if !strings.Contains(serveErr.String(), "promote web UI on "+server+"/ui/") {
		t.Errorf("start-up lines do not name the UI:\n%s", serveErr.String())
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(server + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d to %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/ui/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=") {
		t.Errorf("GET /ui/ signed out = %d to %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	signInUI(t, c, server, token, "/ui/audit")
	resp, body := get("/ui/audit")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Hash chain verified through #1") {
		t.Errorf("GET /ui/audit = %d, want the chain verified through the token's event:\n%s", resp.StatusCode, body)
	}
	if resp, body := get("/api/v1/models"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /api/v1/models without a token = %d %s, want the API's 401", resp.StatusCode, body)
	}
}

// signInUI signs in to the web UI of server through its sign-in form
// with token, as a browser does, c keeping the session; the form goes on
// to next.
func signInUI(t *testing.T, c *http.Client, server, token, next string) {
	t.Helper()
	resp, err := c.Get(server + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]{64})"`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /ui/login = %d:\n%s", resp.StatusCode, body)
	}
	form := url.Values{"csrf": {string(m[1])}, "token": {token}, "next": {next}}
	req, _ := http.NewRequest(http.MethodPost, server+"/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", server)
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		t.Fatalf("sign in = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestServeUISecureCookies checks that --ui-secure-cookies and
// $PROMOTE_UI_SECURE_COOKIES reach the UI: its cookies are Secure over
// plain HTTP, as behind a proxy that terminates TLS.
func TestServeUISecureCookies(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	pipelineFile := filepath.Join(examples, "pipeline", "promote.yaml")
	tests := []struct {
		name string
		args []string
		env  string
		want bool
	}{
		{"flag", []string{"--ui-secure-cookies"}, "", true},
		{"environment", nil, "true", true},
		{"flag over environment", []string{"--ui-secure-cookies=false"}, "true", false},
		{"neither", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PROMOTE_UI_SECURE_COOKIES", tt.env)
			t.Chdir(t.TempDir())
			server, _ := startServe(t, append([]string{"--data", "data", "--pipeline", pipelineFile, "--artifact-root", examples}, tt.args...)...)
			resp, err := http.Get(server + "/ui/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if len(cookies) == 0 {
				t.Fatalf("GET /ui/login set no cookie")
			}
			for _, c := range cookies {
				if c.Secure != tt.want {
					t.Errorf("cookie %s: Secure = %t, want %t (Set-Cookie %q)", c.Name, c.Secure, tt.want, resp.Header["Set-Cookie"])
				}
			}
		})
	}
	t.Run("not a boolean", func(t *testing.T) {
		t.Setenv("PROMOTE_UI_SECURE_COOKIES", "sometimes")
		t.Chdir(t.TempDir())
		var errOut bytes.Buffer
		code := Main(context.Background(), []string{"serve", "--data", "data", "--pipeline", pipelineFile}, strings.NewReader(""), io.Discard, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), `$PROMOTE_UI_SECURE_COOKIES "sometimes": want true or false`) {
			t.Errorf("serve with PROMOTE_UI_SECURE_COOKIES=sometimes = exit %d: %s; want an error naming it", code, errOut.String())
		}
	})
}
