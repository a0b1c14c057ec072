package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	randv2 "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// Defaults applied to zero fields of Config.
const (
	DefaultMaxAttempts = 6
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = time.Minute
	DefaultTimeout     = 10 * time.Second
)

// Log attribute keys, shared with the rest of Promote where they overlap.
const (
	keyModel     = "model"
	keyVersion   = "version"
	keyEnv       = "env"
	keyPromotion = "promotion"
	keyEvent     = "event"
	keyEventType = "event_type"
	keyEndpoint  = "endpoint"
	keyAttempt   = "attempt"
	keyStatus    = "status"
	keyCode      = "code"
	keyDelay     = "delay"
	keyError     = "error"
)

// Config configures how webhooks are sent: the endpoints, the HTTP client,
// the retries and the logger. Zero fields take the defaults above.
type Config struct {
	// Endpoints receive events; validated with the rest.
	Endpoints []Endpoint
	// Client sends the requests. The default does not follow redirects, so a
	// signed body never travels to a host the operator did not configure;
	// a 3xx answer is a permanent failure.
	Client *http.Client
	// MaxAttempts bounds the attempts per delivery, the first included.
	MaxAttempts int
	// BaseDelay is the wait after the first failed attempt; it doubles after
	// each further failure up to MaxDelay, with jitter.
	BaseDelay time.Duration
	// MaxDelay caps every wait, Retry-After included.
	MaxDelay time.Duration
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Sleep waits d or until ctx ends, returning ctx's error in that case;
	// a timer when nil. Tests inject it to observe and shorten backoff.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter randomises a backoff delay d; when nil, a uniform value in
	// [d/2, d] ("equal jitter"), which keeps retries from many deliveries from
	// arriving in lockstep while still growing.
	Jitter func(d time.Duration) time.Duration
	// Logger receives delivery failures; discarded when nil.
	Logger *slog.Logger
}

// validate reports every problem with c at once.
func (c Config) validate() error {
	var ps []string
	names := make(map[string]int)
	for i, e := range c.Endpoints {
		ps = append(ps, e.problems(fmt.Sprintf("endpoints[%d]", i))...)
		if j, dup := names[e.Name]; dup && e.Name != "" {
			ps = append(ps, fmt.Sprintf("endpoints[%d]: name %q already used by endpoints[%d]", i, e.Name, j))
		}
		names[e.Name] = i
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"max attempts", int64(c.MaxAttempts)},
		{"base delay", int64(c.BaseDelay)},
		{"max delay", int64(c.MaxDelay)},
		{"timeout", int64(c.Timeout)},
	} {
		if f.v < 0 {
			ps = append(ps, f.name+" is negative")
		}
	}
	if c.BaseDelay > 0 && c.MaxDelay > 0 && c.BaseDelay > c.MaxDelay {
		ps = append(ps, fmt.Sprintf("base delay %s exceeds max delay %s", c.BaseDelay, c.MaxDelay))
	}
	if len(ps) > 0 {
		return promote.Errorf(promote.Invalid, "notify config: %s", strings.Join(ps, "; "))
	}
	return nil
}

// sender sends one event to one endpoint: the signed request, the
// retries with backoff, and the log lines. The Dispatcher uses it.
type sender struct {
	cfg Config
	log *slog.Logger
}

// job is the delivery of one event to one endpoint.
type job struct {
	id  string
	ev  Event
	ep  Endpoint
	seq int64 // the audit event the notification came from
	// resend is the re-send the job makes; nil for the first series.
	resend *promote.WebhookResend
}

// newSender validates cfg, fills its defaults and returns a sender.
func newSender(cfg Config) (*sender, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = max(DefaultMaxDelay, cfg.BaseDelay)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = wait.Sleep
	}
	if cfg.Jitter == nil {
		cfg.Jitter = equalJitter
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &sender{cfg: cfg, log: logger}, nil
}

// outcome is the result of one attempt.
type outcome struct {
	code       int
	err        error
	retryable  bool
	retryAfter time.Duration // < 0 when the receiver gave none
	duration   time.Duration
}

// stoppedError is attempts' error when ctx ended while it waited to retry.
type stoppedError struct {
	next int // the attempt that was not made
	err  error
}

func (e *stoppedError) Error() string {
	return fmt.Sprintf("stopped before attempt %d: %v", e.next, e.err)
}

func (e *stoppedError) Unwrap() error { return e.err }

// attempts sends j until it is delivered, fails for good or runs out of
// attempts, with backoff between attempts, and calls record once per
// attempt with its status. Right before each attempt it calls check,
// when not nil, and makes no attempt when that fails. It returns check's
// or record's first error, or a *stoppedError when ctx ends while it
// waits to retry.
func (n *sender) attempts(ctx context.Context, j job, check func() error, record func(attempt int, status string, o outcome, at time.Time) error) error {
	body, err := Body(j.ev, j.ep.Format)
	if err != nil {
		return record(1, StatusFailed, outcome{err: err}, n.cfg.Now())
	}
	for attempt := 1; ; attempt++ {
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		at := n.cfg.Now()
		o := n.attempt(ctx, j, body)
		switch {
		case o.err == nil:
			return record(attempt, StatusDelivered, o, at)
		case !o.retryable:
			return record(attempt, StatusFailed, o, at)
		case attempt >= n.cfg.MaxAttempts:
			o.err = fmt.Errorf("giving up after %d attempts: %w", attempt, o.err)
			return record(attempt, StatusFailed, o, at)
		}
		delay := n.delay(attempt, o.retryAfter)
		if err := record(attempt, StatusRetrying, o, at); err != nil {
			return err
		}
		n.log.DebugContext(ctx, "webhook retry scheduled", slog.String(keyEndpoint, j.ep.Name),
			slog.String(keyEvent, j.ev.ID), slog.Int(keyAttempt, attempt), slog.Duration(keyDelay, delay))
		err := n.cfg.Sleep(ctx, delay)
		if err == nil {
			err = ctx.Err() // ended as the wait did
		}
		if err != nil {
			return &stoppedError{next: attempt + 1, err: err}
		}
	}
}

// attempt POSTs body once. The request is not cancelled with ctx, so that an
// attempt in flight at shutdown completes (within Timeout) and its outcome is
// known rather than guessed.
func (n *sender) attempt(ctx context.Context, j job, body []byte) outcome {
	start := n.cfg.Now()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.Timeout)
	defer cancel()
	o := outcome{retryAfter: -1}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, j.ep.URL, bytes.NewReader(body))
	if err != nil {
		o.err = fmt.Errorf("build request: %w", err)
		return o
	}
	ts := start.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Promote-Webhook/1")
	req.Header.Set(HeaderID, j.ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(j.ep.Secret, ts, body))
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		o.retryable = true
		o.err = transportError(actx, err, n.cfg.Timeout)
		o.duration = n.cfg.Now().Sub(start)
		return o
	}
	defer resp.Body.Close()
	// Read a little of the body for the log, and drain the rest (bounded) so
	// the connection can be reused. More is read than is kept, so that a
	// credential the answer quotes is cut out whole before the answer is
	// cut short.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	o.code = resp.StatusCode
	o.duration = n.cfg.Now().Sub(start)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return o
	}
	msg := j.ep.redactCredentials(strings.TrimSpace(strings.ToValidUTF8(string(snippet), "")))
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "")
	}
	o.err = fmt.Errorf("receiver answered %s", resp.Status)
	if msg != "" {
		o.err = fmt.Errorf("receiver answered %s: %s", resp.Status, msg)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		o.retryable = true
		o.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), start)
	}
	return o
}

// transportError describes a failed request without its URL, which for
// Slack-style endpoints contains a credential.
func transportError(actx context.Context, err error, timeout time.Duration) error {
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("post: %w", ue.Err)
	}
	return fmt.Errorf("post: %w", err)
}

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3: seconds or
// an HTTP date); it returns -1 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if s < 0 {
			return -1
		}
		if s > int64(24*time.Hour/time.Second) {
			return 24 * time.Hour // avoids overflow; capped by MaxDelay anyway
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

// delay is the wait after failed attempt number attempt: the receiver's
// Retry-After when given, else BaseDelay·2^(attempt-1) with jitter; both
// capped at MaxDelay.
func (n *sender) delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter >= 0 {
		return min(retryAfter, n.cfg.MaxDelay)
	}
	d := n.cfg.BaseDelay
	for i := 1; i < attempt && d < n.cfg.MaxDelay; i++ {
		d *= 2
	}
	d = n.cfg.Jitter(min(d, n.cfg.MaxDelay))
	return max(0, min(d, n.cfg.MaxDelay))
}

// delivery is the delivery log's entry for an attempt of j.
func (n *sender) delivery(j job, attempt int, status string, o outcome, at time.Time) Delivery {
	d := Delivery{
		ID:        j.id,
		EventID:   j.ev.ID,
		EventType: j.ev.Type,
		Endpoint:  j.ep.Name,
		AuditSeq:  j.seq,
		Attempt:   attempt,
		Status:    status,
		Code:      o.code,
		At:        at,
		Duration:  o.duration,
	}
	if o.err != nil {
		d.Error = o.err.Error()
	}
	return d
}

// logDelivery logs the attempt d of j: at debug level, failures and drops
// at warning level.
func (n *sender) logDelivery(ctx context.Context, j job, d Delivery) {
	level := slog.LevelDebug
	if d.Status == StatusFailed {
		level = slog.LevelWarn
	}
	n.log.Log(ctx, level, "webhook delivery",
		slog.String(keyEndpoint, j.ep.Name),
		slog.String(keyEvent, j.ev.ID),
		slog.String(keyEventType, j.ev.Type),
		slog.String(keyModel, j.ev.Model),
		slog.String(keyVersion, j.ev.Version),
		slog.String(keyEnv, j.ev.Environment),
		slog.String(keyPromotion, j.ev.PromotionID),
		slog.Int(keyAttempt, d.Attempt),
		slog.String(keyStatus, d.Status),
		slog.Int(keyCode, d.Code),
		slog.String(keyError, d.Error))
}

// equalJitter is the default Config.Jitter: uniform in [d/2, d].
// See https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + randv2.N(d-half+1)
}
