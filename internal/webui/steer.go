package webui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/rollout"
	"github.com/promote-ml/promote/promote"
)

// steerView is what the signed-in person may do with an active rollout
// from its promotion's page: the operations its state allows, each a
// button of the steering form, which names the rollout's revision shown
// so that an operation on a rollout that has moved on since is refused.
type steerView struct {
	Revision int64
	// Resume labels the resume button ("Resume"; for a rollout waiting
	// for a person, "Go on to 50%", or "Confirm" at its last step, as
	// the rollout controller that carries it out decides), and
	// ResumeDoes says what it does; Resume is empty when the rollout
	// cannot be resumed (it runs, and does not wait for a person; or the
	// controller would refuse it, waiting or paused, which ResumeDoes
	// then says).
	Resume, ResumeDoes string
	Pause              bool
	// Version and Stable name the candidate and the stable version, for
	// what promoting and aborting do.
	Version, Stable string
}

// steering returns what s's person may do with r, nil when nothing: the
// server runs no rollout controller, the person does not hold the
// approver role (the API's check), or the rollout has ended.
func (u *UI) steering(r *promote.Rollout, s *session) *steerView {
	if r == nil || !r.State.Active() || u.opts.Rollouts == nil || s == nil || !s.who.Role.Allows(promote.RoleApprover) {
		return nil
	}
	v := &steerView{Revision: r.Revision, Version: r.Version, Stable: r.Stable, Pause: r.State != promote.RolloutPaused}
	switch next := r.Next; {
	case next != nil && next.Refused != "":
		// The controller refuses the go, or the resumption of a paused
		// rollout (the policy no longer rolls the rollout out as it
		// began): no button that would be refused, and why.
		v.ResumeDoes = sentence(next.Refused)
	case r.State == promote.RolloutPaused && r.Strategy == policy.StrategyShadow:
		// A shadow has no steps: it mirrors again (docs/rollouts.md).
		v.Resume, v.ResumeDoes = "Resume", "Resume mirrors requests to the candidate again; the shadow's duration counts again from now."
	case r.State == promote.RolloutPaused:
		v.Resume, v.ResumeDoes = "Resume", "Resume gives the candidate its step's weight again; the step's minimum time and requests count again from now."
		if at := rollout.ResumeWords(*r); at != "" {
			// Where the controller that carries it out puts the rollout,
			// by the policy it runs now.
			v.ResumeDoes = "Resume runs the rollout again at " + at + "; the step's minimum time and requests count again from now."
		}
	case r.WaitsForPerson():
		switch {
		case next == nil:
			// Nothing said what a go does (the page read no controller's
			// word on it): no button that might do something else.
		case next.Last:
			v.Resume, v.ResumeDoes = "Confirm", "Confirm gives the candidate all traffic and ends the rollout as a success."
		default:
			w := strconv.Itoa(next.Weight)
			v.Resume = "Go on to " + w + "%"
			v.ResumeDoes = v.Resume + " moves the rollout to its next step (step " + strconv.Itoa(next.Step+1) + ") now, at " + w + "% of the traffic, still judged by the analysis."
		}
	}
	return v
}

// steeredWords says, above a promotion's page, what the person's operation
// on its rollout did (?steered=VERB after the operation, signed: see
// notice).
//
// A resumption that ended the rollout (the confirmation of its last
// step) says what a promotion says.
func steeredWords(verb string, r *promote.Rollout) string {
	if verb == rollout.OpResume && r != nil && r.State == promote.RolloutSucceeded {
		verb = rollout.OpPromote
	}
	return steerDone[verb]
}

// steerDone says what each operation did.
var steerDone = map[string]string{
	rollout.OpPause:   "The rollout is paused: the candidate keeps its weight until someone resumes it.",
	rollout.OpResume:  "The rollout goes on.",
	rollout.OpPromote: "The rollout is promoted: the candidate has all the traffic.",
	rollout.OpAbort:   "The rollout is aborted: the traffic is back on the stable version, whose commit follows.",
}

// steer carries out an operation on a promotion's rollout, as the
// signed-in person, through the same path as the REST API
// (rollout.Steer): the same role check, the same refusals. The form names
// the revision the page showed; an operation on a rollout that has moved
// on since is refused and changes nothing. An abort needs a reason and
// the box ticked that says what it does.
func (u *UI) steer(verb string) actionFunc {
	return func(w http.ResponseWriter, r *http.Request, s *session) error {
		id := r.PathValue("id")
		op := rollout.Op{Verb: verb, ID: id, Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
		reasonField := "steer-reason"
		if verb == rollout.OpAbort {
			reasonField = "abort-reason"
		}
		var bad string // the field that holds what is wrong
		rev, perr := strconv.ParseInt(r.PostForm.Get("revision"), 10, 64)
		// A lower role is refused as such before anything else, as the
		// API refuses it, whatever the form holds.
		err := registry.Authorize(s.who, promote.RoleApprover, op.Action())
		switch {
		case err != nil:
		case perr != nil || rev <= 0:
			err = promote.Errorf(promote.Invalid, "the form does not say which state of the rollout it was sent from (revision %q); reload the page and decide again. Nothing was changed", r.PostForm.Get("revision"))
		case verb == rollout.OpAbort && op.Reason == "":
			err, bad = promote.Errorf(promote.Invalid, "say why you abort the rollout: the reason is recorded with the rollback and the hold. Nothing was changed"), reasonField
		case verb == rollout.OpAbort && r.PostForm.Get("confirm") != "yes":
			err, bad = promote.Errorf(promote.Invalid, "tick the box that confirms the abort: it rolls the candidate back and holds it. Nothing was changed"), "abort-confirm"
		case registry.CheckReason(op.Reason) != nil:
			// The controller checks it too; here the field says so.
			err, bad = registry.CheckReason(op.Reason), reasonField
		default:
			op.Revision = rev
			_, err = rollout.Steer(r.Context(), u.opts.Rollouts, u.svc, s.who, op)
		}
		return u.steered(w, r, s, op, err, bad)
	}
}

// steered redirects to the promotion after an operation on its rollout,
// saying what it did; or shows the promotion again with the error and
// its status, the reason as it was typed, and the field whose ID is bad,
// when the error is about what was typed in it, marked invalid.
//
// A form sent twice (a double click) is answered as the first was: the
// second is refused, as the rollout has moved on, and showing that
// refusal would tell the person that what they did did not count.
func (u *UI) steered(w http.ResponseWriter, r *http.Request, s *session, op rollout.Op, err error, bad string) error {
	if err != nil && op.Revision != 0 && promote.ErrorCode(err) == promote.Conflict {
		repeated, rerr := u.steeredAlready(r.Context(), s, op)
		if rerr != nil {
			return rerr
		}
		if repeated {
			err = nil
		}
	}
	if err == nil {
		u.log.Info("webui: rollout operation", "actor", s.who.Name, "promotion", op.ID, "action", op.Verb)
		target := u.noticeURL(s, Prefix+"/promotions/"+url.PathEscape(op.ID), "steered", op.Verb)
		if r.PostFormValue("follow") == "1" {
			target += "&follow=1" // a person following the rollout goes on following it
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
	code := status(err)
	if code == http.StatusInternalServerError || code == http.StatusNotFound {
		return err
	}
	v, lerr := u.loadPromotion(r, op.ID, s)
	if lerr != nil {
		return lerr
	}
	if op.Verb == rollout.OpAbort {
		v.AbortReason, v.AbortRefused = op.Reason, true
	} else {
		v.SteerReason = op.Reason
	}
	v.SteerInvalid = bad
	who := s.who
	u.renderView(w, r, code, "promotion", view{Title: "Promotion " + v.P.ID, Nav: "pipeline", User: &who, CSRF: s.csrf, Error: err.Error(), Page: v})
	return nil
}

// steeredAlready says whether op, refused because the rollout is no
// longer at op.Revision, is one the signed-in person made already: the
// rollout is one revision on, in the state op leads to, and the newest
// event of its promotion is theirs.
func (u *UI) steeredAlready(ctx context.Context, s *session, op rollout.Op) (bool, error) {
	var (
		ro     promote.Rollout
		events []promote.AuditEvent
	)
	err := u.store.View(ctx, func(tx promote.Tx) error {
		var err error
		if ro, err = tx.Rollout(op.ID); err != nil {
			return err
		}
		events, err = tx.AuditEvents(promote.AuditFilter{PromotionID: op.ID, Limit: 1})
		return err
	})
	if err != nil || ro.Revision != op.Revision+1 || len(events) == 0 ||
		!strings.EqualFold(strings.TrimSpace(events[0].Actor), strings.TrimSpace(s.who.Name)) {
		return false, err
	}
	switch op.Verb {
	case rollout.OpPause:
		return ro.State == promote.RolloutPaused, nil
	case rollout.OpResume:
		return ro.State == promote.RolloutRunning || ro.State == promote.RolloutSucceeded, nil
	case rollout.OpPromote:
		return ro.State == promote.RolloutSucceeded, nil
	default:
		return ro.State == promote.RolloutRolledBack, nil
	}
}

// sentence makes a message (lower case, no full stop, as errors are
// written) a sentence of a page.
func sentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:] + "."
}
