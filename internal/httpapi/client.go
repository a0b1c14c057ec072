package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// Client talks to a Promote server's REST API: one method per route. Error
// answers come back as *promote.Error with the server's code, so that
// promote.ErrorCode works on the client's errors as on the service's.
type Client struct {
	base  *url.URL
	raw   string
	token string
	hc    *http.Client
}

// NewClient returns a client of the server at baseURL (http://host:port,
// without /api/v1) that authenticates with token. A nil hc is a client with
// a 60 second timeout.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	raw := strings.TrimRight(baseURL, "/")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		u = nil // every call reports it
	}
	return &Client{base: u, raw: raw, token: token, hc: hc}
}

// UnreachableError is the error of a request that got no answer from the
// server: it names the URL and says why.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the Promote server at %s: %v", e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *UnreachableError) Unwrap() error { return e.Err }

// call is one request: method, path under the base URL (escaped by the
// caller), query, a body to send as JSON (nil for none) and where to decode
// the answer (nil to discard it).
type call struct {
	method string
	path   string
	query  url.Values
	body   any
	raw    []byte // a body already encoded
	out    any
	auth   bool
}

func (c *Client) do(ctx context.Context, cl call) error {
	resp, err := c.send(ctx, cl)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if cl.out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(cl.out); err != nil {
		return promote.Errorf(promote.Internal, "%s %s: the server's answer is not the JSON expected: %v", cl.method, cl.path, err)
	}
	return nil
}

// send makes the request and returns a response with a 2xx status; any
// other status is turned into the error its body describes.
func (c *Client) send(ctx context.Context, cl call) (*http.Response, error) {
	if c.base == nil {
		return nil, promote.Errorf(promote.Invalid, "server URL %q is not an absolute http(s) URL such as http://localhost:8080", c.raw)
	}
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + cl.path
	u.RawPath = ""
	if strings.Contains(cl.path, "%") {
		u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + cl.path
		if p, err := url.PathUnescape(u.RawPath); err == nil {
			u.Path = p
		}
	}
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	var body io.Reader
	if cl.raw == nil && cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("encode the request: %w", err)
		}
		cl.raw = b
	}
	if cl.raw != nil {
		body = bytes.NewReader(cl.raw)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, promote.Errorf(promote.Invalid, "%s %s: %v", cl.method, cl.path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if cl.auth && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s %s: %w", cl.method, cl.path, ctxErr)
		}
		return nil, &UnreachableError{URL: c.raw, Err: unwrapURLError(err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, errorFromResponse(resp)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorFromResponse reads an error answer: the server's code and message
// when the body is ours, else the status's code and the start of the body
// (a proxy's page, say).
func errorFromResponse(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb ErrorBody
	if err := json.Unmarshal(b, &eb); err == nil && eb.Error.Code != "" {
		code := eb.Error.Code
		if _, known := statusOf[code]; !known {
			code = codeOf(resp.StatusCode)
		}
		return &promote.Error{Code: code, Message: eb.Error.Message}
	}
	snippet := strings.TrimSpace(string(b))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	if snippet == "" {
		snippet = "no body"
	}
	return promote.Errorf(codeOf(resp.StatusCode), "the server answered %s: %s", resp.Status, snippet)
}

func seg(s string) string { return url.PathEscape(s) }

// ---- meta

// Health checks /healthz: nil when the process is up.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodGet, path: "/healthz"})
}

// Ready checks /readyz: nil when the server can serve.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodGet, path: "/readyz"})
}

// OpenAPI returns the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/openapi.json", out: &out})
	return out, err
}

// Metrics returns the server's Prometheus metrics, as text.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, call{method: http.MethodGet, path: "/metrics"})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", &UnreachableError{URL: c.raw, Err: err}
	}
	return string(b), nil
}

// ---- environments

// Environments lists the pipeline's environments in order.
func (c *Client) Environments(ctx context.Context) ([]Environment, error) {
	var out []Environment
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/environments", out: &out, auth: true})
	return out, err
}

// ---- models

// Models lists the registered models.
func (c *Client) Models(ctx context.Context, f promote.ModelFilter) ([]promote.Model, error) {
	q := url.Values{}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.Model
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/models", query: q, out: &out, auth: true})
	return out, err
}

// CreateModel registers a model.
func (c *Client) CreateModel(ctx context.Context, name, description string) (promote.Model, error) {
	var out promote.Model
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/models", body: CreateModelRequest{Name: name, Description: description}, out: &out, auth: true})
	return out, err
}

// Model returns a model and its status.
func (c *Client) Model(ctx context.Context, name string) (ModelDetail, error) {
	if err := present("model name", name); err != nil {
		return ModelDetail{}, err
	}
	var out ModelDetail
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/models/" + seg(name), out: &out, auth: true})
	return out, err
}

// Status returns a model's live versions, active promotions and holds.
func (c *Client) Status(ctx context.Context, model string) (registry.Status, error) {
	if err := present("model name", model); err != nil {
		return registry.Status{}, err
	}
	var out registry.Status
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/models/" + seg(model) + "/status", out: &out, auth: true})
	return out, err
}

// History lists the changes of f.Model's live version in f.Environment,
// newest first, a page at a time: at most f.Limit (0: the server's
// default of 100), before the change f.BeforeSeq or just after
// f.AfterSeq. The other fields of f are not sent.
func (c *Client) History(ctx context.Context, f promote.LiveFilter) ([]promote.LiveChange, error) {
	if err := present("model name", f.Model, "environment", f.Environment); err != nil {
		return nil, err
	}
	q := url.Values{"environment": {f.Environment}}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.LiveChange
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/models/" + seg(f.Model) + "/history", query: q, out: &out, auth: true})
	return out, err
}

// ---- versions

// Versions lists the versions of f.Model that f selects, newest first, a
// page at a time: at most f.Limit (0: the server's default of 100), before
// f.BeforeSeq or just after f.AfterSeq (promote.VersionFilter).
func (c *Client) Versions(ctx context.Context, f promote.VersionFilter) ([]promote.Version, error) {
	if err := present("model name", f.Model); err != nil {
		return nil, err
	}
	q := url.Values{}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.Version
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/models/" + seg(f.Model) + "/versions", query: q, out: &out, auth: true})
	return out, err
}

// Version returns one version.
func (c *Client) Version(ctx context.Context, model, version string) (promote.Version, error) {
	if err := present("model name", model, "version", version); err != nil {
		return promote.Version{}, err
	}
	var out promote.Version
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/models/" + seg(model) + "/versions/" + seg(version), out: &out, auth: true})
	return out, err
}

// RegisterVersion registers req.Version of req.Model. req.Metrics, the
// metrics.json document, must be a JSON object; it travels byte for byte,
// so that the server's errors point at its lines. req.Bundle is sent as an
// object when it is JSON, as a string otherwise.
func (c *Client) RegisterVersion(ctx context.Context, req registry.RegisterRequest) (promote.Version, error) {
	if err := present("model name", req.Model); err != nil {
		return promote.Version{}, err
	}
	body := RegisterVersionRequest{Version: req.Version, ArtifactURI: req.ArtifactURI, Digest: req.Digest, Size: req.Size,
		Signature: req.Signature, Lineage: req.Lineage}
	if b := bytes.TrimSpace([]byte(req.Bundle)); len(b) > 0 {
		if b[0] == '{' && json.Valid(b) {
			body.Bundle = b
		} else {
			s, _ := json.Marshal(req.Bundle)
			body.Bundle = s
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return promote.Version{}, fmt.Errorf("encode the request: %w", err)
	}
	if m := bytes.TrimSpace(req.Metrics); len(m) > 0 {
		if m[0] != '{' || !json.Valid(m) {
			return promote.Version{}, promote.Errorf(promote.Invalid, "metrics: not a JSON object (the metrics.json document)")
		}
		// json.Marshal would compact the document; splice it in as it is.
		raw = append(append(append(raw[:len(raw)-1], `,"metrics":`...), req.Metrics...), '}')
	}
	var out promote.Version
	err = c.do(ctx, call{method: http.MethodPost, path: Prefix + "/models/" + seg(req.Model) + "/versions", raw: raw, out: &out, auth: true})
	return out, err
}

// RejectVersion rejects a version for good, with a reason.
func (c *Client) RejectVersion(ctx context.Context, model, version, reason string) (promote.Version, error) {
	if err := present("model name", model, "version", version); err != nil {
		return promote.Version{}, err
	}
	var out promote.Version
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/models/" + seg(model) + "/versions/" + seg(version) + "/reject",
		body: ReasonRequest{Reason: reason}, out: &out, auth: true})
	return out, err
}

// ---- promotions

// Promotions lists the promotions that f selects, newest first, a page at
// a time: at most f.Limit (0: the server's default of 100), before
// f.BeforeSeq or just after f.AfterSeq (promote.PromotionFilter). Their
// decisions are left out: Promotion has them.
func (c *Client) Promotions(ctx context.Context, f promote.PromotionFilter) ([]promote.Promotion, error) {
	q := url.Values{}
	setIf(q, "model", f.Model)
	setIf(q, "version", f.Version)
	setIf(q, "environment", f.Environment)
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, s := range f.States {
			states[i] = string(s)
		}
		q.Set("state", strings.Join(states, ","))
	}
	if f.ActiveOnly {
		q.Set("active", "true")
	}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.Promotion
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/promotions", query: q, out: &out, auth: true})
	return out, err
}

// RequestPromotion asks for a promotion. A blocked decision is not an
// error: the answer's State is blocked and Gate says why.
func (c *Client) RequestPromotion(ctx context.Context, req registry.PromoteRequest) (registry.PromotionView, error) {
	var out registry.PromotionView
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/promotions", body: req, out: &out, auth: true})
	return out, err
}

// Promotion returns a promotion with its approvals and the gate's decision.
func (c *Client) Promotion(ctx context.Context, id string) (registry.PromotionView, error) {
	if err := present("promotion id", id); err != nil {
		return registry.PromotionView{}, err
	}
	var out registry.PromotionView
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/promotions/" + seg(id), out: &out, auth: true})
	return out, err
}

// Approve approves a promotion, naming the artifact digest approved.
func (c *Client) Approve(ctx context.Context, id string, req registry.ApproveRequest) (registry.PromotionView, error) {
	if err := present("promotion id", id); err != nil {
		return registry.PromotionView{}, err
	}
	var out registry.PromotionView
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/promotions/" + seg(id) + "/approve", body: req, out: &out, auth: true})
	return out, err
}

// Reject rejects a promotion awaiting approval, with a reason.
func (c *Client) Reject(ctx context.Context, id, reason string) (registry.PromotionView, error) {
	if err := present("promotion id", id); err != nil {
		return registry.PromotionView{}, err
	}
	var out registry.PromotionView
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/promotions/" + seg(id) + "/reject", body: ReasonRequest{Reason: reason}, out: &out, auth: true})
	return out, err
}

// Cancel withdraws a promotion.
func (c *Client) Cancel(ctx context.Context, id, reason string) (registry.PromotionView, error) {
	if err := present("promotion id", id); err != nil {
		return registry.PromotionView{}, err
	}
	var out registry.PromotionView
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/promotions/" + seg(id) + "/cancel", body: ReasonRequest{Reason: reason}, out: &out, auth: true})
	return out, err
}

// Rollback puts an environment back on an earlier version (req.To, or by
// default the newest earlier one that may go live) and holds the version
// that was live.
func (c *Client) Rollback(ctx context.Context, req registry.RollbackRequest) (registry.RollbackView, error) {
	var out registry.RollbackView
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/rollbacks", body: req, out: &out, auth: true})
	return out, err
}

// Rollouts lists the rollouts that f selects, newest first, a page at a
// time as Promotions lists promotions (promote.RolloutFilter).
func (c *Client) Rollouts(ctx context.Context, f promote.RolloutFilter) ([]promote.Rollout, error) {
	q := url.Values{}
	setIf(q, "model", f.Model)
	setIf(q, "version", f.Version)
	setIf(q, "environment", f.Environment)
	if f.ActiveOnly {
		q.Set("active", "true")
	}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.Rollout
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/rollouts", query: q, out: &out, auth: true})
	return out, err
}

// Rollout returns the rollout of a promotion.
func (c *Client) Rollout(ctx context.Context, id string) (promote.Rollout, error) {
	if err := present("promotion id", id); err != nil {
		return promote.Rollout{}, err
	}
	var out promote.Rollout
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/rollouts/" + seg(id), out: &out, auth: true})
	return out, err
}

// RolloutSamples lists the samples of a promotion's rollout, oldest first:
// the newest limit of them (0: the server's default, 1,000).
func (c *Client) RolloutSamples(ctx context.Context, id string, limit int) ([]promote.RolloutSample, error) {
	if err := present("promotion id", id); err != nil {
		return nil, err
	}
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []promote.RolloutSample
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/rollouts/" + seg(id) + "/samples", query: q, out: &out, auth: true})
	return out, err
}

// RolloutOp pauses, resumes, aborts or promotes (verb) a rollout, with
// req's reason, and only at req's revision when that is not 0.
func (c *Client) RolloutOp(ctx context.Context, id, verb string, req RolloutOpRequest) (promote.Rollout, error) {
	if err := present("promotion id", id); err != nil {
		return promote.Rollout{}, err
	}
	switch verb {
	case "pause", "resume", "abort", "promote":
	default:
		return promote.Rollout{}, promote.Errorf(promote.Invalid, "rollout operation %q: want pause, resume, abort or promote", verb)
	}
	var out promote.Rollout
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/rollouts/" + seg(id) + "/" + verb, body: req, out: &out, auth: true})
	return out, err
}

// Deliveries lists webhook delivery attempts, newest first.
func (c *Client) Deliveries(ctx context.Context, limit int) ([]notify.Delivery, error) {
	return c.ListDeliveries(ctx, notify.DeliveryFilter{Limit: limit})
}

// ListDeliveries lists the webhook delivery attempts f selects, newest
// first.
func (c *Client) ListDeliveries(ctx context.Context, f notify.DeliveryFilter) ([]notify.Delivery, error) {
	q := url.Values{}
	setLimit(q, f.Limit)
	if f.Endpoint != "" {
		q.Set("endpoint", f.Endpoint)
	}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	var out []notify.Delivery
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/webhooks/deliveries", query: q, out: &out, auth: true})
	return out, err
}

// ResendDelivery asks for the delivery id, which failed for good, to be
// sent again, and returns its failed attempt; the server's leader sends
// it shortly after.
func (c *Client) ResendDelivery(ctx context.Context, id string) (notify.Delivery, error) {
	var out notify.Delivery
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/webhooks/deliveries/" + seg(id) + "/resend", out: &out, auth: true})
	return out, err
}

// Leader reports which replica runs the controllers, as the server
// answering saw it last.
func (c *Client) Leader(ctx context.Context) (Leader, error) {
	var out Leader
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/leader", out: &out, auth: true})
	return out, err
}

// ---- holds

// Holds lists the holds that f selects, newest first, a page at a time as
// Promotions lists promotions, by the holds' IDs (promote.HoldFilter).
func (c *Client) Holds(ctx context.Context, f promote.HoldFilter) ([]promote.Hold, error) {
	q := url.Values{}
	setIf(q, "model", f.Model)
	setIf(q, "version", f.Version)
	setIf(q, "environment", f.Environment)
	if f.IncludeCleared {
		q.Set("all", "true")
	}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.Hold
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/holds", query: q, out: &out, auth: true})
	return out, err
}

// SetHold puts a version on hold in an environment.
func (c *Client) SetHold(ctx context.Context, model, version, env, reason string) (promote.Hold, error) {
	var out promote.Hold
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/holds",
		body: HoldRequest{Model: model, Version: version, Environment: env, Reason: reason}, out: &out, auth: true})
	return out, err
}

// ClearHold clears a hold, with a reason.
func (c *Client) ClearHold(ctx context.Context, id int64, reason string) (promote.Hold, error) {
	var out promote.Hold
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/holds/" + strconv.FormatInt(id, 10) + "/clear",
		body: ReasonRequest{Reason: reason}, out: &out, auth: true})
	return out, err
}

// ---- audit

// AuditEvents lists audit events matching f, newest first.
func (c *Client) AuditEvents(ctx context.Context, f promote.AuditFilter) ([]promote.AuditEvent, error) {
	q := url.Values{}
	setIf(q, "model", f.Model)
	setIf(q, "environment", f.Environment)
	setIf(q, "promotion", f.PromotionID)
	setIf(q, "action", f.Action)
	setIf(q, "actor", f.Actor)
	setIf(q, "token", f.TokenID)
	setIf(q, "version", f.Version)
	for k, t := range map[string]time.Time{"since": f.Since, "until": f.Until} {
		if !t.IsZero() {
			q.Set(k, t.UTC().Format(time.RFC3339Nano))
		}
	}
	setCursors(q, f.BeforeSeq, f.AfterSeq)
	setLimit(q, f.Limit)
	var out []promote.AuditEvent
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/audit", query: q, out: &out, auth: true})
	return out, err
}

// VerifyAudit has the server verify the audit chain. A broken chain is not
// an error: the result's OK is false and Broken names the first bad link.
func (c *Client) VerifyAudit(ctx context.Context) (audit.Result, error) {
	var out audit.Result
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/audit/verify", out: &out, auth: true})
	return out, err
}

// ExportAudit writes the audit log's events after event after (0: all of
// them) as JSON Lines to w and returns the number of events. An export cut
// off midway is an error, never a short log taken for whole.
func (c *Client) ExportAudit(ctx context.Context, w io.Writer, after int64) (int64, error) {
	var q url.Values
	if after > 0 {
		q = url.Values{"after": {strconv.FormatInt(after, 10)}}
	}
	resp, err := c.send(ctx, call{method: http.MethodGet, path: Prefix + "/audit/export", query: q, auth: true})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	lc := &lineCounter{w: w}
	if _, err := io.Copy(lc, resp.Body); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return lc.lines, fmt.Errorf("write the audit export: %w", we.err)
		}
		return lc.lines, promote.Errorf(promote.Internal, "the audit export from %s broke off after %d events: %v", c.raw, lc.lines, err)
	}
	if want := resp.Trailer.Get(EventsTrailer); want != "" {
		n, err := strconv.ParseInt(want, 10, 64)
		if err != nil || n != lc.lines {
			return lc.lines, promote.Errorf(promote.Internal, "the audit export from %s is incomplete: %d events received, the server sent %s", c.raw, lc.lines, want)
		}
	}
	return lc.lines, nil
}

type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// lineCounter counts the lines written through it.
type lineCounter struct {
	w     io.Writer
	lines int64
}

func (l *lineCounter) Write(b []byte) (int, error) {
	n, err := l.w.Write(b)
	l.lines += int64(bytes.Count(b[:n], []byte{'\n'}))
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}

// ---- tokens

// Tokens lists the tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]promote.Token, error) {
	var out []promote.Token
	err := c.do(ctx, call{method: http.MethodGet, path: Prefix + "/tokens", out: &out, auth: true})
	return out, err
}

// CreateToken creates a token and returns its secret, shown this once.
func (c *Client) CreateToken(ctx context.Context, req registry.TokenRequest) (string, promote.Token, error) {
	var out TokenCreated
	err := c.do(ctx, call{method: http.MethodPost, path: Prefix + "/tokens", body: req, out: &out, auth: true})
	return out.Secret, out.Token, err
}

// RevokeToken revokes a token by its ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	if err := present("token id", id); err != nil {
		return err
	}
	return c.do(ctx, call{method: http.MethodDelete, path: Prefix + "/tokens/" + seg(id), auth: true})
}

func setIf(q url.Values, key, v string) {
	if v != "" {
		q.Set(key, v)
	}
}

// setCursors sets a page's before and after cursors, those above 0: 0 is
// no cursor.
func setCursors(q url.Values, before, after int64) {
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
}

func setLimit(q url.Values, n int) {
	if n > 0 {
		q.Set("limit", strconv.Itoa(n))
	}
}

// present checks that each path value (given as what, value pairs) is
// given: an empty one would make another route's path. The server checks
// the rest.
func present(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return promote.Errorf(promote.Invalid, "%s is empty", pairs[i])
		}
	}
	return nil
}
