package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/promote-ml/promote/promote"
)

// The body formats an Endpoint can ask for.
const (
	// FormatJSON sends the Event itself as JSON.
	FormatJSON = "json"
	// FormatSlack sends {"text": "..."} for Slack-compatible incoming webhooks.
	FormatSlack = "slack"
)

// MinSecretLen is the shortest signing secret accepted, in bytes.
const MinSecretLen = 16

// Endpoint is one webhook receiver.
type Endpoint struct {
	// Name identifies the endpoint in the delivery log; unique in a Config.
	Name string
	// URL is where events are POSTed; http or https.
	URL string
	// Secret keys the HMAC-SHA256 signature; at least MinSecretLen bytes.
	Secret []byte
	// Events lists the event types the endpoint receives; empty means all.
	Events []string
	// Format is FormatJSON (the default when empty) or FormatSlack.
	Format string
}

// LogValue keeps the secret, and any credentials in the URL, out of logs.
func (e Endpoint) LogValue() slog.Value {
	// Slack's URLs carry their credential in the path, so log the host
	// only; a URL that does not parse is not logged at all.
	u := "(does not parse)"
	if p, err := url.Parse(e.URL); err == nil {
		u = p.Scheme + "://" + p.Host
	}
	return slog.GroupValue(
		slog.String("name", e.Name),
		slog.String("url", u),
		slog.String("format", e.format()),
	)
}

// redactURL is u as logs may show it: its scheme and host, and "/…" for
// the rest, which may hold a credential.
func redactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// Validate reports every problem with e at once, as a promote.Invalid error,
// or returns nil.
func (e Endpoint) Validate() error {
	if ps := e.problems("endpoint " + strconv.Quote(e.Name)); len(ps) > 0 {
		return promote.Errorf(promote.Invalid, "%s", strings.Join(ps, "; "))
	}
	return nil
}

// problems lists every problem with e, each prefixed by where.
func (e Endpoint) problems(where string) []string {
	var ps []string
	if e.Name == "" {
		ps = append(ps, where+": name is empty")
	}
	// The URL is named without its path, query or user: a Slack-style URL
	// carries its credential in the path, and these problems are printed
	// where the server starts, and logged.
	u, err := url.Parse(e.URL)
	switch {
	case e.URL == "":
		ps = append(ps, where+": url is empty")
	case err != nil:
		ps = append(ps, fmt.Sprintf("%s: url does not parse: %v", where, errors.Unwrap(err)))
	case u.Scheme != "http" && u.Scheme != "https":
		ps = append(ps, fmt.Sprintf("%s: url %q must use http or https", where, redactURL(u)))
	case u.Host == "":
		ps = append(ps, fmt.Sprintf("%s: url %q has no host", where, redactURL(u)))
	}
	if len(e.Secret) < MinSecretLen {
		ps = append(ps, fmt.Sprintf("%s: secret is %d bytes, want at least %d", where, len(e.Secret), MinSecretLen))
	}
	for _, t := range e.Events {
		if !KnownEventType(t) {
			ps = append(ps, fmt.Sprintf("%s: unknown event type %q", where, t))
		}
	}
	if e.Format != "" && e.Format != FormatJSON && e.Format != FormatSlack {
		ps = append(ps, fmt.Sprintf("%s: unknown format %q (want %q or %q)", where, e.Format, FormatJSON, FormatSlack))
	}
	return ps
}

// Wants reports whether e subscribes to events of type t.
func (e Endpoint) Wants(t string) bool {
	return len(e.Events) == 0 || slices.Contains(e.Events, t)
}

func (e Endpoint) format() string {
	if e.Format == "" {
		return FormatJSON
	}
	return e.Format
}
