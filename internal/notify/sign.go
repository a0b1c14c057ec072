package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers every webhook request carries.
const (
	HeaderID        = "Promote-Webhook-Id"
	HeaderTimestamp = "Promote-Webhook-Timestamp"
	HeaderSignature = "Promote-Webhook-Signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from the
// receiver's clock before Verify rejects it.
const DefaultTolerance = 5 * time.Minute

// signatureVersion prefixes each signature so that the scheme can change
// without breaking receivers that understand only the old one.
const signatureVersion = "v1"

// Errors returned by Verify and ReplayGuard; test with errors.Is.
var (
	ErrMissingHeader = errors.New("missing webhook header")
	ErrTimestamp     = errors.New("webhook timestamp outside tolerance")
	ErrSignature     = errors.New("webhook signature does not match")
	ErrReplay        = errors.New("webhook already received")
	ErrInFlight      = errors.New("webhook being processed")
)

// Sign returns the value of the Promote-Webhook-Signature header for body
// sent at ts (Unix seconds): "v1=" followed by the hex HMAC-SHA256, keyed by
// secret, of the decimal timestamp, a full stop and the body. Binding the
// timestamp into the MAC is what lets a receiver reject old requests.
func Sign(secret []byte, ts int64, body []byte) string {
	return signatureVersion + "=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strconv.FormatInt(ts, 10)))
	h.Write([]byte("."))
	h.Write(body)
	return h.Sum(nil)
}

// Verify is the receiver's check of a webhook request: header holds the
// request's headers and body its raw, unparsed body. It fails unless the
// timestamp is within tolerance of now (DefaultTolerance when tolerance is
// zero or less) in either direction, and one of the space-separated v1
// signatures matches, compared in constant time, and a JSON body's "id"
// is the Promote-Webhook-Id header (the header is not signed; the body
// is). Several signatures appear while a secret is being rotated. Verify
// does not catch a replay inside the window; pair it with a ReplayGuard
// keyed on Promote-Webhook-Id.
func Verify(secret []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tsText := header.Get(HeaderTimestamp)
	sigs := header.Get(HeaderSignature)
	switch {
	case header.Get(HeaderID) == "":
		return fmt.Errorf("verify webhook: %w: %s", ErrMissingHeader, HeaderID)
	case tsText == "":
		return fmt.Errorf("verify webhook: %w: %s", ErrMissingHeader, HeaderTimestamp)
	case sigs == "":
		return fmt.Errorf("verify webhook: %w: %s", ErrMissingHeader, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: %w: %s %q is not Unix seconds", ErrTimestamp, HeaderTimestamp, tsText)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("verify webhook: %w: timestamp is %s from now, tolerance %s", ErrTimestamp, skew.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range strings.Fields(sigs) {
		v, hexSig, ok := strings.Cut(s, "=")
		if !ok || v != signatureVersion {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return checkID(header.Get(HeaderID), body)
		}
	}
	return fmt.Errorf("verify webhook: %w", ErrSignature)
}

// checkID ties the Promote-Webhook-Id header, which the signature does not
// cover, to the signed body: a JSON body's "id" is the event's ID, and the
// header must name the same. Otherwise a request captured in transit could
// be replayed inside the window under a fresh ID, and a ReplayGuard keyed
// on the header would take it for a new event. A body with no "id" (the
// Slack format) has nothing to tie it to.
func checkID(id string, body []byte) error {
	var ev struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.ID == nil || *ev.ID == id {
		return nil
	}
	return fmt.Errorf("verify webhook: %w: %s %q is not the signed event's id %q", ErrSignature, HeaderID, id, *ev.ID)
}

// ReplayGuard remembers the webhook IDs a receiver has taken in, so that a
// request carrying an ID it has seen is not processed again: a captured
// request replayed inside the tolerance window (Verify rejects it once the
// window has passed), or Promote's retry of a delivery whose answer it
// did not get. An ID is in flight from Check until Done or Forget: a
// repeat meanwhile gets ErrInFlight, to be answered with an error so that
// Promote retries, since the first request may yet fail; once Done, a
// repeat gets ErrReplay, to be acknowledged. It keeps state in memory, so
// a receiver running several replicas needs a shared store instead. The
// zero value is not usable; call NewReplayGuard.
type ReplayGuard struct {
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]seenID
}

// seenID is what a ReplayGuard knows of an ID.
type seenID struct {
	at   time.Time // when Check took it in, or Done finished it
	done bool      // processed: a repeat is acknowledged, not retried
}

// NewReplayGuard returns a guard that remembers IDs for window
// (DefaultTolerance when zero or less); now is the clock, time.Now when nil.
func NewReplayGuard(window time.Duration, now func() time.Time) *ReplayGuard {
	if window <= 0 {
		window = DefaultTolerance
	}
	if now == nil {
		now = time.Now
	}
	return &ReplayGuard{window: window, now: now, seen: make(map[string]seenID)}
}

// Check takes id in and returns nil the first time it is seen; the
// receiver then processes the event and calls Done, or Forget when it
// could not. A repeat returns an error wrapping ErrInFlight while the
// first is still being processed: answer it with an error (503), since
// that processing may yet fail and Forget the ID, and acknowledging the
// repeat would have Promote stop retrying an event nobody processed. A
// repeat after Done returns an error wrapping ErrReplay: answer it with
// 2xx so Promote stops retrying. Call it after Verify succeeds.
func (g *ReplayGuard) Check(id string) error {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	// Twice the window: a request may carry a timestamp up to one tolerance in
	// the future and so stay valid for two windows after we first see it.
	for k, s := range g.seen {
		if now.Sub(s.at) > 2*g.window {
			delete(g.seen, k)
		}
	}
	if s, ok := g.seen[id]; ok {
		if !s.done {
			return fmt.Errorf("check webhook %s: %w", id, ErrInFlight)
		}
		return fmt.Errorf("check webhook %s: %w", id, ErrReplay)
	}
	g.seen[id] = seenID{at: now}
	return nil
}

// Done records that the event id names was processed: a repeat is a
// replay from now on, for twice the window.
func (g *ReplayGuard) Done(id string) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[id] = seenID{at: now, done: true}
}

// Forget removes id, so that a retry is accepted after the receiver failed to
// process the first delivery and answered with an error.
func (g *ReplayGuard) Forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.seen, id)
}
