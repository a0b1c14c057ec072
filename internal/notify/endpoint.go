package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
	return slog.GroupValue(
		slog.String("name", e.Name),
		slog.String("url", e.origin()),
		slog.String("format", e.format()),
	)
}

// String is what fmt prints for an endpoint (%v, %+v, %s): its name,
// format and the scheme and host of its URL, never the secret nor the
// rest of the URL (a Slack webhook's path is its credential).
func (e Endpoint) String() string {
	return fmt.Sprintf("endpoint %s (%s, %s)", e.Name, e.format(), e.origin())
}

// origin is the scheme and host of the endpoint's URL, "(does not parse)"
// for a URL that does not.
func (e Endpoint) origin() string {
	p, err := url.Parse(e.URL)
	if err != nil {
		return "(does not parse)"
	}
	return p.Scheme + "://" + p.Host
}

// GoString is String, for %#v.
func (e Endpoint) GoString() string { return e.String() }

// redactURL is u as logs may show it: its scheme and host, and "/…" for
// the rest, which may hold a credential.
func redactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// minCredentialLen is the length from which a part of an endpoint's URL
// is taken for a credential where a receiver's answer quotes it: shorter
// parts ("hooks", "v1") are words an answer uses for other things.
const minCredentialLen = 8

// redactCredentials returns text, a receiver's answer, without the parts
// of the endpoint's URL that may be credentials: its user name and
// password, the values of its query and the segments of its path (a
// Slack-style URL's credential), each as written in the URL and decoded,
// when at least minCredentialLen bytes long. Receivers echo what they
// refuse ("token … is not valid"), and the answer goes to the delivery
// log, the log and the API.
func (e Endpoint) redactCredentials(text string) string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return text
	}
	var parts []string
	if u.User != nil {
		p, _ := u.User.Password()
		parts = append(parts, u.User.Username(), p)
	}
	for _, vs := range u.Query() {
		parts = append(parts, vs...)
	}
	parts = append(parts, strings.Split(u.RawQuery, "&")...)
	parts = append(parts, strings.Split(u.Path, "/")...)
	parts = append(parts, strings.Split(u.EscapedPath(), "/")...)
	// Longer parts first, so that one holding another is cut whole.
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	for _, p := range parts {
		if len(p) >= minCredentialLen {
			text = strings.ReplaceAll(text, p, "…")
		}
	}
	return text
}

// quoted is a quoted part of a URL that url.Parse names in its error.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// parseProblem is what url.Parse's err says is wrong, without the part of
// the URL it quotes when that is longer than a character: with the "@"
// left out of https://user:token/…, the token is the "port" it quotes.
// A single character (a space in the host) is kept, to show what to fix.
func parseProblem(err error) string {
	msg := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		msg = inner.Error()
	}
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if s, err := strconv.Unquote(q); err == nil && utf8.RuneCountInString(s) <= 1 {
			return q
		}
		return `"…"`
	})
}

// MaxNameLen bounds an endpoint's name, in bytes.
const MaxNameLen = 200

// CheckName checks an endpoint's name: 1 to MaxNameLen bytes of UTF-8
// without control characters. Anything else is allowed ('/', ':',
// spaces): the name is a key in the store and a query parameter's value,
// escaped as one, never a path. A control character would make a log line
// or a table row lie (a newline), and PostgreSQL's text cannot hold a NUL.
func CheckName(name string) error {
	switch {
	case name == "":
		return promote.Errorf(promote.Invalid, "name is empty")
	case len(name) > MaxNameLen:
		return promote.Errorf(promote.Invalid, "name is %d bytes long; at most %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return promote.Errorf(promote.Invalid, "name %q is not valid UTF-8", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return promote.Errorf(promote.Invalid, "name %q contains a control character", name)
	}
	return nil
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
	if err := CheckName(e.Name); err != nil {
		ps = append(ps, where+": "+err.Error())
	}
	// The URL is named without its path, query or user: a Slack-style URL
	// carries its credential in the path, and these problems are printed
	// where the server starts, and logged.
	u, err := url.Parse(e.URL)
	switch {
	case e.URL == "":
		ps = append(ps, where+": url is empty")
	case err != nil:
		ps = append(ps, fmt.Sprintf("%s: url does not parse: %s", where, parseProblem(err)))
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
