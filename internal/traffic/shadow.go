package traffic

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"
)

// mirror is one mirrored request's rendezvous with its primary: the
// primary's result, published by closing done.
type mirror struct {
	done   chan struct{}
	failed bool // no complete primary response: nothing to compare
	status int
	sum    uint64 // the primary body's hash, with Shadow.CompareBodies
	over   bool   // the primary body passed Shadow.MaxBody: not compared
}

// startMirror sends a copy of r to the shadow backend b in a goroutine of
// its own, unless the shadow is out of rotation, the body is too large or
// the concurrency bound is full (counted as dropped). It buffers r's body
// for both and gives the primary request out its copy. The mirror is
// returned for the primary to publish its result in.
func (s *Splitter) startMirror(b *backend, r, out *http.Request) *mirror {
	if s.closed.Load() || !s.up(b) || r.Header.Get("Upgrade") != "" {
		return nil
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.shadowM.dropped.Inc()
		return nil
	}
	if s.closed.Load() { // Close is collecting the tokens
		<-s.sem
		return nil
	}
	body, ok := s.bufferBody(r, out)
	if !ok {
		<-s.sem
		return nil
	}
	// The mirror outlives the client's request, but not the shadow timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.Shadow.Timeout)
	req := r.Clone(ctx)
	req.RequestURI, req.Close, req.TransferEncoding, req.GetBody = "", false, nil, nil
	req.Body, req.ContentLength = nil, 0
	if len(body) > 0 {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	removeHopByHop(req.Header)
	pr := &httputil.ProxyRequest{In: r, Out: req}
	pr.SetURL(b.URL)
	pr.SetXForwarded()
	req.Header.Set(HeaderShadow, "1")

	m := &mirror{done: make(chan struct{})}
	s.mirrors.Add(1)
	go func() {
		defer s.mirrors.Done()
		defer func() { <-s.sem }()
		defer cancel()
		s.runMirror(ctx, b, req, m)
	}()
	return m
}

// bufferBody reads r's body, up to Shadow.MaxBody, and gives out a copy.
// It reports false when the body is too large (or broke off): out then
// reads what was buffered followed by the rest, and nothing is mirrored.
func (s *Splitter) bufferBody(r, out *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	limit := s.cfg.Shadow.MaxBody
	if r.ContentLength > limit {
		return nil, false
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := io.CopyN(&buf, r.Body, limit+1)
	if err != io.EOF || n > limit {
		// Too large, or a body that broke off (which the primary will
		// find out about too).
		out.Body = readCloser{io.MultiReader(bytes.NewReader(buf.Bytes()), r.Body), r.Body}
		return nil, false
	}
	body := buf.Bytes()
	out.Body, out.ContentLength, out.TransferEncoding = io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
	return body, true
}

type readCloser struct {
	io.Reader
	io.Closer
}

// runMirror sends the mirrored request, waits for the primary's result and
// counts the comparison.
func (s *Splitter) runMirror(ctx context.Context, b *backend, req *http.Request, m *mirror) {
	start := time.Now()
	status, sum, over, o := s.roundTrip(ctx, req)
	b.tm.observe(o, time.Since(start).Seconds())
	if o.failure() {
		s.failed(b)
	} else {
		s.succeeded(b)
	}
	res := resultError
	select {
	case <-m.done:
		switch {
		case m.failed || o.failure():
		case m.status != status:
			res = resultStatusMismatch
		case s.cfg.Shadow.CompareBodies && !m.over && !over && m.sum != sum:
			res = resultBodyMismatch
		default:
			res = resultMatch
		}
	case <-ctx.Done():
		// The primary outlasted the shadow's timeout.
	}
	s.shadowM.results[res].Inc()
	if res != resultMatch && s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("traffic: shadow response differs", slog.String(attrVersion, b.Version), slog.String(attrResult, string(results[res])),
			slog.Int(attrStatus, status), slog.Int(attrPrimary, m.statusIfDone()))
	}
}

// statusIfDone returns the primary's status once published, else 0.
func (m *mirror) statusIfDone() int {
	select {
	case <-m.done:
		return m.status
	default:
		return 0
	}
}

// roundTrip sends a mirrored request and reads its response, hashing up
// to Shadow.MaxBody of the body when bodies are compared.
func (s *Splitter) roundTrip(ctx context.Context, req *http.Request) (status int, sum uint64, over bool, o outcome) {
	fail := func(err error) (int, uint64, bool, outcome) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
			return 0, 0, false, outcomeTimeout
		}
		return 0, 0, false, outcomeConnectionError
	}
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	limit := s.cfg.Shadow.MaxBody
	var n int64
	if s.cfg.Shadow.CompareBodies {
		var h maphash.Hash
		h.SetSeed(s.seed)
		n, err = io.Copy(&h, io.LimitReader(resp.Body, limit+1))
		sum = h.Sum64()
	} else {
		n, err = io.Copy(io.Discard, io.LimitReader(resp.Body, limit+1))
	}
	if err != nil {
		return fail(err)
	}
	return resp.StatusCode, sum, n > limit, outcomeOf(resp.StatusCode)
}

// hopByHop are the headers meant for one connection only (RFC 9110,
// section 7.6.1), which a proxy does not forward.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}
