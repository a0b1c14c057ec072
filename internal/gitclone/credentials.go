package gitclone

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Credentials authenticate the writer to the Git host, over HTTPS, and to
// the host's API in pull-request mode. The caller reads them from the
// environment or from files; this package never does. They never reach a
// log: String, GoString and LogValue redact every secret.
type Credentials struct {
	// Username goes with Password, or with Token over HTTPS (default
	// DefaultTokenUsername; GitLab wants "oauth2" for OAuth tokens).
	Username string
	// Password is a basic-auth password for Git over HTTPS.
	Password string
	// Token is an access token: the password of Git over HTTPS and the
	// bearer of API calls (GitHub's Authorization header, GitLab's
	// PRIVATE-TOKEN).
	Token string
}

// DefaultTokenUsername is the user name sent with a token over HTTPS when
// Credentials.Username is empty. GitHub expects it for installation tokens;
// GitLab accepts any name with a personal access token.
const DefaultTokenUsername = "x-access-token"

const redacted = "[redacted]"

// String describes c without its secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("gitclone.Credentials{Username: %q, Password: %s, Token: %s}", c.Username, mask(c.Password), mask(c.Token))
}

// GoString is String, so that %#v redacts too.
func (c Credentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer: the user name, and only whether a
// password and a token are set.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("username", c.Username),
		slog.String("password", mask(c.Password)),
		slog.String("token", mask(c.Token)),
	)
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// empty reports whether c carries no secret.
func (c Credentials) empty() bool { return c.Password == "" && c.Token == "" }

// AuthMethod returns the go-git authentication for remote: HTTP basic auth for
// http(s) remotes, nothing for the others (a local path needs none; SSH
// uses the SSH agent and known_hosts, as git does).
func (c Credentials) AuthMethod(remote string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(remote)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", RedactURL(remote), err)
	}
	if (ep.Protocol != "http" && ep.Protocol != "https") || c.empty() {
		return nil, nil
	}
	if c.Token != "" {
		user := c.Username
		if user == "" {
			user = DefaultTokenUsername
		}
		return &githttp.BasicAuth{Username: user, Password: c.Token}, nil
	}
	return &githttp.BasicAuth{Username: c.Username, Password: c.Password}, nil
}

// RedactURL hides the secret of a URL's user information, so that a
// remote written as https://user:secret@host/repo.git can be shown: the
// password, or over http(s) a user name alone, which is how a token is
// often written (https://TOKEN@github.com/acme/gitops.git). An SSH user
// name (ssh://git@host/…) is no secret and stays.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else if u.Scheme == "http" || u.Scheme == "https" {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

// splitUserinfo returns an http(s) remote without its user information,
// and the basic auth that information carried (nil without any), so that
// a token written into the remote's URL authenticates as it would with git,
// but is neither stored in the clone's configuration nor quoted in the
// errors of the HTTP client, which keep a URL's user name.
func splitUserinfo(remote string) (string, *githttp.BasicAuth) {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return remote, nil
	}
	pass, _ := u.User.Password()
	auth := &githttp.BasicAuth{Username: u.User.Username(), Password: pass}
	u.User = nil
	return u.String(), auth
}
