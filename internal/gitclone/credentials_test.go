package gitclone

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

func TestCredentialsNeverPrinted(t *testing.T) {
	cred := Credentials{Username: "deploy-bot", Password: "hunter2-password", Token: "ghp_tokensecret"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("gitops", "credentials", cred)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", cred),
		"%+v":  fmt.Sprintf("%+v", cred),
		"%#v":  fmt.Sprintf("%#v", cred),
		"%s":   fmt.Sprintf("%s", cred),
		"slog": logged.String(),
	}
	for name, out := range outputs {
		for _, secret := range []string{"hunter2-password", "ghp_tokensecret", "url-secret"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", name, out)
			}
		}
		if !strings.Contains(out, "deploy-bot") {
			t.Errorf("%s hides the user name too: %s", name, out)
		}
	}
	if !strings.Contains(logged.String(), `"token":"[redacted]"`) {
		t.Errorf("slog output does not say a token is set: %s", logged.String())
	}
}

func TestGitAuth(t *testing.T) {
	tests := []struct {
		name     string
		cred     Credentials
		remote   string
		wantUser string
		wantPass string
		none     bool
	}{
		{"token over https", Credentials{Token: "t"}, "https://github.com/acme/gitops.git", DefaultTokenUsername, "t", false},
		{"token with a user name", Credentials{Username: "oauth2", Token: "t"}, "https://gitlab.com/g/gitops.git", "oauth2", "t", false},
		{"password", Credentials{Username: "u", Password: "p"}, "http://git.local/gitops.git", "u", "p", false},
		{"local path", Credentials{Token: "t"}, "/srv/git/gitops.git", "", "", true},
		{"ssh", Credentials{Token: "t"}, "git@github.com:acme/gitops.git", "", "", true},
		{"none", Credentials{}, "https://github.com/acme/gitops.git", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth, err := tt.cred.AuthMethod(tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			if tt.none {
				if auth != nil {
					t.Errorf("AuthMethod(%s) = %v, want none", tt.remote, auth)
				}
				return
			}
			b, ok := auth.(*githttp.BasicAuth)
			if !ok || b.Username != tt.wantUser || b.Password != tt.wantPass {
				t.Errorf("AuthMethod(%s) = %#v, want basic auth %s", tt.remote, auth, tt.wantUser)
			}
		})
	}
}
