package traffic

import (
	"net/http"
	"strconv"
	"strings"
)

// stickyPoint returns the request's point in [0, 1) from its client
// identity (Config.Sticky), or a random point without one. When
// Sticky.Cookie is set and the request carries none, it also returns the
// Set-Cookie header value that gives the client its new identity; the
// response's final header carries it (recorder.WriteHeader), not a 1xx's,
// after which the proxy clears the header.
func (s *Splitter) stickyPoint(r *http.Request) (point float64, setCookie string) {
	if s.stickyKey != "" {
		if v := r.Header[s.stickyKey]; len(v) > 0 && v[0] != "" {
			return s.point(v[0]), ""
		}
	}
	name := s.cfg.Sticky.Cookie
	if name == "" {
		return s.cfg.Rand(), ""
	}
	if c, err := r.Cookie(name); err == nil && c.Value != "" {
		return s.point(c.Value), ""
	}
	id := strconv.FormatUint(uint64(s.cfg.Rand()*(1<<53)), 36) + strconv.FormatUint(uint64(s.cfg.Rand()*(1<<53)), 36)
	c := &http.Cookie{Name: name, Value: id, Path: "/", MaxAge: stickyCookieMaxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: overTLS(r)}
	return s.point(id), c.String()
}

// overTLS reports whether the client reached the splitter over TLS: the
// connection is TLS, or the proxy in front that terminated TLS says so
// with X-Forwarded-Proto: https (the first proxy's, when there are
// several). It marks the sticky cookie Secure, so that a browser does
// not send it over plain HTTP. A client that sets the field itself gets
// a Secure cookie its browser keeps only over HTTPS: its own placement is
// all it can change.
func overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	v := r.Header["X-Forwarded-Proto"]
	if len(v) == 0 {
		return false
	}
	first, _, _ := strings.Cut(v[0], ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}

// point maps a client identity to a point in [0, 1), the same in every
// process and release: FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/)
// over the model, the environment and the identity, then MurmurHash3's
// 64-bit finalizer so that identities differing in their last characters
// land far apart; the top 53 bits make the point.
func (s *Splitter) point(id string) float64 {
	h := fmix64(fnv1a(s.salt, id))
	return float64(h>>11) / (1 << 53)
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// fmix64 is MurmurHash3's finalizer (Austin Appleby, MurmurHash3.cpp).
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
