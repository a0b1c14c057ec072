package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

// Prefix is the path every API route starts with.
const Prefix = "/api/v1"

// addRoutes is the route table. The OpenAPI document (openapi.go) lists the
// same routes; a test fails when the two differ.
func (s *Server) addRoutes() {
	s.handle("GET "+Prefix+"/openapi.json", s.openAPI)
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handleHTTP("GET /metrics", s.metricsHandler())

	s.handleAuth("GET "+Prefix+"/environments", s.environments)

	s.handleAuth("GET "+Prefix+"/models", s.listModels)
	s.handleAuth("POST "+Prefix+"/models", s.createModel)
	s.handleAuth("GET "+Prefix+"/models/{model}", s.getModel)
	s.handleAuth("GET "+Prefix+"/models/{model}/status", s.modelStatus)
	s.handleAuth("GET "+Prefix+"/models/{model}/history", s.history)

	s.handleAuth("GET "+Prefix+"/models/{model}/versions", s.listVersions)
	s.handleAuth("POST "+Prefix+"/models/{model}/versions", s.registerVersion)
	s.handleAuth("GET "+Prefix+"/models/{model}/versions/{version}", s.getVersion)
	s.handleAuth("POST "+Prefix+"/models/{model}/versions/{version}/reject", s.rejectVersion)

	s.handleAuth("GET "+Prefix+"/promotions", s.listPromotions)
	s.handleAuth("POST "+Prefix+"/promotions", s.requestPromotion)
	s.handleAuth("GET "+Prefix+"/promotions/{id}", s.getPromotion)
	s.handleAuth("POST "+Prefix+"/promotions/{id}/approve", s.approve)
	s.handleAuth("POST "+Prefix+"/promotions/{id}/reject", s.rejectPromotion)
	s.handleAuth("POST "+Prefix+"/promotions/{id}/cancel", s.cancelPromotion)

	s.handleAuth("POST "+Prefix+"/rollbacks", s.rollback)

	s.handleAuth("GET "+Prefix+"/rollouts", s.listRollouts)
	s.handleAuth("GET "+Prefix+"/rollouts/{id}", s.getRollout)
	s.handleAuth("GET "+Prefix+"/rollouts/{id}/samples", s.rolloutSamples)
	for _, verb := range rollout.Verbs {
		s.handleAuth("POST "+Prefix+"/rollouts/{id}/"+verb, s.rolloutOp(verb))
	}

	s.handleAuth("GET "+Prefix+"/webhooks/deliveries", s.listDeliveries)
	s.handleAuth("POST "+Prefix+"/webhooks/deliveries/{id}/resend", s.resendDelivery)

	s.handleAuth("GET "+Prefix+"/leader", s.leader)

	s.handleAuth("GET "+Prefix+"/holds", s.listHolds)
	s.handleAuth("POST "+Prefix+"/holds", s.setHold)
	s.handleAuth("POST "+Prefix+"/holds/{id}/clear", s.clearHold)

	s.handleAuth("GET "+Prefix+"/audit", s.listAudit)
	s.handleAuth("GET "+Prefix+"/audit/verify", s.verifyAudit)
	s.handleAuth("GET "+Prefix+"/audit/export", s.exportAudit)

	s.handleAuth("GET "+Prefix+"/tokens", s.listTokens)
	s.handleAuth("POST "+Prefix+"/tokens", s.createToken)
	s.handleAuth("DELETE "+Prefix+"/tokens/{id}", s.revokeToken)
}

// noQuery refuses query parameters on a route that takes none.
func noQuery(r *http.Request) error { return newQuery(r).err }

// ---- public

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	if err := noQuery(r); err != nil {
		return err
	}
	doc, err := openAPIJSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(doc)
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

// ReadyTimeout bounds /readyz's check of the store: under the timeout of
// the readiness probe in deploy/ (2s), so that a store too slow to answer
// is a 503 whose cause the log names, not a probe that timed out.
const ReadyTimeout = time.Second

// readyz reports whether the store answers. Its error is logged, not
// shown: /readyz is public.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "not ready", attrRequestID(requestID(r.Context())), attrError(err))
			return errorStatus(http.StatusServiceUnavailable, promote.Internal, "not ready: the store does not answer")
		}
	}
	writeJSON(w, http.StatusOK, Health{Status: "ready"})
	return nil
}

// ---- environments

func (s *Server) environments(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	now := s.opts.Now()
	envs := s.svc.Pipeline().Environments
	out := make([]Environment, 0, len(envs))
	for i := range envs {
		e := &envs[i]
		v := Environment{Name: e.Name, From: e.From, Policy: e.Policy, Soak: Duration(e.Soak), AutoPromote: e.AutoPromote, Strategy: e.Strategy, Overlay: e.Overlay}
		for _, fw := range e.Freeze {
			v.Freeze = append(v.Freeze, freezeView(fw))
		}
		v.Frozen, v.FrozenReason = e.Frozen(now)
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var dayNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func freezeView(fw promote.FreezeWindow) FreezeWindow {
	v := FreezeWindow{Name: fw.Name, Allow: fw.Allow}
	if !fw.Start.IsZero() || !fw.End.IsZero() {
		start, end := fw.Start, fw.End
		v.Start, v.End = &start, &end
		return v
	}
	for _, d := range fw.Days {
		v.Days = append(v.Days, dayNames[d%7])
	}
	v.From = fmt.Sprintf("%02d:%02d", fw.StartClock/60, fw.StartClock%60)
	v.To = fmt.Sprintf("%02d:%02d", fw.EndClock/60, fw.EndClock%60)
	v.Timezone = "UTC"
	if fw.Location != nil {
		v.Timezone = fw.Location.String()
	}
	return v
}

// ---- models

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "before", "after", "limit")
	var f promote.ModelFilter
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	list, err := s.svc.Models(r.Context(), f)
	return writeList(w, list, err)
}

func (s *Server) createModel(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	var req CreateModelRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	m, err := s.svc.CreateModel(r.Context(), who, req.Name, req.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	name, err := pathName(r, "model", "model name")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	m, err := s.svc.Model(r.Context(), name)
	if err != nil {
		return err
	}
	st, err := s.svc.Status(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ModelDetail{Model: m, Status: statusView(st)})
	return nil
}

func (s *Server) modelStatus(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	name, err := pathName(r, "model", "model name")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	st, err := s.svc.Status(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusView(st))
	return nil
}

// statusView fills a status's empty lists and drops the promotions' raw
// decisions (GET /promotions/{id} shows the decision as "gate").
func statusView(st registry.Status) registry.Status {
	if st.Live == nil {
		st.Live = map[string]promote.Live{}
	}
	st.Promotions = promotionsView(st.Promotions)
	st.Holds = nonNil(st.Holds)
	st.Environments = nonNil(st.Environments)
	return st
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	model, err := pathName(r, "model", "model name")
	if err != nil {
		return err
	}
	q := newQuery(r, "environment", "before", "after", "limit")
	f := promote.LiveFilter{Model: model, Environment: q.name("environment", "environment")}
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	if f.Environment == "" {
		return invalid("query parameter environment is required (one of %s)", strings.Join(s.svc.Pipeline().Names(), ", "))
	}
	list, err := s.svc.History(r.Context(), f)
	return writeList(w, list, err)
}

// ---- versions

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	model, err := pathName(r, "model", "model name")
	if err != nil {
		return err
	}
	q := newQuery(r, "before", "after", "limit")
	f := promote.VersionFilter{Model: model}
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	list, err := s.svc.Versions(r.Context(), f)
	return writeList(w, list, err)
}

func (s *Server) registerVersion(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	model, err := pathName(r, "model", "model name")
	if err != nil {
		return err
	}
	var body RegisterVersionRequest
	if err := s.decode(w, r, &body); err != nil {
		return err
	}
	if body.Model != "" && body.Model != model {
		return invalid("model %q in the body differs from model %q in the path", body.Model, model)
	}
	req := registry.RegisterRequest{Model: model, Version: body.Version, ArtifactURI: body.ArtifactURI, Digest: body.Digest,
		Size: body.Size, Signature: body.Signature, Lineage: body.Lineage}
	if req.Metrics, err = rawObject(body.Metrics, "metrics", false); err != nil {
		return err
	}
	bundle, err := rawObject(body.Bundle, "bundle", true)
	if err != nil {
		return err
	}
	req.Bundle = string(bundle)
	v, err := s.svc.RegisterVersion(r.Context(), who, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// rawObject returns the bytes of a JSON object field as sent, so that the
// service parses the document itself (and names its fields); a string is
// taken as the document's text when strOK. null or absent is nothing.
func rawObject(raw json.RawMessage, field string, strOK bool) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '{':
		return raw, nil
	case raw[0] == '"' && strOK:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("field %s: %v", field, err)
		}
		return []byte(s), nil
	}
	if strOK {
		return nil, invalid("field %s: want a JSON object or a string", field)
	}
	return nil, invalid("field %s: want a JSON object (the metrics.json document)", field)
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	model, version, err := modelVersion(r)
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	v, err := s.svc.Version(r.Context(), model, version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func modelVersion(r *http.Request) (string, string, error) {
	model, err := pathName(r, "model", "model name")
	if err != nil {
		return "", "", err
	}
	version, err := pathName(r, "version", "version")
	return model, version, err
}

func (s *Server) rejectVersion(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	model, version, err := modelVersion(r)
	if err != nil {
		return err
	}
	var req ReasonRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.svc.RejectVersion(r.Context(), who, model, version, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// ---- promotions

func (s *Server) listPromotions(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "model", "version", "environment", "state", "active", "before", "after", "limit")
	f := promote.PromotionFilter{
		Model:       q.name("model", "model name"),
		Version:     q.name("version", "version"),
		Environment: q.name("environment", "environment"),
		States:      q.states("state"),
		ActiveOnly:  q.boolean("active"),
	}
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	ps, err := s.svc.Promotions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, promotionsView(ps))
	return nil
}

// promotionsView drops each promotion's raw decision: in JSON it would be
// base64 of the decision's JSON, useless to read. A promotion's decision is
// in GET /promotions/{id} as "gate".
func promotionsView(ps []promote.Promotion) []promote.Promotion {
	out := make([]promote.Promotion, len(ps))
	for i, p := range ps {
		p.Decision = nil
		out[i] = p
	}
	return out
}

func promotionView(v registry.PromotionView) registry.PromotionView {
	v.Decision = nil
	if v.Approvals == nil {
		v.Approvals = []promote.Approval{}
	}
	return v
}

func (s *Server) requestPromotion(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	var req registry.PromoteRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := promote.ValidateName("model name", req.Model); err != nil {
		return err
	}
	if err := promote.ValidateName("version", req.Version); err != nil {
		return err
	}
	if err := promote.ValidateName("environment", req.Environment); err != nil {
		return err
	}
	v, err := s.svc.RequestPromotion(r.Context(), who, req)
	if err != nil {
		return err
	}
	if req.DryRun {
		// Nothing was created: the answer says what would be.
		writeJSON(w, http.StatusOK, promotionView(v))
		return nil
	}
	// A blocked promotion is still a promotion created: its state and gate
	// say why it is blocked.
	writeJSON(w, http.StatusCreated, promotionView(v))
	return nil
}

func promotionID(r *http.Request) (string, error) { return pathName(r, "id", "promotion id") }

func (s *Server) getPromotion(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	id, err := promotionID(r)
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	v, err := s.svc.Promotion(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, promotionView(v))
	return nil
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	id, err := promotionID(r)
	if err != nil {
		return err
	}
	var req registry.ApproveRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.svc.Approve(r.Context(), who, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, promotionView(v))
	return nil
}

func (s *Server) rejectPromotion(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	return s.promotionWithReason(w, r, who, s.svc.Reject)
}

func (s *Server) cancelPromotion(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	return s.promotionWithReason(w, r, who, s.svc.Cancel)
}

// promotionWithReason serves the actions on a promotion whose body is a
// reason: reject and cancel.
func (s *Server) promotionWithReason(w http.ResponseWriter, r *http.Request, who promote.Principal,
	act func(ctx context.Context, who promote.Principal, id, reason string) (registry.PromotionView, error)) error {
	id, err := promotionID(r)
	if err != nil {
		return err
	}
	var req ReasonRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	v, err := act(r.Context(), who, id, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, promotionView(v))
	return nil
}

// ---- holds

func (s *Server) listHolds(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "model", "version", "environment", "all", "before", "after", "limit")
	f := promote.HoldFilter{
		Model:          q.name("model", "model name"),
		Version:        q.name("version", "version"),
		Environment:    q.name("environment", "environment"),
		IncludeCleared: q.boolean("all"),
	}
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	list, err := s.svc.Holds(r.Context(), f)
	return writeList(w, list, err)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	var req registry.RollbackRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	v, err := s.svc.Rollback(r.Context(), who, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "model", "version", "environment", "active", "before", "after", "limit")
	f := promote.RolloutFilter{
		Model:       q.name("model", "model name"),
		Version:     q.name("version", "version"),
		Environment: q.name("environment", "environment"),
		ActiveOnly:  q.boolean("active"),
	}
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	list, err := s.svc.Rollouts(r.Context(), f)
	for i := range list {
		list[i] = s.withNext(list[i])
	}
	return writeList(w, list, err)
}

// withNext is r with what a person's go does to it, when it waits for
// one, as the server's rollout controller says (promote.Rollout.Next):
// none on a server without a controller.
func (s *Server) withNext(r promote.Rollout) promote.Rollout {
	if s.opts.Rollouts == nil {
		return r
	}
	return s.opts.Rollouts.WithNext(r)
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	id, err := promotionID(r)
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	ro, err := s.svc.Rollout(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withNext(ro))
	return nil
}

// Page sizes of a rollout's samples: a chart wants many points, more than
// a listing's page.
const (
	DefaultSampleLimit = 1000
	MaxSampleLimit     = 10000
)

// rolloutSamples serves a rollout's samples, oldest first: the newest
// limit of them.
func (s *Server) rolloutSamples(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	id, err := promotionID(r)
	if err != nil {
		return err
	}
	q := newQuery(r, "limit")
	if q.err != nil {
		return q.err
	}
	n := DefaultSampleLimit
	if v := q.str("limit"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > MaxSampleLimit {
			return invalid("query parameter limit: %q is not a number from 1 to %d", v, MaxSampleLimit)
		}
	}
	list, err := s.svc.RolloutSamples(r.Context(), id, n)
	return writeList(w, list, err)
}

// rolloutOp serves POST /rollouts/{id}/{verb}.
func (s *Server) rolloutOp(verb string) func(http.ResponseWriter, *http.Request, promote.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
		id, err := promotionID(r)
		if err != nil {
			return err
		}
		var req RolloutOpRequest
		if err := s.decode(w, r, &req); err != nil {
			return err
		}
		ro, err := rollout.Steer(r.Context(), s.opts.Rollouts, s.svc, who, rollout.Op{Verb: verb, ID: id, Reason: req.Reason, Revision: req.Revision})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.withNext(ro))
		return nil
	}
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "limit", "endpoint", "status")
	f := notify.DeliveryFilter{Limit: q.limit(), Endpoint: q.endpoint("endpoint"), Status: q.str("status")}
	if q.err != nil {
		return q.err
	}
	if f.Status != "" && !slices.Contains(notify.Statuses(), f.Status) {
		return invalid("status %q: want one of %s", f.Status, strings.Join(notify.Statuses(), ", "))
	}
	if f.Limit == 0 {
		f.Limit = promote.DefaultLimit
	}
	list := []notify.Delivery{}
	if s.opts.Deliveries != nil {
		got, err := s.opts.Deliveries.List(r.Context(), f)
		if err != nil {
			return err
		}
		list = nonNil(got)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// resendDelivery asks for a delivery that failed for good to be sent
// again; the leader's dispatcher sends it, so the answer is 202.
func (s *Server) resendDelivery(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	id, err := pathName(r, "id", "delivery id")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	if err := registry.Authorize(who, promote.RoleAdmin, "re-sending a webhook"); err != nil {
		return err
	}
	if s.opts.Resender == nil {
		return promote.Errorf(promote.Conflict, "this server sends no webhooks (serve --webhooks): there is nothing to re-send")
	}
	d, err := s.opts.Resender.Resend(r.Context(), who, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, d)
	return nil
}

func (s *Server) leader(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	if s.opts.Leader == nil {
		return promote.Errorf(promote.NotFound, "this server takes part in no leader election")
	}
	writeJSON(w, http.StatusOK, s.opts.Leader())
	return nil
}

func (s *Server) setHold(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	var req HoldRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	for _, f := range []struct{ what, v string }{{"model name", req.Model}, {"version", req.Version}, {"environment", req.Environment}} {
		if err := promote.ValidateName(f.what, f.v); err != nil {
			return err
		}
	}
	h, err := s.svc.SetHold(r.Context(), who, req.Model, req.Version, req.Environment, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h)
	return nil
}

func (s *Server) clearHold(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return invalid("hold id %q is not a positive integer", raw)
	}
	var req ReasonRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	h, err := s.svc.ClearHold(r.Context(), who, id, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// ---- audit

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "model", "version", "environment", "promotion", "action", "actor", "token", "since", "until", "before", "after", "limit")
	f := promote.AuditFilter{
		Model:       q.name("model", "model name"),
		Version:     q.name("version", "version"),
		Environment: q.name("environment", "environment"),
		PromotionID: q.name("promotion", "promotion id"),
		Action:      q.str("action"),
		Actor:       q.str("actor"),
		Since:       auditTime(q, "since"),
		Until:       auditTime(q, "until"),
	}
	f.BeforeSeq, f.AfterSeq, f.Limit = q.page()
	if q.err != nil {
		return q.err
	}
	// A token ID that is no token's would list nothing, which reads as
	// "this token did nothing": a malformed one is refused.
	tokenID, err := audit.ParseTokenID(q.str("token"))
	if err != nil {
		return invalid("query parameter token: %v", err)
	}
	f.TokenID = tokenID
	if len(f.Actor) > promote.MaxNameLen {
		return invalid("query parameter actor is %d characters long; at most %d", len(f.Actor), promote.MaxNameLen)
	}
	// An action no event has would list nothing, which reads as "it never
	// happened": a typo ("promotion.approved") is refused instead.
	if f.Action != "" && !slices.Contains(promote.AuditActions, f.Action) {
		return invalid("query parameter action %q is not an audit action (known: %s)", f.Action, strings.Join(promote.AuditActions, ", "))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		return invalid("query parameter since %s is after until %s: no event can match", q.str("since"), q.str("until"))
	}
	list, err := s.svc.AuditEvents(r.Context(), f)
	return writeList(w, list, err)
}

// auditTime reads the audit list's time bound key, an RFC 3339 time
// (zero when absent).
func auditTime(q *query, key string) time.Time {
	v := q.str(key)
	if v == "" || q.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		q.err = invalid("query parameter %s: %q is not an RFC 3339 time (such as 2026-11-01T00:00:00Z)", key, v)
	}
	return t
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	res, err := audit.Verify(r.Context(), s.svc.Store())
	if err != nil {
		return err
	}
	// A broken chain is a finding, not a failed request: 200 with ok false.
	writeJSON(w, http.StatusOK, res)
	return nil
}

// EventsTrailer is the trailer of GET /audit/export that carries the
// number of events written, so that a client can tell a complete export
// from a cut one.
const EventsTrailer = "X-Promote-Events"

func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, _ promote.Principal) error {
	q := newQuery(r, "after")
	after := q.int64("after")
	if q.err != nil {
		return q.err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="promote-audit.jsonl"`)
	w.Header().Set("Trailer", EventsTrailer)
	cw := &countingWriter{w: w}
	n, err := audit.Export(r.Context(), s.svc.Store(), cw, after)
	if err != nil {
		if cw.n == 0 {
			w.Header().Del("Trailer")
			w.Header().Del("Content-Disposition")
			return err
		}
		// Part of the export is out: the status can no longer say it
		// failed, so cut the connection, and the client sees a broken
		// stream rather than a short log it would take for whole.
		s.log.LogAttrs(r.Context(), slog.LevelError, "audit export failed midway", attrRequestID(requestID(r.Context())),
			slog.Int64("events", n), attrError(err))
		panic(http.ErrAbortHandler)
	}
	w.Header().Set(EventsTrailer, strconv.FormatInt(n, 10))
	return nil
}

type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// ---- tokens

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	list, err := s.svc.Tokens(r.Context(), who)
	return writeList(w, list, err)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	var req registry.TokenRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	secret, t, err := s.svc.CreateToken(r.Context(), who, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, TokenCreated{Secret: secret, Token: t})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, who promote.Principal) error {
	id, err := pathName(r, "id", "token id")
	if err != nil {
		return err
	}
	if err := noQuery(r); err != nil {
		return err
	}
	if err := s.svc.RevokeToken(r.Context(), who, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nonNil makes an empty list [] in JSON rather than null.
// writeList answers with a listing, [] rather than null when it is empty,
// or returns the error that came with it.
func writeList[T any](w http.ResponseWriter, list []T, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(list))
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
