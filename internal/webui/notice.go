package webui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A notice says, on the page that a form's answer redirects to (POST,
// redirect, GET), what the form did: "The rollout is paused." It travels
// in the redirect's query (?steered=pause) with a signature, an HMAC keyed
// by the session's form token over the page's path, the notice and when
// it was made: a link that someone else made (who does not hold the
// person's token), one for another page, or one older than noticeTTL
// shows no notice, so that a page never claims something that its viewer
// did not just do.

// noticeSig is the query parameter of a notice's time and signature.
const noticeSig = "notice"

// noticeTTL bounds how long after the form a notice shows: enough for
// the redirect and a reload, not for a bookmark that would say that a
// rollout is paused long after it was resumed.
const noticeTTL = 2 * time.Minute

// noticeMAC signs the notice name=value of the page at path, made at
// unix time at, for the session whose form token is csrf.
func noticeMAC(csrf, path, name, value string, at int64) string {
	m := hmac.New(sha256.New, []byte(csrf))
	m.Write([]byte("promote web UI notice\x00" + path + "\x00" + name + "\x00" + value + "\x00" + strconv.FormatInt(at, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// noticeURL returns path (escaped, as in a link) with the notice
// name=value, signed for s.
func (u *UI) noticeURL(s *session, path, name, value string) string {
	at := u.now().Unix()
	plain, err := url.PathUnescape(path) // as the page's request will read it
	if err != nil {
		plain = path // signs nothing that a request's path can match
	}
	return path + "?" + name + "=" + url.QueryEscape(value) + "&" + noticeSig + "=" +
		strconv.FormatInt(at, 10) + "." + noticeMAC(s.csrf, plain, name, value, at)
}

// notice returns the value of r's notice name when r carries it signed
// for s, made less than noticeTTL ago; "" otherwise.
func (u *UI) notice(r *http.Request, s *session, name string) string {
	q := r.URL.Query()
	value := q.Get(name)
	atText, sig, ok := strings.Cut(q.Get(noticeSig), ".")
	if value == "" || s == nil || !ok {
		return ""
	}
	at, err := strconv.ParseInt(atText, 10, 64)
	if err != nil {
		return ""
	}
	if age := u.now().Sub(time.Unix(at, 0)); age < -noticeTTL || age > noticeTTL {
		// A little ahead is another replica's clock; far ahead is not.
		return ""
	}
	if !hmac.Equal([]byte(sig), []byte(noticeMAC(s.csrf, r.URL.Path, name, value, at))) {
		return ""
	}
	return value
}
