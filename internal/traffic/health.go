package traffic

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// health is a backend's passive and active health. The request path only
// reads atomics; transitions take mu.
type health struct {
	down        atomic.Bool  // out of rotation: ejected or failing its probes
	fails       atomic.Int32 // timeouts and connection errors in a row
	probation   atomic.Bool  // readmitted after an ejection, no success yet
	probeFailed atomic.Bool  // the last health probe failed
	until       atomic.Int64 // the end of the current ejection, Unix ns

	mu        sync.Mutex // guards transitions and ejections
	ejections int        // in a row, without a success in between
}

// up reports whether b takes traffic, readmitting it when its cool-off is
// over and its probes pass.
func (s *Splitter) up(b *backend) bool {
	if !b.down.Load() {
		return true
	}
	if b.probeFailed.Load() || s.cfg.Now().UnixNano() < b.until.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return true
	}
	if b.probeFailed.Load() || s.cfg.Now().UnixNano() < b.until.Load() {
		return false
	}
	s.setDown(b, false)
	s.log.Info("traffic: backend readmitted", slog.String(attrTrack, string(b.track)), slog.String(attrVersion, b.Version))
	return true
}

// failed counts a timeout or connection error of b, and ejects b after
// Config.FailureThreshold in a row, or after one while on probation.
func (s *Splitter) failed(b *backend) {
	if n := b.fails.Add(1); n < int32(s.cfg.FailureThreshold) && !b.probation.Load() {
		return
	}
	if s.cfg.Now().UnixNano() < b.until.Load() {
		return // already ejected (both tracks are down, or a straggler)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := s.cfg.Now()
	if now.UnixNano() < b.until.Load() {
		return // already ejected: requests sent before that do not extend it
	}
	if b.fails.Load() < int32(s.cfg.FailureThreshold) && !b.probation.Load() {
		return // a success came in between
	}
	coolOff := s.cfg.CoolOff
	for range b.ejections {
		if coolOff >= s.cfg.MaxCoolOff/2 {
			coolOff = s.cfg.MaxCoolOff
			break
		}
		coolOff *= 2
	}
	b.ejections++
	b.until.Store(now.Add(coolOff).UnixNano())
	b.fails.Store(0)
	b.probation.Store(true)
	s.setDown(b, true)
	s.log.Warn("traffic: backend ejected after timeouts or connection errors", slog.String(attrTrack, string(b.track)),
		slog.String(attrVersion, b.Version), slog.Duration(attrCoolOff, coolOff))
}

// succeeded counts a response from b: the failures in a row start over,
// and a backend on probation is trusted again.
func (s *Splitter) succeeded(b *backend) {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	if !b.probation.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		b.ejections = 0
		b.probation.Store(false)
	}
}

// setDown records b's state and sets its gauge when b is still its track's
// backend. It is called with b.mu held.
func (s *Splitter) setDown(b *backend, down bool) {
	b.down.Store(down)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.routes.Load(); rt.backend(b.track) == b {
		s.setHealthGauge(rt, b.track)
	}
}

// setProbe records the outcome of a health probe of b.
func (s *Splitter) setProbe(b *backend, ok bool, detail string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probeFailed.Load() == !ok {
		return
	}
	b.probeFailed.Store(!ok)
	attrs := []any{slog.String(attrTrack, string(b.track)), slog.String(attrVersion, b.Version)}
	if !ok {
		s.setDown(b, true)
		s.log.Warn("traffic: backend fails its health check", append(attrs, slog.String(attrError, detail))...)
		return
	}
	s.log.Info("traffic: backend passes its health check", attrs...)
	if s.cfg.Now().UnixNano() >= b.until.Load() {
		s.setDown(b, false)
	}
}

// Healthy reports whether track's backend takes traffic: false when the
// track has no backend, while it is ejected and while it fails its health
// checks.
func (s *Splitter) Healthy(track Track) bool {
	b := s.routes.Load().backend(track)
	return b != nil && s.up(b)
}

// CheckHealth probes every backend's Config.HealthPath once, concurrently,
// and returns when all have answered or timed out; without a HealthPath it
// only readmits backends whose cool-off is over. Run calls it every
// Config.HealthInterval.
func (s *Splitter) CheckHealth(ctx context.Context) {
	rt := s.routes.Load()
	var wg sync.WaitGroup
	for _, b := range []*backend{rt.stable, rt.canary, rt.shadow} {
		if b == nil {
			continue
		}
		if s.cfg.HealthPath != "" {
			wg.Go(func() { s.probe(ctx, b) })
		}
	}
	wg.Wait()
	for _, b := range []*backend{rt.stable, rt.canary, rt.shadow} {
		if b != nil {
			s.up(b)
		}
	}
}

// probe sends one health probe to b.
func (s *Splitter) probe(ctx context.Context, b *backend) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HealthTimeout)
	defer cancel()
	u := *b.URL
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/")+s.cfg.HealthPath, ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		s.setProbe(b, false, err.Error())
		return
	}
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return // shutting down: no verdict
		}
		s.setProbe(b, false, err.Error())
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		s.setProbe(b, false, "GET "+u.Redacted()+": "+resp.Status)
		return
	}
	s.setProbe(b, true, "")
}

// Run checks the backends' health every Config.HealthInterval (probing
// Config.HealthPath when set) until ctx ends, then closes the splitter and
// returns nil; it also returns once the splitter is closed.
func (s *Splitter) Run(ctx context.Context) error {
	defer s.Close()
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for {
		s.CheckHealth(ctx)
		s.reapPools(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-t.C:
		}
	}
}

// Close stops mirroring and waits for the mirrored requests in flight
// (each bounded by Shadow.Timeout), then closes the idle connections of
// the transport New made, and removes its weight and health series from
// the metrics (a route that went must not show its last weight). Requests
// still arriving are proxied, without a mirror. It returns nil, and may be
// called more than once.
func (s *Splitter) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		s.mu.Lock()
		s.metrics.weight.Delete(s.cfg.Model, s.cfg.Env)
		for _, t := range []Track{TrackStable, TrackCanary, TrackShadow} {
			s.metrics.healthy.Delete(s.cfg.Model, s.cfg.Env, string(t))
		}
		s.mu.Unlock()
		// Holding every token, Close knows no mirror is in flight and none
		// can start: a mirror takes its token before it is counted in
		// s.mirrors, and gives it back before it is done.
		for range cap(s.sem) {
			s.sem <- struct{}{}
		}
		s.mirrors.Wait()
		if s.owned != nil {
			s.owned.CloseIdleConnections()
		}
		s.mu.Lock()
		for _, p := range s.pools {
			p.close()
		}
		s.mu.Unlock()
	})
	return nil
}
