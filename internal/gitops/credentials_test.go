package gitops

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestConfigNeverPrinted checks the writer's configuration as a whole:
// the credentials' own redaction is tested in package gitclone.
func TestConfigNeverPrinted(t *testing.T) {
	cfg := Config{Remote: "https://deploy-bot:url-secret@git.example.com/acme/gitops.git", Dir: "/var/lib/promote/gitops",
		Credentials: Credentials{Username: "deploy-bot", Password: "hunter2-password", Token: "ghp_tokensecret"}}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("gitops", "config", cfg)
	for name, out := range map[string]string{"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg.Credentials), "slog": logged.String()} {
		for _, secret := range []string{"hunter2-password", "ghp_tokensecret", "url-secret"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", name, out)
			}
		}
		if !strings.Contains(out, "deploy-bot") {
			t.Errorf("%s hides the user name too: %s", name, out)
		}
	}
}
