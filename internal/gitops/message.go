package gitops

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// The trailer keys of a promotion commit. Approved-By repeats, one per
// approver; Rollback-Of appears on rollbacks only, Reason when one is given.
const (
	TrailerPromotionID = "Promotion-Id"
	TrailerModel       = "Model"
	TrailerVersion     = "Version"
	TrailerDigest      = "Digest"
	TrailerEnvironment = "Environment"
	TrailerApprovedBy  = "Approved-By"
	TrailerGate        = "Gate"
	TrailerRollbackOf  = "Rollback-Of"
	TrailerReason      = "Reason"
)

// Trailer is one "Key: value" line of a commit message's trailer block.
type Trailer struct {
	Key   string
	Value string
}

// Subject returns the first line of the commit message for c:
// "promote MODEL VERSION to ENV", or "rollback MODEL in ENV to VERSION".
func (c *Change) Subject() string {
	if c.RollbackOf != "" {
		return fmt.Sprintf("rollback %s in %s to %s", c.Pin.Model, c.Environment, c.Pin.Version)
	}
	return fmt.Sprintf("promote %s %s to %s", c.Pin.Model, c.Pin.Version, c.Environment)
}

// Trailers returns the trailers of the commit message for c, in order.
func (c *Change) Trailers() []Trailer {
	t := []Trailer{
		{TrailerPromotionID, c.PromotionID},
		{TrailerModel, c.Pin.Model},
		{TrailerVersion, c.Pin.Version},
		{TrailerDigest, c.Pin.Digest},
		{TrailerEnvironment, c.Environment},
	}
	for _, a := range c.ApprovedBy {
		if a = oneLine(a); a != "" {
			t = append(t, Trailer{TrailerApprovedBy, a})
		}
	}
	if g := oneLine(c.Gate); g != "" {
		t = append(t, Trailer{TrailerGate, g})
	}
	if c.RollbackOf != "" {
		t = append(t, Trailer{TrailerRollbackOf, c.RollbackOf})
	}
	if r := oneLine(c.Reason); r != "" {
		t = append(t, Trailer{TrailerReason, r})
	}
	return t
}

// Message returns the whole commit message for c, written to overlay dir
// (such as deploy/overlays/prod): the subject, a body for people, and the
// trailers for machines (git interpret-trailers --parse reads them).
func (c *Change) Message(dir string) string {
	var b strings.Builder
	b.WriteString(c.Subject())
	b.WriteString("\n\n")
	if c.RollbackOf != "" {
		fmt.Fprintf(&b, "Pin %s version %s in %s again, replacing version %s.\n", c.Pin.Model, c.Pin.Version, dir, c.RollbackOf)
	} else {
		fmt.Fprintf(&b, "Pin %s version %s in %s.\n", c.Pin.Model, c.Pin.Version, dir)
	}
	if c.Pin.URI != "" {
		fmt.Fprintf(&b, "Artifact: %s\n", oneLine(c.Pin.URI))
	}
	if r := strings.TrimSpace(c.Reason); r != "" {
		// The reason as written, in a paragraph of its own; its trailer
		// below is folded onto one line.
		fmt.Fprintf(&b, "\n%s\n", strings.ReplaceAll(r, "\r\n", "\n"))
	}
	b.WriteString("\n")
	for _, t := range c.Trailers() {
		fmt.Fprintf(&b, "%s: %s\n", t.Key, t.Value)
	}
	return b.String()
}

// oneLine folds every run of white space, new lines included, into one
// space, so that a value cannot break out of its trailer line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var trailerLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$`) })

// ParseTrailers returns the trailers of a commit message: the "Key: value"
// lines of its last paragraph, as git interpret-trailers reads them, with
// continuation lines (starting with white space) folded into the value.
// A message whose last paragraph is also its first (the subject alone)
// has no trailers.
func ParseTrailers(message string) []Trailer {
	paragraphs := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	if len(paragraphs) < 2 {
		return nil
	}
	var out []Trailer
	for _, line := range strings.Split(paragraphs[len(paragraphs)-1], "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value = oneLine(out[len(out)-1].Value + " " + line)
			continue
		}
		if m := trailerLine().FindStringSubmatch(line); m != nil {
			out = append(out, Trailer{Key: m[1], Value: strings.TrimSpace(m[2])})
		}
	}
	return out
}

// trailerValue returns the first value of key in trailers (keys compare
// case-insensitively, as git's do).
func trailerValue(trailers []Trailer, key string) (string, bool) {
	for _, t := range trailers {
		if strings.EqualFold(t.Key, key) {
			return t.Value, true
		}
	}
	return "", false
}
