package registry

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/promote-ml/promote/promote"
)

// maxCommentLen bounds an approval's comment, as the web UI's form does,
// and maxNoteLen a request's note for the approvers.
const (
	maxCommentLen = 2000
	maxNoteLen    = 2000
)

// checkText refuses a person's free text (what: "the reason") longer
// than max characters, as a rollback's reason is refused (maxReasonLen).
func checkText(what, text string, max int) error {
	if n := utf8.RuneCountInString(text); n > max {
		return promote.Errorf(promote.Invalid, "%s is %d characters; at most %d", what, n, max)
	}
	return nil
}

// CheckReason refuses a person's reason longer than a rollback takes, for
// a caller that must refuse it before it acts: the rollout controller's
// Abort, which moves traffic before it has the registry roll back.
func CheckReason(reason string) error {
	return checkText("the reason", strings.TrimSpace(reason), maxReasonLen)
}

// addHold stores a hold and audits it. The event names the hold, as its
// clearing does, so that the hash-chained trail alone says which hold a
// clearing ended when several stand on one version and environment.
func (s *Service) addHold(tx promote.Tx, h promote.Hold) (promote.Hold, error) {
	h, err := tx.AddHold(h)
	if err != nil {
		return h, err
	}
	return h, audit(tx, promote.AuditEvent{Time: h.SetAt, Actor: h.SetBy, Action: promote.ActionHoldSet, Model: h.Model,
		Version: h.Version, Environment: h.Environment, Decision: "hold", Reasons: reasonsJSON(fmt.Sprintf("hold %d: %s", h.ID, h.Reason))})
}

// SetHold puts a version on hold in an environment: no promotion of it to
// that environment goes ahead until a person clears the hold.
func (s *Service) SetHold(ctx context.Context, who promote.Principal, model, version, env, reason string) (promote.Hold, error) {
	if err := Authorize(who, promote.RoleApprover, "setting a hold"); err != nil {
		return promote.Hold{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return promote.Hold{}, promote.Errorf(promote.Invalid, "a hold needs a reason")
	}
	if err := checkText("the reason", reason, maxReasonLen); err != nil {
		return promote.Hold{}, err
	}
	if err := validateNames("model name", model, "version", version); err != nil {
		return promote.Hold{}, err
	}
	if _, err := s.cfg.Pipeline.Environment(env); err != nil {
		return promote.Hold{}, err
	}
	var h promote.Hold
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		if _, err := tx.Version(model, version); err != nil {
			return err
		}
		var err error
		h, err = s.addHold(tx, promote.Hold{Model: model, Version: version, Environment: env, Reason: reason, SetBy: who.Name, SetAt: s.clock()})
		return err
	})
	return h, err
}

// ClearHold clears a hold. It takes a person with the approver role and a
// reason: holds are never cleared by automation.
func (s *Service) ClearHold(ctx context.Context, who promote.Principal, id int64, reason string) (promote.Hold, error) {
	if err := Authorize(who, promote.RoleApprover, "clearing a hold"); err != nil {
		return promote.Hold{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return promote.Hold{}, promote.Errorf(promote.Invalid, "clearing a hold needs a reason")
	}
	if err := checkText("the reason", reason, maxReasonLen); err != nil {
		return promote.Hold{}, err
	}
	var h promote.Hold
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		var err error
		now := s.clock()
		if h, err = tx.ClearHold(id, who.Name, reason, now); err != nil {
			return err
		}
		return audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionHoldCleared, Model: h.Model,
			Version: h.Version, Environment: h.Environment, Decision: "cleared",
			Reasons: reasonsJSON(fmt.Sprintf("hold %d cleared: %s", id, reason))})
	})
	return h, err
}

// Holds lists holds, newest first.
func (s *Service) Holds(ctx context.Context, f promote.HoldFilter) ([]promote.Hold, error) {
	var out []promote.Hold
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Holds(f)
		return err
	})
	return out, err
}
