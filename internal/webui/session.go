package webui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// Cookie names. The session cookie holds only a random session ID: the
// session is kept in the store, found by the ID's hash, and the token
// itself is never kept.
const (
	sessionCookie = "promote_session"
	loginCookie   = "promote_login"
)

// loginTTL bounds how long a sign-in form stays usable.
const loginTTL = time.Hour

// session is a signed-in person: who they are and the token their forms
// must carry.
type session struct {
	id string
	// tokenHash is the hash of the token it signed in with (never the
	// secret), checked again at every request.
	tokenHash string
	who       promote.Principal
	csrf      string
	expires   time.Time
}

// expiredSweep bounds how many expired sessions a sign-in deletes, so
// that its cost stays bounded however many sessions expired meanwhile.
const expiredSweep = 100

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sessionKey is what the store keeps of a session ID: its SHA-256, so
// that someone who reads the table cannot take a session over.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// createSession stores a new session in the store, which every replica
// shares, after sweeping some of the expired ones.
func (u *UI) createSession(ctx context.Context, tokenHash string, who promote.Principal) (*session, error) {
	now := u.now()
	s := &session{id: randomHex(32), tokenHash: tokenHash, who: who, csrf: randomHex(32), expires: now.Add(u.opts.SessionTTL)}
	err := u.store.Update(ctx, func(tx promote.Tx) error {
		if _, err := tx.DeleteExpiredSessions(now, expiredSweep); err != nil {
			return err
		}
		return tx.CreateSession(promote.Session{IDHash: sessionKey(s.id), TokenHash: tokenHash, CSRF: s.csrf,
			CreatedAt: now, ExpiresAt: s.expires})
	})
	if err != nil {
		return nil, fmt.Errorf("start a session: %w", err)
	}
	return s, nil
}

// deleteSession ends a session on every replica.
func (u *UI) deleteSession(ctx context.Context, id string) error {
	return u.store.Update(ctx, func(tx promote.Tx) error { return tx.DeleteSession(sessionKey(id)) })
}

// session returns the request's session, or nil. The session is read from
// the store (another replica may have opened or ended it) and its token is
// checked again (the registry caches the answer for a few seconds): a
// session whose token was revoked ends, and a changed role or group of the
// token's principal applies at once.
func (u *UI) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 64 {
		return nil
	}
	ctx := r.Context()
	var stored promote.Session
	err = u.store.View(ctx, func(tx promote.Tx) (err error) {
		stored, err = tx.Session(sessionKey(c.Value), u.now())
		return err
	})
	switch {
	case promote.ErrorCode(err) == promote.NotFound:
		return nil
	case err != nil:
		// Fail closed: without the store no page can be served anyway.
		u.log.Error("webui: reading a session", "error", err)
		return nil
	}
	who, err := u.svc.AuthenticateHash(ctx, stored.TokenHash)
	switch {
	case promote.ErrorCode(err) == promote.Unauthorized:
		if err := u.deleteSession(ctx, c.Value); err != nil {
			u.log.Error("webui: ending a session whose token is no longer valid", "error", err)
		} else {
			u.log.Info("webui: session ended: its token is no longer valid")
		}
		return nil
	case err != nil:
		// The store did not answer: fail closed.
		u.log.Error("webui: checking a session's token", "error", err)
		return nil
	}
	return &session{id: c.Value, tokenHash: stored.TokenHash, who: who, csrf: stored.CSRF, expires: stored.ExpiresAt}
}

// secureCookies reports whether cookies set in answer to r are Secure.
func (u *UI) secureCookies(r *http.Request) bool { return r.TLS != nil || u.opts.SecureCookies }

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: u.secureCookies(r), SameSite: http.SameSiteStrictMode})
}

// sameOrigin reports whether a POST may come from where it says: a
// browser's Origin header, when present, must name this server's host, and
// a browser's Sec-Fetch-Site must not say cross-site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	o, err := url.Parse(origin)
	return err == nil && o.Host != "" && strings.EqualFold(o.Host, r.Host) && (o.Scheme == "http" || o.Scheme == "https")
}

// tokenEqual compares two CSRF tokens in constant time.
func tokenEqual(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// safeNext returns next when it is a path of the UI, and the pipeline page
// otherwise: the sign-in page never redirects off the server.
func safeNext(next string) string {
	home := Prefix + "/"
	if next == "" || strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	if u.Path != Prefix && !strings.HasPrefix(u.Path, Prefix+"/") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return home
	}
	if strings.HasPrefix(u.Path, Prefix+"/login") || strings.HasPrefix(u.Path, Prefix+"/logout") {
		return home
	}
	return u.RequestURI()
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// loginView is the data of the sign-in page.
type loginView struct {
	Next string
	// CSRF is the sign-in form's token, also in the login cookie.
	CSRF string
	// BadToken says the token typed was refused: the field is marked
	// invalid and described by the error.
	BadToken bool
}

// loginPage shows the sign-in form with a fresh form token, set in a
// cookie too (double submit: a cross-site page can post the form but
// cannot read or set the cookie).
func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if s := u.session(r); s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	u.showLogin(w, r, http.StatusOK, loginView{Next: safeNext(r.URL.Query().Get("next"))}, "")
}

// showLogin shows the sign-in form of v with msg, a fresh form token and
// status code.
func (u *UI) showLogin(w http.ResponseWriter, r *http.Request, code int, v loginView, msg string) {
	v.CSRF = randomHex(32)
	u.setCookie(w, r, loginCookie, v.CSRF, Prefix+"/login", int(loginTTL/time.Second))
	u.renderView(w, r, code, "login", view{Title: "Sign in", Error: msg, Page: v})
}

// login checks the form token and the API token, then starts a session.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		u.showLogin(w, r, formStatus(err), loginView{Next: Prefix + "/"}, "The form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	c, err := r.Cookie(loginCookie)
	if !sameOrigin(r) || err != nil || !tokenEqual(c.Value, r.PostForm.Get("csrf")) {
		u.showLogin(w, r, http.StatusForbidden, loginView{Next: next}, "The sign-in form expired or did not come from this server; try again.")
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	who, err := u.svc.Authenticate(r.Context(), secret)
	if err != nil {
		code := status(err)
		msg := "That token is not valid (unknown, revoked or mistyped)."
		v := loginView{Next: next, BadToken: true}
		if code == http.StatusInternalServerError {
			u.log.Error("webui: sign in", "error", err)
			msg, v.BadToken = "Signing in failed on the server; try again.", false
		} else {
			// Nothing throttles sign-ins: the log is where guessing
			// shows up, with where it came from (never the token).
			u.log.Warn("webui: sign-in refused", "remote", r.RemoteAddr, "status", code)
		}
		u.showLogin(w, r, code, v, msg)
		return
	}
	s, err := u.createSession(r.Context(), registry.HashToken(secret), who)
	if err != nil {
		u.log.Error("webui: sign in", "error", err)
		u.showLogin(w, r, http.StatusInternalServerError, loginView{Next: next}, "Signing in failed on the server; try again.")
		return
	}
	u.setCookie(w, r, sessionCookie, s.id, Prefix, int(u.opts.SessionTTL/time.Second))
	u.setCookie(w, r, loginCookie, "", Prefix+"/login", -1)
	u.log.Info("webui: signed in", "actor", who.Name, "role", string(who.Role))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// actionFunc carries out a form of a signed-in person.
type actionFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// action wraps a form's handler: it needs a session, a POST from this
// server's own pages and the session's form token.
func (u *UI) action(fn actionFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := u.session(r)
		if s == nil {
			// The session ended while the page was open (it expired, or
			// was signed out elsewhere): the page says that nothing was
			// changed and links to the sign-in form, which comes back to
			// the page the form was on.
			if r.URL.Path == Prefix+"/logout" {
				// Signed out already: what the button asked for.
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			back := Prefix + "/"
			if id := r.PathValue("id"); id != "" {
				back = Prefix + "/promotions/" + url.PathEscape(id)
			}
			u.render(w, r, nil, http.StatusUnauthorized, "error", "Signed out", "", errorPage{Status: http.StatusUnauthorized, Heading: "Signed out",
				Message: "Your session has ended, so nothing was changed. Sign in again, then send the form again.",
				SignIn:  Prefix + "/login?next=" + urlQueryEscape(back)})
			return
		}
		if !sameOrigin(r) {
			u.fail(w, r, s, promote.Errorf(promote.Forbidden, "the form was sent from another site; nothing was changed"))
			return
		}
		if err := r.ParseForm(); err != nil {
			u.badForm(w, r, s, err)
			return
		}
		if !tokenEqual(s.csrf, r.PostForm.Get("csrf")) {
			u.fail(w, r, s, promote.Errorf(promote.Forbidden, "the form's security token is missing or wrong; reload the page and try again. Nothing was changed"))
			return
		}
		if err := fn(w, r, s); err != nil {
			u.fail(w, r, s, err)
		}
	})
}

// badForm renders the error page of an action's form that could not be
// read (err): a form over the limit of the UI's bodies is a 413, as the
// REST API answers a body over its limit, with a page that says so;
// anything else is a 400. Nothing was changed either way.
func (u *UI) badForm(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var mb *http.MaxBytesError
	if !errors.As(err, &mb) {
		u.fail(w, r, s, promote.Errorf(promote.Invalid, "the form could not be read: %v; nothing was changed", err))
		return
	}
	code := http.StatusRequestEntityTooLarge
	u.render(w, r, s, code, "error", "Form too large", "", errorPage{Status: code, Heading: "Form too large",
		Message: fmt.Sprintf("The form was larger than the limit of %d bytes (%s KiB), so it was not read and nothing was changed. Shorten what you typed (a reason, say) and send it again.",
			mb.Limit, strconv.FormatFloat(float64(mb.Limit)/1024, 'f', -1, 64))})
}

// formStatus is the status for a form that could not be parsed.
func formStatus(err error) int {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// logout ends the session.
func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := u.deleteSession(r.Context(), s.id); err != nil {
		return err
	}
	u.setCookie(w, r, sessionCookie, "", Prefix, -1)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
	return nil
}
