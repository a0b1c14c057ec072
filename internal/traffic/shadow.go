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
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// mirror is one mirrored request's rendezvous with its primary: the
// primary's result, published by closing done.
type mirror struct {
	done   chan struct{}
	failed bool // no complete primary response: nothing to compare
	status int
	sum    uint64 // the primary body's hash, with Shadow.CompareBodies
	over   bool   // the primary body passed Shadow.MaxBody: not compared
	copy   *tee   // the copy of the request body, when it has one
}

// startMirror prepares a copy of r for the shadow backend b, unless the
// shadow is out of rotation or the body is known to be too large, and
// returns the mirror for the primary to publish its result in. The copy is
// sent, in a goroutine of its own, once its body is known: at once
// without a body; otherwise when the primary request out has read r's body
// to its end (a tee, so that the client's request is never held up by the
// mirror), and not at all when the body broke off. A mirror beyond the
// concurrency bound, or whose body passes Shadow.MaxBody, is dropped and
// counted.
func (s *Splitter) startMirror(b *backend, r, out *http.Request) *mirror {
	if s.closed.Load() || !s.up(b) || r.Header.Get("Upgrade") != "" {
		return nil
	}
	if r.ContentLength > s.cfg.Shadow.MaxBody {
		s.shadowM.dropped.Inc()
		return nil
	}
	// The mirror outlives the client's request, but not the shadow timeout
	// (from when it is sent).
	req := r.Clone(context.WithoutCancel(r.Context()))
	req.RequestURI, req.Close, req.TransferEncoding, req.GetBody = "", false, nil, nil
	req.Body, req.ContentLength, req.Trailer = nil, 0, nil
	proxiedHeader(req.Header, r.Header)
	req.URL.RawQuery = proxiedQuery(req.URL.RawQuery)
	pr := &httputil.ProxyRequest{In: r, Out: req}
	pr.SetURL(b.URL)
	pr.SetXForwarded()
	req.Header.Set(HeaderShadow, "1")

	m := &mirror{done: make(chan struct{})}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		if !s.send(b, req, nil, m) {
			return nil
		}
		return m
	}
	m.copy = &tee{ReadCloser: out.Body, s: s, limit: s.cfg.Shadow.MaxBody, complete: func(body []byte) { s.send(b, req, body, m) }}
	out.Body = m.copy
	return m
}

// send sends the mirrored request req with body in a goroutine, if the
// concurrency bound has room (else it is counted as dropped) and the
// splitter is open. It reports whether it did.
func (s *Splitter) send(b *backend, req *http.Request, body []byte, m *mirror) bool {
	select {
	case s.sem <- struct{}{}:
	default:
		s.shadowM.dropped.Inc()
		return false
	}
	if s.closed.Load() { // Close is collecting the tokens
		<-s.sem
		return false
	}
	ctx, cancel := context.WithTimeout(req.Context(), s.cfg.Shadow.Timeout)
	req = req.WithContext(ctx)
	if len(body) > 0 {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	s.mirrors.Add(1)
	go func() {
		defer s.mirrors.Done()
		defer func() { <-s.sem }()
		defer cancel()
		s.runMirror(ctx, b, req, m)
	}()
	return true
}

// tee is a primary request's body that keeps a copy, up to limit bytes,
// for the mirror, and calls complete with it once the body was read to its
// end within the limit. A body that passes the limit, or whose copy would
// take the splitter's copies past their budget (Splitter.copying), is not
// copied further and counts as dropped. Only the transport reads it, from
// one goroutine; abandon, once the handler is done, may run beside a read
// that the proxy did not wait for.
type tee struct {
	io.ReadCloser
	s        *Splitter
	limit    int64
	mu       sync.Mutex // Read's bookkeeping against abandon
	buf      bytes.Buffer
	held     int64 // bytes of buf counted in s.copying
	over     bool  // past the limit or the budget, broke off, complete or abandoned: nothing more to do
	complete func(body []byte)
}

// Read implements io.Reader.
func (t *tee) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over {
		return n, err
	}
	if int64(t.buf.Len()+n) > t.limit || !t.hold(int64(n)) {
		t.release()
		t.s.shadowM.dropped.Inc()
		return n, err
	}
	t.buf.Write(p[:n])
	switch {
	case err == io.EOF:
		body := t.buf.Bytes()
		t.release() // the mirror, if sent, is bounded by the tokens
		t.complete(body)
	case err != nil:
		t.release()
	}
	return n, err
}

// hold counts n more bytes of copy in the splitter's budget, or reports
// false when they would pass it.
func (t *tee) hold(n int64) bool {
	if n == 0 {
		return true
	}
	if t.s.copying.Add(n) > t.s.copyBudget {
		t.s.copying.Add(-n)
		return false
	}
	t.held += n
	return true
}

// release ends the copy and gives its bytes back to the budget.
func (t *tee) release() {
	t.s.copying.Add(-t.held)
	t.held, t.over, t.buf = 0, true, bytes.Buffer{}
}

// abandon ends a copy that the primary request did not read to its end
// (its backend answered first, or it failed), once the proxy is done with
// the body: it is not mirrored.
func (t *tee) abandon() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.over {
		t.release()
	}
}

// runMirror sends the mirrored request, waits for the primary's result and
// counts the comparison, then the shadow's request: an answer that differs
// from the primary's counts as OutcomeMismatch, an error of the shadow for
// the analysis, unless the primary failed with a 5xx (the shadow did
// better) or the shadow did (already an error). A comparison that could
// not be made (no complete response on either side, or a primary that
// outlasted the shadow's timeout) leaves the shadow's outcome as it was.
func (s *Splitter) runMirror(ctx context.Context, b *backend, req *http.Request, m *mirror) {
	start := time.Now()
	status, sum, over, o := s.roundTrip(ctx, req)
	elapsed := time.Since(start).Seconds()
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
	if (res == resultStatusMismatch || res == resultBodyMismatch) && o != outcomeServerError && m.status < 500 {
		o = outcomeMismatch
	}
	b.tm.observe(o, elapsed)
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

// proxiedHeader leaves in h, a copy of the client's request header in,
// the fields that ReverseProxy with Rewrite and SetXForwarded sends on,
// as the fast path writes them (skipRequestField, writeRequest): the
// hop-by-hop ones, those in's Connection names, the client's forwarding
// ones (which SetXForwarded sets anew, not appended to) and the framing
// ones dropped, Te: trailers kept, and an empty User-Agent when the
// client sent none, so that the transport adds none. The shadow is then
// sent the request stable is sent.
func proxiedHeader(h, in http.Header) {
	connection := in["Connection"]
	for k := range h {
		if skipRequestField(k, connection) {
			delete(h, k)
		}
	}
	if httpguts.HeaderValuesContainsToken(in["Te"], "trailers") {
		h["Te"] = []string{"trailers"}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
}
