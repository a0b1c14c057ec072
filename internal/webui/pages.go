package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

// Listing sizes.
const (
	auditPageSize = 50
	// versionPageSize is how many versions a model's page lists at a
	// time: the API's default page.
	versionPageSize = promote.DefaultLimit
	// auditCSVBatch is how many events the audit CSV reads from the store
	// at a time: the most a listing returns.
	auditCSVBatch = 1000
	maxSamples    = 1000
	// historyLimit bounds the events a promotion page lists (a long
	// rollout writes many); the audit log has them all.
	historyLimit  = 100
	maxDeliveries = 200
	// sectionSize is how many rows a section of the model or version page
	// lists of what may grow without bound (a model's holds, a version's
	// promotions to an environment): the newest, with a link to the
	// paged list of them all.
	sectionSize = 20
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"isotime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"timeptr": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"short": func(s string) string {
		s = strings.TrimPrefix(s, "sha256:")
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"state": func(s promote.State) string { return strings.ReplaceAll(string(s), "_", " ") },
	"words": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	// where says where an active rollout stands ("waiting for a person
	// at 50% (step 2 of 3)").
	"where": rollout.Where,
	// stepof is a canary's step, from 1, and the number of its plan's
	// steps when known ("2 of 3"), as rollout.Where counts them.
	"stepof":  rollout.StepWords,
	"percent": fmtPercent,
	"numptr": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(*v, 'g', 6, 64)
	},
	"actual": func(v any) string {
		switch x := v.(type) {
		case nil:
			return "—"
		case float64:
			return strconv.FormatFloat(x, 'g', 6, 64)
		case bool:
			if x {
				return "true"
			}
			return "false"
		}
		return fmt.Sprint(v)
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
	"join":  strings.Join,
	"path":  url.PathEscape,
	"query": url.QueryEscape,
	"add":   func(a, b int) int { return a + b },
	"indent": func(depth int) string {
		return strings.Repeat("\u2003", depth)
	},
	"dur":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"coord": coord,
	"sub":   func(a, b float64) float64 { return a - b },
	"mid":   func(a, b float64) float64 { return (a + b) / 2 },
	"neg":   func(a float64) float64 { return -a },
}

// pipelineCell is what one model has in one environment.
type pipelineCell struct {
	Env        string
	Live       *promote.Live
	Promotions []promote.Promotion
	// Holds are the newest cellHolds active holds of the model in Env;
	// MoreHolds counts the others, which the list of holds shows.
	Holds     []promote.Hold
	MoreHolds int
	Rollout   *promote.Rollout
}

// cellHolds is how many holds a cell of the pipeline shows: a cell is
// read at a glance.
const cellHolds = 3

// MoreHoldsLink is the list of the model's holds in the cell's environment.
func (c pipelineCell) MoreHoldsLink(model string) string {
	return withQuery(Prefix+"/holds", listQuery{Model: model, Environment: c.Env}.values())
}

type pipelineRow struct {
	Model string
	Cells []pipelineCell
}

type pipelineView struct {
	Envs []string
	Rows []pipelineRow
	// Counts are the whole store's: every model, and the active
	// promotions and holds in the pipeline's environments.
	Counts promote.PipelineCounts
	// Pager pages the models.
	Pager pager
}

// Paged says the store holds models on other pages than this one.
func (v pipelineView) Paged() bool {
	return v.Pager.Newer != "" || v.Pager.Older != "" || v.Pager.Newest != ""
}

// pipelineRows reads the pipeline's rows of models: in each of envs each
// model's live version, active promotions and rollout, and active holds,
// the newest cellHolds of them read and the others counted, not read. It
// reads each of these for all the models at once, so that a page costs
// the same few queries however many models it shows.
func (u *UI) pipelineRows(tx promote.Tx, models []promote.Model, envs []string) ([]pipelineRow, error) {
	if len(models) == 0 {
		return nil, nil
	}
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	live, err := tx.LiveOf(names)
	if err != nil {
		return nil, err
	}
	promotions, err := activePromotions(tx, promote.PromotionFilter{Models: names})
	if err != nil {
		return nil, err
	}
	rollouts, err := promote.AllRollouts(tx, promote.RolloutFilter{Models: names, ActiveOnly: true})
	if err != nil {
		return nil, err
	}
	holds, err := tx.HoldCells(names, cellHolds)
	if err != nil {
		return nil, err
	}
	type key struct{ model, env string }
	cells := map[key]*pipelineCell{}
	rows := make([]pipelineRow, len(models))
	for i, m := range models {
		rows[i] = pipelineRow{Model: m.Name, Cells: make([]pipelineCell, len(envs))}
		for j, e := range envs {
			c := &rows[i].Cells[j]
			c.Env = e
			if l, ok := live[m.Name][e]; ok {
				c.Live = &l
			}
			cells[key{m.Name, e}] = c
		}
	}
	// Each list is newest first, as the cells show them.
	for _, p := range promotions {
		if c := cells[key{p.Model, p.Environment}]; c != nil {
			c.Promotions = append(c.Promotions, p)
		}
	}
	for _, ro := range rollouts {
		if c := cells[key{ro.Model, ro.Environment}]; c != nil {
			// The oldest active one stands, as a cell read it before;
			// where it stands among its plan's steps as the controller
			// says (withNext), as its promotion's page says it.
			ro = u.withNext(ro)
			c.Rollout = &ro
		}
	}
	for _, h := range holds {
		if c := cells[key{h.Model, h.Environment}]; c != nil {
			c.Holds, c.MoreHolds = h.Holds, h.Active-len(h.Holds)
		}
	}
	return rows, nil
}

// pipelinePageSize is how many models the pipeline page shows at a time.
const pipelinePageSize = 50

// pipelinePage shows the environments as columns and a row per model,
// pipelinePageSize models a page, newest (the last registered) first, by
// sequence cursor as the model page pages versions: before=N shows the
// page of models older than N, after=N the page just newer. For the
// models on the page it reads, whole, their live versions and their
// active promotions and rollouts (at most one each per environment), and
// of their active holds the newest cellHolds a cell and the count of the
// others, each for all of them at once (pipelineRows): nothing of the
// models on other pages, nothing per version. The summary counts the
// whole store (Tx.PipelineCounts), not the page.
func (u *UI) pipelinePage(w http.ResponseWriter, r *http.Request, s *session) error {
	before, after, err := pageCursors(r)
	if err != nil {
		return err
	}
	envs := u.svc.Pipeline().Names()
	v := pipelineView{Envs: envs}
	err = u.store.View(r.Context(), func(tx promote.Tx) error {
		models, pg, err := seqPage(before, after, pipelinePageSize, func(m promote.Model) int64 { return m.Seq },
			func(before, after int64, limit int) ([]promote.Model, error) {
				return tx.Models(promote.ModelFilter{BeforeSeq: before, AfterSeq: after, Limit: limit})
			}, Prefix+"/", nil)
		if err != nil {
			return err
		}
		pg.Of = "models"
		v.Pager = pg
		if v.Rows, err = u.pipelineRows(tx, models, envs); err != nil {
			return err
		}
		v.Counts, err = tx.PipelineCounts(envs)
		return err
	})
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "pipeline", "Pipeline", "pipeline", v)
	return nil
}

// gateRow is one result of the gate, children indented below their group.
type gateRow struct {
	policy.Result
	Depth int
}

func gateRows(results []policy.Result, depth int, out []gateRow) []gateRow {
	for _, r := range results {
		out = append(out, gateRow{Result: r, Depth: depth})
		out = gateRows(r.Children, depth+1, out)
	}
	return out
}

// stateChange is one step of a promotion's life, from its audit events.
type stateChange struct {
	Seq     int64
	Time    time.Time
	Actor   string
	Action  string
	State   string
	Reasons string
}

type promotionView struct {
	P         promote.Promotion
	Approvals []promote.Approval
	Gate      *policy.Decision
	GateRows  []gateRow
	History   []stateChange
	// MoreHistory says older events of the promotion are left out.
	MoreHistory bool
	// Commit is the alias change this promotion made, with its GitOps
	// commit; Rollbacks are the newest sectionSize changes since that
	// rolled its version back, oldest first; MoreRollbacks, when there
	// are more, links to the audit log's rollbacks of the model there.
	Commit        *promote.Live
	Rollbacks     []promote.Live
	MoreRollbacks string
	Rollout       *promote.Rollout
	// Step is how far the rollout's step has come, nil when it does not
	// say (stepProgress).
	Step  *stepView
	Chart *chart
	// OnApproval says, while the promotion can be approved, what
	// approving it sets going (registry.Service.OnApproval).
	OnApproval []rollout.PlanLine
	// Awaiting says the promotion awaits approval; CanDecide that the
	// signed-in person holds the approver role.
	Awaiting  bool
	CanDecide bool
	Comment   string
	Reason    string
	// ReasonInvalid says the reason sent to reject was refused (none, or
	// too long): the field shows the error, is marked invalid and takes
	// the focus.
	ReasonInvalid bool
	// Steer is what the signed-in person may do with the active rollout,
	// nil when nothing (steering); Steered, what their operation just did
	// (?steered=VERB). SteerReason and AbortReason are the reasons typed
	// in a form whose operation was refused, and AbortRefused says the
	// refused one was an abort: its form shows open, with the error.
	// SteerInvalid is the ID of the field whose input was refused (a
	// missing reason, the abort's box not ticked): it is marked invalid,
	// shows the error and takes the focus.
	Steer        *steerView
	Steered      string
	SteerReason  string
	AbortReason  string
	AbortRefused bool
	SteerInvalid string
	// Follow says the person asked to follow the rollout (?follow=1): the
	// page loads itself again every FollowEvery seconds while the rollout
	// is active. It is never the default, since a page that reloads by
	// itself gets in the way of reading it (WCAG 2.2.1).
	Follow      bool
	FollowEvery int
}

// Following says the page reloads itself: followed, and the rollout still
// active.
func (v *promotionView) Following() bool {
	return v.Follow && v.Rollout != nil && v.Rollout.State.Active()
}

func (v *promotionView) refreshEvery() int {
	if v.Following() {
		return v.FollowEvery
	}
	return 0
}

// promotionPage shows a promotion: gate results, approvals, history,
// commit and rollout chart.
func (u *UI) promotionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := u.loadPromotion(r, r.PathValue("id"), s)
	if err != nil {
		return err
	}
	v.Follow, v.FollowEvery = r.URL.Query().Get("follow") == "1", int(u.opts.FollowEvery/time.Second)
	v.Steered = steeredWords(u.notice(r, s, "steered"), v.Rollout)
	u.render(w, r, s, http.StatusOK, "promotion", "Promotion "+v.P.ID, "pipeline", v)
	return nil
}

func (u *UI) loadPromotion(r *http.Request, id string, s *session) (*promotionView, error) {
	v := &promotionView{}
	err := u.store.View(r.Context(), func(tx promote.Tx) error {
		p, err := tx.Promotion(id)
		if err != nil {
			return err
		}
		v.P = p
		if v.Approvals, err = tx.Approvals(id); err != nil {
			return err
		}
		if len(p.Decision) > 0 {
			var d policy.Decision
			if err := json.Unmarshal(p.Decision, &d); err == nil {
				v.Gate = &d
				v.GateRows = gateRows(d.Results, 0, nil)
			}
		}
		events, err := tx.AuditEvents(promote.AuditFilter{PromotionID: id, Limit: historyLimit + 1})
		if err != nil {
			return err
		}
		if len(events) > historyLimit {
			events, v.MoreHistory = events[:historyLimit], true
		}
		for i := len(events) - 1; i >= 0; i-- {
			e := events[i]
			v.History = append(v.History, stateChange{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Action: e.Action, State: e.Decision, Reasons: audit.ReasonsText(e.Reasons)})
		}
		if err := promotionChanges(tx, p, v); err != nil {
			return err
		}
		ro, err := tx.Rollout(id)
		switch promote.ErrorCode(err) {
		case "":
			v.Rollout = &ro
			samples, err := tx.RolloutSamples(id, maxSamples)
			if err != nil {
				return err
			}
			v.Chart = newChart(withEnd(samples, ro), ro.Strategy)
		case promote.NotFound:
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.Awaiting = v.P.State == promote.StateAwaitingApproval
	v.OnApproval = rollout.PlanLines(u.svc.OnApproval(v.P))
	v.CanDecide = s != nil && s.who.Role.Allows(promote.RoleApprover)
	if v.Rollout != nil {
		ro := u.withNext(*v.Rollout)
		v.Rollout = &ro
		v.Step = stepProgress(*v.Rollout, u.now())
	}
	v.Steer = u.steering(v.Rollout, s)
	return v, nil
}

// withNext is r with what a person's go does to it as the server's
// rollout controller says (promote.Rollout.Next), r as stored on a server
// without one. What a go does, and where the rollout stands among its
// plan's steps, are the controller's to say, by the plan it carries the
// rollout on with, as the promotion page's button says: the count of
// steps stored with the rollout is the plan's as the controller last
// judged it, before a policy edit perhaps. Every page that shows where a
// rollout stands reads it through withNext, so that they agree.
func (u *UI) withNext(r promote.Rollout) promote.Rollout {
	if u.opts.Rollouts == nil {
		return r
	}
	return u.opts.Rollouts.WithNext(r)
}

// promotionChanges reads into v the change promotion p made to its
// model's alias, and the newest sectionSize rollbacks of its version
// since, with the link to the others when there are more: a few rows,
// however long the alias's history.
func promotionChanges(tx promote.Tx, p promote.Promotion, v *promotionView) error {
	made, err := tx.LiveChanges(promote.LiveFilter{Model: p.Model, Environment: p.Environment, PromotionID: p.ID, Limit: 1})
	if err != nil || len(made) == 0 {
		return err
	}
	rollbacks, err := tx.LiveChanges(promote.LiveFilter{Model: p.Model, Environment: p.Environment, RollbackOf: p.Version, After: p.ID, Limit: sectionSize + 1})
	if err != nil {
		return err
	}
	if len(rollbacks) > sectionSize {
		rollbacks = rollbacks[:sectionSize]
		v.MoreRollbacks = withQuery(Prefix+"/audit", auditQuery{Model: p.Model, Environment: p.Environment, Action: promote.ActionRolledBack}.values())
	}
	// The history keeps no commit error: the alias carries the one of the
	// change it holds, while it waits for its commit.
	live, err := tx.Live(p.Model)
	if err != nil {
		return err
	}
	cur := live[p.Environment]
	withError := func(l promote.Live) promote.Live {
		if l.PromotionID == cur.PromotionID && l.Commit == "" {
			l.CommitError = cur.CommitError
		}
		return l
	}
	commit := withError(made[0].Live)
	v.Commit = &commit
	// Oldest first, as they came.
	for i := len(rollbacks) - 1; i >= 0; i-- {
		v.Rollbacks = append(v.Rollbacks, withError(rollbacks[i].Live))
	}
	return nil
}

// withEnd returns a rollout's samples with its end when it has ended and
// no sample records the end: a person's rollback ends the rollout in the
// registry, which keeps no sample, so its chart would show neither the
// outcome nor when it came. The end is then marked at the rollout's last
// change, at the weight it was left at.
func withEnd(samples []promote.RolloutSample, r promote.Rollout) []promote.RolloutSample {
	var event string
	switch r.State {
	case promote.RolloutRolledBack:
		event = "rolled_back"
	case promote.RolloutSucceeded:
		event = "succeeded"
	default:
		return samples
	}
	if len(samples) == 0 {
		return samples
	}
	for _, s := range samples {
		if s.Event == "rolled_back" || s.Event == "succeeded" {
			return samples
		}
	}
	at := r.UpdatedAt
	if last := samples[len(samples)-1].At; at.Before(last) {
		at = last
	}
	return append(samples, promote.RolloutSample{PromotionID: r.PromotionID, At: at, Step: r.Step, Weight: r.Weight, Event: event})
}

// approve records the signed-in person's approval through the service, so
// that its role, self-approval and digest checks apply.
func (u *UI) approve(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	d := decision{Approve: true, Digest: r.PostForm.Get("digest"), Text: strings.TrimSpace(r.PostForm.Get("comment"))}
	_, err := u.svc.Approve(r.Context(), s.who, id, registry.ApproveRequest{Digest: d.Digest, Comment: d.Text})
	return u.decided(w, r, s, id, err, d)
}

// reject records the signed-in person's rejection through the service.
func (u *UI) reject(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	d := decision{Text: strings.TrimSpace(r.PostForm.Get("reason"))}
	_, err := u.svc.Reject(r.Context(), s.who, id, d.Text)
	return u.decided(w, r, s, id, err, d)
}

// decision is what an approve or reject form sent: Text is the comment of
// an approval or the reason of a rejection.
type decision struct {
	Approve bool
	Digest  string
	Text    string
}

// decided redirects to the promotion after a decision, or shows the
// promotion again with the error and its status, the form as it was sent.
//
// A form sent twice (a double click, or a tap again on a slow network:
// the browser sends both, and shows the answer to the second) is answered
// as the first was: the service refuses the second, as each person decides
// once, and showing that refusal would tell the person that the decision
// they made did not count.
func (u *UI) decided(w http.ResponseWriter, r *http.Request, s *session, id string, err error, d decision) error {
	if err != nil && promote.ErrorCode(err) == promote.Conflict {
		repeated, rerr := u.decidedAlready(r, s, id, d)
		if rerr != nil {
			return rerr
		}
		if repeated {
			err = nil
		}
	}
	if err == nil {
		u.log.Info("webui: decision", "actor", s.who.Name, "promotion", id, "action", strings.TrimPrefix(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/'):], "/"))
		http.Redirect(w, r, Prefix+"/promotions/"+url.PathEscape(id), http.StatusSeeOther)
		return nil
	}
	code := status(err)
	if code == http.StatusInternalServerError || code == http.StatusNotFound {
		return err
	}
	v, lerr := u.loadPromotion(r, id, s)
	if lerr != nil {
		return lerr
	}
	if d.Approve {
		v.Comment = d.Text
	} else {
		v.Reason = d.Text
		v.ReasonInvalid = promote.ErrorCode(err) == promote.Invalid
	}
	who := s.who
	u.renderView(w, r, code, "promotion", view{Title: "Promotion " + v.P.ID, Nav: "pipeline", User: &who, CSRF: s.csrf, Error: err.Error(), Page: v})
	return nil
}

// decidedAlready says whether the signed-in person's decision on the
// promotion is recorded as d: the same verdict, digest and words. Names
// are compared as the service counts approvers, without regard to case.
func (u *UI) decidedAlready(r *http.Request, s *session, id string, d decision) (bool, error) {
	var approvals []promote.Approval
	err := u.store.View(r.Context(), func(tx promote.Tx) error {
		var err error
		approvals, err = tx.Approvals(id)
		return err
	})
	if err != nil {
		return false, err
	}
	name := strings.TrimSpace(s.who.Name)
	for _, a := range approvals {
		if !strings.EqualFold(strings.TrimSpace(a.Approver), name) {
			continue
		}
		return a.Approve == d.Approve && (!d.Approve || a.Digest == d.Digest) && a.Comment == d.Text, nil
	}
	return false, nil
}

// livePeriod is a time a version was live in an environment.
type livePeriod struct {
	promote.Live
	Until *time.Time
	// EndedBy says what replaced it.
	EndedBy string
}

type envHistory struct {
	Env string
	// Promotions are the version's newest to Env; MorePromotions, when
	// there are more, links to the list of the model's promotions to Env.
	Promotions     []promote.Promotion
	MorePromotions string
	// Periods are the newest sectionSize times the version was live in
	// Env; MorePeriods, when there are more, links to the audit log's
	// events of the version in Env.
	Periods     []livePeriod
	MorePeriods string
	// Holds are the version's active holds in Env, all of them, and its
	// newest cleared ones; MoreHolds, when there are more, links to the
	// list of the model's holds in Env.
	Holds     []promote.Hold
	MoreHolds string
	LiveNow   bool
}

type kv struct {
	Key   string
	Value string
}

type versionView struct {
	V        promote.Version
	Metrics  []kv
	Checks   []kv
	Groups   []groupRow
	GroupCol []string
	Envs     []envHistory
	// Rollouts links to the list of the version's rollouts, in every
	// environment.
	Rollouts string
	Signed   bool // the signature verifies now, with the keys trusted now
	// SignatureNote says why it does not, when it does not.
	SignatureNote string
	SignedThen    bool   // it verified at registration
	SignatureKey  string // the trusted key that verifies it now
}

type groupRow struct {
	Group  string
	Values []string
}

// versionPage shows a version: evidence, lineage, digest, signature and
// its history in every environment.
func (u *UI) versionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	model, version := r.PathValue("model"), r.PathValue("version")
	v := versionView{Rollouts: withQuery(Prefix+"/rollouts", listQuery{Model: model, Version: version}.values())}
	envs := u.svc.Pipeline().Names()
	err := u.store.View(r.Context(), func(tx promote.Tx) error {
		var err error
		if v.V, err = tx.Version(model, version); err != nil {
			return err
		}
		for _, e := range envs {
			h := envHistory{Env: e}
			all := listQuery{Model: model, Version: version, Environment: e}.values()
			h.Promotions, h.MorePromotions, err = newest(all, Prefix+"/promotions", func(limit int) ([]promote.Promotion, error) {
				return tx.Promotions(promote.PromotionFilter{Model: model, Version: version, Environment: e, Limit: limit})
			})
			if err != nil {
				return err
			}
			if h.Holds, h.MoreHolds, err = versionHolds(tx, model, version, e, all); err != nil {
				return err
			}
			// The changes that made the version live, newest first,
			// each with the one that ended it: sectionSize of them,
			// however long the alias's history.
			changes, err := tx.LiveChanges(promote.LiveFilter{Model: model, Environment: e, Version: version, Limit: sectionSize + 1})
			if err != nil {
				return err
			}
			if len(changes) > sectionSize {
				changes, h.MorePeriods = changes[:sectionSize], withQuery(Prefix+"/audit", auditQuery{Model: model, Version: version, Environment: e}.values())
			}
			for _, c := range changes {
				p := livePeriod{Live: c.Live}
				if next := c.Next; next != nil {
					p.Until = &next.SetAt
					p.EndedBy = "version " + next.Version
					if next.RollbackOf == version {
						p.EndedBy = "rolled back to " + next.Version
					}
				} else {
					h.LiveNow = true
				}
				h.Periods = append(h.Periods, p)
			}
			v.Envs = append(v.Envs, h)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(v.V.Metrics) {
		v.Metrics = append(v.Metrics, kv{k, strconv.FormatFloat(v.V.Metrics[k], 'g', 6, 64)})
	}
	for _, k := range sortedKeys(v.V.Checks) {
		v.Checks = append(v.Checks, kv{k, strconv.FormatBool(v.V.Checks[k])})
	}
	cols := map[string]bool{}
	for _, g := range v.V.Groups {
		for k := range g {
			cols[k] = true
		}
	}
	v.GroupCol = sortedKeys(cols)
	for _, g := range sortedKeys(v.V.Groups) {
		row := groupRow{Group: g}
		for _, c := range v.GroupCol {
			if x, ok := v.V.Groups[g][c]; ok {
				row.Values = append(row.Values, strconv.FormatFloat(x, 'g', 6, 64))
			} else {
				row.Values = append(row.Values, "—")
			}
		}
		v.Groups = append(v.Groups, row)
	}
	check := u.svc.SignatureNow(v.V)
	v.Signed, v.SignatureNote, v.SignatureKey, v.SignedThen = check.Trusted, check.Note, check.KeyID, v.V.Signed()
	u.render(w, r, s, http.StatusOK, "version", fmt.Sprintf("%s version %s", model, version), "models", v)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type versionRow struct {
	promote.Version
	LiveIn []string
	Signed bool
}

type modelView struct {
	M          promote.Model
	Envs       []string
	Live       []pipelineCell
	Promotions []promote.Promotion
	// Holds are the model's newest active holds; MoreHolds, when there
	// are more, links to the list of its holds.
	Holds     []promote.Hold
	MoreHolds string
	Versions  []versionRow
	// Pager pages the versions.
	Pager pager
}

// modelPage shows a model: where it is live, its active promotions and
// holds, and its versions, newest first, versionPageSize a page by
// sequence cursor as the audit page pages events: before=N shows the
// page of versions older than N, after=N the page just newer.
func (u *UI) modelPage(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("model")
	before, after, err := pageCursors(r)
	if err != nil {
		return err
	}
	v := modelView{Envs: u.svc.Pipeline().Names()}
	err = u.store.View(r.Context(), func(tx promote.Tx) error {
		var err error
		if v.M, err = tx.Model(name); err != nil {
			return err
		}
		live, err := tx.Live(name)
		if err != nil {
			return err
		}
		liveIn := map[string][]string{}
		for _, e := range v.Envs {
			c := pipelineCell{Env: e}
			if l, ok := live[e]; ok {
				c.Live = &l
				liveIn[l.Version] = append(liveIn[l.Version], e)
			}
			v.Live = append(v.Live, c)
		}
		// At most one promotion per environment is active: the page
		// lists them all, however many the store holds.
		if v.Promotions, err = activePromotions(tx, promote.PromotionFilter{Model: name}); err != nil {
			return err
		}
		v.Holds, v.MoreHolds, err = newest(listQuery{Model: name}.values(), Prefix+"/holds", func(limit int) ([]promote.Hold, error) {
			return tx.Holds(promote.HoldFilter{Model: name, Limit: limit})
		})
		if err != nil {
			return err
		}
		versions, pg, err := seqPage(before, after, versionPageSize, func(v promote.Version) int64 { return v.Seq },
			func(before, after int64, limit int) ([]promote.Version, error) {
				return tx.Versions(promote.VersionFilter{Model: name, BeforeSeq: before, AfterSeq: after, Limit: limit})
			}, Prefix+"/models/"+url.PathEscape(name), nil)
		if err != nil {
			return err
		}
		pg.Of = "versions"
		v.Pager = pg
		for _, ver := range versions {
			v.Versions = append(v.Versions, versionRow{Version: ver, LiveIn: liveIn[ver.Version], Signed: u.svc.SignatureNow(ver).Trusted})
		}
		return nil
	})
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "model", "Model "+name, "models", v)
	return nil
}

// auditQuery is the audit page's filters and cursor.
type auditQuery struct {
	Model, Version, Environment, Actor, Action, Promotion string
	// Token is the ID of the token the events were made with.
	Token string
	// Since and Until are the time range as typed; since and until, as
	// read (zero: no bound).
	Since, Until  string
	since, until  time.Time
	Before, After int64
	// Field names the filter that could not be applied ("action",
	// "token", "since", "until"), for the form to mark; empty when none
	// or another.
	Field string
}

func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"model": q.Model, "version": q.Version, "environment": q.Environment, "actor": q.Actor, "action": q.Action, "promotion": q.Promotion,
		"token": q.Token, "since": q.Since, "until": q.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

type auditRow struct {
	promote.AuditEvent
	ReasonsText string
}

type auditView struct {
	Q auditQuery
	// Invalid says the filters cannot be applied: the page shows the
	// form with the error, and no events.
	Invalid bool
	Events  []auditRow
	Pager   pager
	Chain   chainStatus
	// CSV downloads every event the filters match, as CSV.
	CSV     string
	Actions []string
	Envs    []string
}

// auditPage lists audit events newest first, 50 a page, by sequence
// cursor: before=N shows the page of events older than N, after=N the page
// of events just newer than N.
func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	// URL.Query would drop what it cannot read, and a filter with it: the
	// page would show the whole log as if filtered.
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return promote.Errorf(promote.Invalid, "malformed query string: %v", err)
	}
	q, err := readAuditQuery(qs, u.now())
	// The filter offers the actions Promote writes (the API's list).
	v := auditView{Q: q, Actions: promote.AuditActions, Envs: u.svc.Pipeline().Names()}
	if err != nil {
		return u.badAuditFilter(w, r, s, v, err)
	}
	v.CSV = auditCSVLink(q)
	// The store applies every filter, through its indexes.
	events, pg, err := seqPage(q.Before, q.After, auditPageSize, func(e promote.AuditEvent) int64 { return e.Seq },
		func(before, after int64, limit int) ([]promote.AuditEvent, error) {
			f := q.filter()
			f.BeforeSeq, f.AfterSeq, f.Limit = before, after, limit
			return u.svc.AuditEvents(r.Context(), f)
		}, Prefix+"/audit", q.values())
	if err != nil {
		return u.badAuditFilter(w, r, s, v, err)
	}
	pg.Of = "events"
	v.Pager = pg
	for _, e := range events {
		v.Events = append(v.Events, auditRow{AuditEvent: e, ReasonsText: audit.ReasonsText(e.Reasons)})
	}
	v.Chain = u.chain.Status(r.Context())
	if v.Chain.cause != nil {
		u.log.Warn("webui: verifying the audit chain failed", slog.Any("error", v.Chain.cause))
	}
	u.render(w, r, s, http.StatusOK, "audit", "Audit log", "audit", v)
	return nil
}

// badAuditFilter answers a request whose filters cannot be applied (err,
// Invalid: the page's reading of them, or the store's, such as a time
// outside the years it stores) with the audit page's form as it was sent,
// so that it can be put right where it was typed, the error above it, no
// events, and status 400. Any other error is returned, for the error page.
func (u *UI) badAuditFilter(w http.ResponseWriter, r *http.Request, s *session, v auditView, err error) error {
	if promote.ErrorCode(err) != promote.Invalid {
		return err
	}
	v.Invalid = true
	who := s.who
	u.renderView(w, r, http.StatusBadRequest, "audit", view{Title: "Audit log", Nav: "audit", User: &who, CSRF: s.csrf, Error: err.Error(), Page: v})
	return nil
}

// auditCSVLink is the link that downloads, as CSV, every event that q's
// filters match: the page's filters, not its cursor.
func auditCSVLink(q auditQuery) string {
	return withQuery(Prefix+"/audit.csv", q.values())
}

// withQuery is path with the query string of vals, when there are any.
func withQuery(path string, vals url.Values) string {
	if len(vals) == 0 {
		return path
	}
	return path + "?" + vals.Encode()
}

// auditCSV streams, as CSV (audit.CSVWriter), every audit event that the
// audit page's filters match, newest first as the page lists them,
// reading the store a batch at a time (audit.ListAll) and writing each
// batch before reading the next. A before or after in the query bounds
// it as it bounds the page. A filter that cannot be applied gets the
// audit page's 400. Once the first row is out, the status can no longer
// say that a later batch failed: the connection is cut, so that the
// download fails rather than ending as if complete.
func (u *UI) auditCSV(w http.ResponseWriter, r *http.Request, s *session) error {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return promote.Errorf(promote.Invalid, "malformed query string: %v", err)
	}
	q, err := readAuditQuery(qs, u.now())
	if err != nil {
		return u.badAuditFilter(w, r, s, auditView{Q: q, Actions: promote.AuditActions, Envs: u.svc.Pipeline().Names()}, err)
	}
	f := q.filter()
	f.BeforeSeq, f.AfterSeq = q.Before, q.After
	cw := audit.NewCSVWriter(w)
	started := false
	start := func() error {
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8; header=present")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": auditCSVName(q, u.now())}))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return cw.WriteHeader()
	}
	rc := http.NewResponseController(w)
	var rows int64
	err = audit.ListAll(r.Context(), u.svc.AuditEvents, f, auditCSVBatch, func(evs []promote.AuditEvent) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if err := cw.Write(e); err != nil {
				return err
			}
		}
		rows += int64(len(evs))
		if err := cw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err == nil && !started {
		err = start()
	}
	if err == nil {
		err = cw.Flush()
	}
	switch {
	case err == nil:
		return nil
	case !started:
		return u.badAuditFilter(w, r, s, auditView{Q: q, Actions: promote.AuditActions, Envs: u.svc.Pipeline().Names()}, err)
	}
	if r.Context().Err() != nil {
		// The person cancelled the download: nothing failed.
		u.log.Info("webui: the audit CSV was cancelled by the client", slog.Int64("events", rows))
	} else {
		u.log.Error("webui: the audit CSV failed midway", slog.Int64("events", rows), slog.Any("error", err))
	}
	panic(http.ErrAbortHandler)
}

// auditCSVName is the CSV's file name: the filters given, then the time
// range, from since (or "start", the log's) to until (or the time of the
// download), so that downloads of different ranges do not overwrite
// each other: audit_prod_promotion.approval_20261101T000000Z-20261201T000000Z.csv.
func auditCSVName(q auditQuery, now time.Time) string {
	parts := []string{"audit"}
	for _, v := range []string{q.Model, q.Version, q.Environment, q.Promotion, q.Action, q.Actor, q.Token} {
		if v = fileNamePart(v); v != "" {
			parts = append(parts, v)
		}
	}
	from, to := "start", now
	if !q.since.IsZero() {
		from = q.since.UTC().Format(fileTime)
	}
	if !q.until.IsZero() {
		to = q.until
	}
	return strings.Join(parts, "_") + "_" + from + "-" + to.UTC().Format(fileTime) + ".csv"
}

// fileTime is the layout of a time in a file name: RFC 3339's basic form,
// to the second, without the colons that some file systems refuse.
const fileTime = "20060102T150405Z"

// fileNamePart keeps the letters, digits, dots and hyphens of v, the
// others written as hyphens, at most 64 of them: a filter may hold
// anything that is safe in a URL, and not all of that is in a file name.
func fileNamePart(v string) string {
	b := []byte(v)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b[:min(len(b), 64)]), ".-")
}

// readAuditQuery reads the audit page's filters and cursor. The query
// keeps what was given even when it returns an error, for the form.
func readAuditQuery(qs url.Values, now time.Time) (auditQuery, error) {
	q := auditQuery{Model: qs.Get("model"), Version: strings.TrimSpace(qs.Get("version")), Environment: qs.Get("environment"), Actor: strings.TrimSpace(qs.Get("actor")),
		Action: qs.Get("action"), Promotion: qs.Get("promotion"), Token: strings.TrimSpace(qs.Get("token")), Since: strings.TrimSpace(qs.Get("since")), Until: strings.TrimSpace(qs.Get("until"))}
	var err error
	if q.Before, q.After, err = readCursors(qs, seqCursor); err != nil {
		return q, err
	}
	if q.Action != "" && !slices.Contains(promote.AuditActions, q.Action) {
		q.Field = "action"
		return q, promote.Errorf(promote.Invalid, "action=%q: Promote writes no such action; it writes %s", q.Action, strings.Join(promote.AuditActions, ", "))
	}
	if err := promote.CheckVersionScope(q.Model, q.Version); err != nil {
		q.Field = "model" // what is missing
		return q, err
	}
	if _, err := audit.ParseTokenID(q.Token); err != nil {
		if strings.HasPrefix(q.Token, "prm_") {
			q.Token = "" // a secret is not shown back in the form
		}
		q.Field = "token"
		return q, promote.Errorf(promote.Invalid, "token: %v", err)
	}
	for _, c := range []struct {
		name, raw string
		dst       *time.Time
	}{{"since", q.Since, &q.since}, {"until", q.Until, &q.until}} {
		t, err := audit.ParseTimeBound(c.raw, now)
		if err != nil {
			q.Field = c.name
			return q, promote.Errorf(promote.Invalid, "%s=%q is not a time: %v", c.name, c.raw, err)
		}
		*c.dst = t
	}
	if !q.since.IsZero() && !q.until.IsZero() && q.since.After(q.until) {
		q.Field = "since"
		return q, promote.Errorf(promote.Invalid, "since=%q is after until=%q: no event can match", q.Since, q.Until)
	}
	return q, nil
}

// filter is the store's filter of q's filters, without its cursor.
func (q auditQuery) filter() promote.AuditFilter {
	return promote.AuditFilter{Model: q.Model, Version: q.Version, Environment: q.Environment, PromotionID: q.Promotion, Action: q.Action,
		Actor: q.Actor, TokenID: q.Token, Since: q.since, Until: q.until}
}

// pager links the pages next to one of a listing that is paged by
// sequence cursor, newest first (the audit log, a model's versions), for
// the pager templates. A link is empty when there is no such page.
type pager struct {
	// Of names what is paged ("events", "versions"), in the names of the
	// pager's landmarks.
	Of string
	// Newer is the page just newer, Older the page older, and Newest the
	// first page, offered when a cursor led to an empty page.
	Newer, Newest, Older string
}

// seqPage reads the page of at most size items older than before (from
// the newest when 0), or, when after is set, the one just newer than
// after, with list, which lists items newest first as the store pages
// them (promote.AuditFilter's BeforeSeq, AfterSeq and Limit); seq is an
// item's cursor. It returns the page and its pager, whose links are path
// with the listing's filters and a cursor ("before" or "after" and a seq),
// and whose Newest is path with the filters alone.
func seqPage[T any](before, after int64, size int, seq func(T) int64, list func(before, after int64, limit int) ([]T, error),
	path string, filters url.Values) ([]T, pager, error) {
	var p pager
	newest := withQuery(path, filters)
	link := func(key string, seq int64) string {
		q := url.Values{key: {strconv.FormatInt(seq, 10)}}
		maps.Copy(q, filters)
		return withQuery(path, q)
	}
	// One more than the page tells whether there is a page beyond it.
	if after > 0 {
		items, err := list(0, after, size+1)
		if err != nil {
			return nil, p, err
		}
		if len(items) > size {
			items = items[1:] // the page is the oldest size of them
			p.Newer = link("after", seq(items[0]))
		}
		if len(items) > 0 {
			p.Older = link("before", seq(items[len(items)-1]))
		} else {
			p.Newest = newest
		}
		return items, p, nil
	}
	items, err := list(before, 0, size+1)
	if err != nil {
		return nil, p, err
	}
	if len(items) > size {
		items = items[:size]
		p.Older = link("before", seq(items[size-1]))
	}
	if before > 0 {
		if len(items) > 0 {
			p.Newer = link("after", seq(items[0]))
		} else {
			p.Newest = newest
		}
	}
	return items, p, nil
}

// pageCursors reads the before and after of a page that takes no other
// parameter.
func pageCursors(r *http.Request) (before, after int64, err error) {
	qs, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, 0, promote.Errorf(promote.Invalid, "malformed query string: %v", err)
	}
	return readCursors(qs, seqCursor)
}

// seqCursor names the cursor of the listings paged by sequence number.
const seqCursor = "a sequence number"

// readCursors reads a paged listing's before and after (0 when absent),
// each a cursor of the listing: cursor names it in errors ("a sequence
// number", "a hold's ID").
func readCursors(qs url.Values, cursor string) (before, after int64, err error) {
	for _, c := range []struct {
		name string
		dst  *int64
	}{{"before", &before}, {"after", &after}} {
		if raw := qs.Get(c.name); raw != "" {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || n < 0 {
				return 0, 0, promote.Errorf(promote.Invalid, "%s=%q is not %s", c.name, raw, cursor)
			}
			*c.dst = n
		}
	}
	return before, after, nil
}

type webhooksView struct {
	Configured bool
	Deliveries []deliveryRow
	More       bool // the log holds more than the page shows
	// Resent is the delivery whose re-send the viewer just asked for
	// (?resent=ID, signed: see notice).
	Resent string
	// CanResend: the person may re-send a failed delivery (an admin, on
	// a server that sends webhooks).
	CanResend bool
}

// deliveryRow is an attempt as the page shows it.
type deliveryRow struct {
	notify.Delivery
	// Resend offers the re-send: the attempt is its delivery's newest and
	// failed for good, and the person is an admin.
	Resend bool
	// Pending: such an attempt whose re-send is asked for already and not
	// yet made.
	Pending bool
}

// pendingResends returns the deliveries among ds whose re-send is asked
// for and not yet made, so that the page does not offer it again.
func (u *UI) pendingResends(ctx context.Context, ds []notify.Delivery) (map[string]bool, error) {
	endpoints := map[string]bool{}
	for _, d := range ds {
		if d.Status == notify.StatusFailed {
			endpoints[d.Endpoint] = true
		}
	}
	pending := map[string]bool{}
	err := u.store.View(ctx, func(tx promote.Tx) error {
		for ep := range endpoints {
			rs, err := tx.WebhookResends(ep)
			if err != nil {
				return err
			}
			for _, r := range rs {
				pending[r.ID] = true
			}
		}
		return nil
	})
	return pending, err
}

// webhooksPage shows the webhook delivery log, newest first.
func (u *UI) webhooksPage(w http.ResponseWriter, r *http.Request, s *session) error {
	v := webhooksView{Configured: u.opts.Deliveries != nil, Resent: u.notice(r, s, "resent")}
	if v.Configured {
		ds, err := u.opts.Deliveries.Read(r.Context(), maxDeliveries+1)
		if err != nil {
			return err
		}
		if len(ds) > maxDeliveries {
			ds, v.More = ds[:maxDeliveries], true
		}
		v.CanResend = u.opts.Resender != nil && s != nil && s.who.Role.Allows(promote.RoleAdmin)
		var pending map[string]bool
		if v.CanResend {
			if pending, err = u.pendingResends(r.Context(), ds); err != nil {
				return err
			}
		}
		seen := map[string]bool{} // deliveries whose newest attempt is above
		for _, d := range ds {
			newestFailed := v.CanResend && !seen[d.ID] && d.Status == notify.StatusFailed
			v.Deliveries = append(v.Deliveries, deliveryRow{Delivery: d, Resend: newestFailed && !pending[d.ID], Pending: newestFailed && pending[d.ID]})
			seen[d.ID] = true
		}
	}
	u.render(w, r, s, http.StatusOK, "webhooks", "Webhook deliveries", "webhooks", v)
	return nil
}

// resend asks for a failed delivery to be sent again, as the signed-in
// admin, and shows the log again, saying so.
func (u *UI) resend(w http.ResponseWriter, r *http.Request, s *session) error {
	// The dispatcher checks the role too; a server that sends no webhooks
	// answers before it, and refuses a lower role as such all the same.
	if err := registry.Authorize(s.who, promote.RoleAdmin, "re-sending a webhook"); err != nil {
		return err
	}
	if u.opts.Resender == nil {
		return promote.Errorf(promote.Conflict, "this server sends no webhooks: there is nothing to re-send")
	}
	id := r.PathValue("delivery")
	if _, err := u.opts.Resender.Resend(r.Context(), s.who, id); err != nil {
		return err
	}
	http.Redirect(w, r, u.noticeURL(s, Prefix+"/webhooks", "resent", id), http.StatusSeeOther)
	return nil
}
