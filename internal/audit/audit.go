// Package audit verifies and exports Promote's hash-chained audit log.
//
// Each event's hash is the hex SHA-256 of the previous event's hash, a
// newline, and the event's canonical body (promote.ChainHash); the first
// event's previous hash is promote.GenesisHash. Verification recomputes
// every hash in sequence order and names the first link that does not
// hold: an event modified, deleted, reordered or inserted. The export is
// JSON Lines that verify offline with nothing but SHA-256 (docs/audit.md).
// ReasonsText words an event's reasons for the pages and the webhooks.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/promote"
)

// The kinds of broken link.
const (
	BreakModified  = "modified"  // an event's body or hash no longer match
	BreakDeleted   = "deleted"   // sequence numbers are missing
	BreakInserted  = "inserted"  // a sequence number appears twice or goes back, or lies past the store's head
	BreakReordered = "reordered" // an event is stored under another number, or does not follow its predecessor
	BreakTruncated = "truncated" // the log ends before the event a head names
	BreakRewritten = "rewritten" // the event a head names has another hash
)

// Break describes the first broken link of a chain.
type Break struct {
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Result is the outcome of a verification.
type Result struct {
	OK     bool   `json:"ok"`
	Events int64  `json:"events"`
	Broken *Break `json:"broken,omitempty"`
	// Head is the hash of the last event verified: keep it, and a later
	// verification that ends on another hash for the same Seq (or earlier)
	// reveals a rewritten or truncated log.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// After is, for an export that starts after the first event, the
	// event before its first: the kept head it continues, whose hash its
	// first event names as the previous one. 0 for a whole chain.
	After int64 `json:"after,omitempty"`
}

// Verifier checks records one at a time, in sequence order.
type Verifier struct {
	prev   string
	next   int64
	events int64
	broken *Break
	after  int64 // the kept head an export continues, 0 from the first event

	heads []expected // the heads the chain must reach, in the order given
	end   *expected  // the head no event may come after (EndAt), or nil
}

// expected is a head the chain must reach: whose it is, in words, and the
// hash the chain has for its Seq, once verified.
type expected struct {
	Head
	from, seen string
}

// Head is an event's sequence number and hash, kept from one verification
// to compare a later one with.
type Head struct {
	Seq  int64
	Hash string
}

// ExpectHead makes the verification fail unless the chain holds event
// h.Seq with hash h.Hash: it fails as truncated when the chain ends before
// it, as rewritten when the event has another hash. from names the head
// in the messages ("the store's head"). The chain alone shows neither a
// cut nor a rewritten end; a head kept apart from the events does. Each
// call adds a head; the first that fails is the break.
func (v *Verifier) ExpectHead(h Head, from string) {
	if h.Seq > 0 {
		v.heads = append(v.heads, expected{Head: h, from: from})
	}
}

// EndAt makes the verification fail at the first event after h, as
// inserted, and unless the chain holds h (ExpectHead). from names the
// head in the messages ("the store's head"). A store moves its head in
// the transaction of every append, so an event past a head read after
// the event was is one added to the log without it: hashed onto the last
// real event, it passes every other check.
func (v *Verifier) EndAt(h Head, from string) {
	v.end = &expected{Head: h, from: from}
	v.ExpectHead(h, from)
}

// PastHead returns the break of event seq, which comes after event end,
// the head from names ("the store's head", StoreHead): a store moves its
// head in the transaction of every append, so the event was added to the
// log without it.
func PastHead(seq, end int64, from string) *Break {
	at := fmt.Sprintf("event %d", end)
	if end == 0 {
		at = "which records no event"
	}
	return &Break{Seq: seq, Kind: BreakInserted,
		Message: fmt.Sprintf("event %d comes after %s, %s: it was added to the log without moving the head, which every append moves", seq, from, at)}
}

// ParseHead reads a head as `promote audit verify` prints it and
// --head takes it: SEQ:HASH, the sequence number of an event and its
// hash (64 hex digits).
func ParseHead(s string) (Head, error) {
	seqText, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 || seqText[0] < '0' || seqText[0] > '9' {
		return Head{}, fmt.Errorf("head %q: want SEQ:HASH, an event's sequence number (from 1) and its hash", s)
	}
	if len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
		return Head{}, fmt.Errorf("head %q: the hash must be 64 hex digits, as verify prints it", s)
	}
	return Head{Seq: seq, Hash: strings.ToLower(hash)}, nil
}

// NewVerifier returns a verifier expecting the first event.
func NewVerifier() *Verifier { return NewVerifierAt(0, promote.GenesisHash) }

// NewVerifierAt returns a verifier that continues a chain verified through
// event seq, whose hash was hash: it expects event seq+1, naming hash as
// its previous event's. A verification that keeps its last Result can so
// check only what was appended since.
func NewVerifierAt(seq int64, hash string) *Verifier { return &Verifier{prev: hash, next: seq + 1} }

// Add checks one record. It returns false once the chain is broken; the
// break is in Result.
func (v *Verifier) Add(r promote.AuditRecord) bool {
	if v.broken != nil {
		return false
	}
	v.events++
	brk := func(kind, format string, args ...any) bool {
		v.broken = &Break{Seq: r.Seq, Kind: kind, Message: fmt.Sprintf(format, args...)}
		return false
	}
	switch {
	case r.Seq > v.next:
		if r.Seq == v.next+1 {
			return brk(BreakDeleted, "event %d is missing, a gap in the sequence: the log goes from %d to %d", v.next, v.next-1, r.Seq)
		}
		return brk(BreakDeleted, "events %d to %d are missing, a gap in the sequence: the log goes from %d to %d", v.next, r.Seq-1, v.next-1, r.Seq)
	case r.Seq < v.next:
		return brk(BreakInserted, "event %d appears after event %d: an event was inserted or duplicated", r.Seq, v.next-1)
	}
	if v.end != nil && r.Seq > v.end.Seq {
		v.broken = PastHead(r.Seq, v.end.Seq, v.end.from)
		return false
	}
	if !bodyHasSeq(r.Body, r.Seq) {
		said, ok := bodySeq(r.Body)
		switch {
		case !ok:
			return brk(BreakModified, "event %d was modified: its body does not start with its sequence number", r.Seq)
		case said < r.Seq:
			return brk(BreakInserted, "event %d's body says it is event %d: %d event(s) were inserted before it and the log renumbered", r.Seq, said, r.Seq-said)
		default:
			return brk(BreakReordered, "event %d's body says it is event %d: events were reordered, or removed and the log renumbered", r.Seq, said)
		}
	}
	if got := promote.ChainHash(r.PrevHash, r.Body); got != r.Hash {
		// The hash covers the previous hash too: if the body hashes to
		// the stored hash on the previous event's, it is the stored
		// previous hash that was edited, not the body.
		if r.PrevHash != v.prev && promote.ChainHash(v.prev, r.Body) == r.Hash {
			return brk(BreakModified, "event %d's previous-hash link was edited: it names %s as the previous hash, but its hash was made on event %d's hash, %s, and its body matches it",
				r.Seq, short(r.PrevHash), r.Seq-1, short(v.prev))
		}
		return brk(BreakModified, "event %d was modified: its body does not match its hash: the stored hash is %s, but the event hashes to %s", r.Seq, short(r.Hash), short(got))
	}
	if r.PrevHash != v.prev {
		return brk(BreakReordered, "event %d's previous-hash link is broken: it names %s as the previous hash, but event %d's hash is %s (an event before it was modified, inserted or removed)",
			r.Seq, short(r.PrevHash), r.Seq-1, short(v.prev))
	}
	if r.Columns != nil {
		if field, stored, said, ok := columnsAgree(r); !ok {
			return brk(BreakModified, "event %d was modified: its stored %s is %q but its body says %q (filtered lists read the stored %s)",
				r.Seq, field, stored, said, field)
		}
	}
	v.prev, v.next = r.Hash, r.Seq+1
	for i := range v.heads {
		if r.Seq == v.heads[i].Seq {
			v.heads[i].seen = r.Hash
		}
	}
	return true
}

// Result returns the outcome so far: with an expected head, of a chain
// that ends here.
func (v *Verifier) Result() Result {
	res := Result{OK: v.broken == nil, Events: v.events, Broken: v.broken, HeadSeq: v.next - 1, HeadHash: v.prev}
	for _, h := range v.heads {
		if !res.OK {
			break
		}
		res.Broken = h.check(res.HeadSeq)
		res.OK = res.Broken == nil
	}
	return res
}

// check returns the break of a chain verified through event end against
// h, or nil when it holds h.
func (h expected) check(end int64) *Break {
	switch {
	case h.Seq > end:
		return &Break{Seq: h.Seq, Kind: BreakTruncated,
			Message: fmt.Sprintf("%s is event %d (hash %s), but the log ends at event %d: events were removed from its end",
				h.from, h.Seq, short(h.Hash), end)}
	case h.seen != h.Hash:
		return &Break{Seq: h.Seq, Kind: BreakRewritten,
			Message: fmt.Sprintf("event %d's hash is %s, but %s has %s: the log was rewritten up to event %d",
				h.Seq, short(h.seen), h.from, short(h.Hash), h.Seq)}
	}
	return nil
}

// CheckHead checks a verification's result against a head kept from an
// earlier one, given the hash the verified chain has for event h.Seq
// (found false when it holds no such event): a result verified
// elsewhere, by a server, whose events the caller can read.
func CheckHead(res Result, h Head, hash string, found bool, from string) Result {
	if !res.OK {
		return res
	}
	e := expected{Head: h, from: from}
	if found {
		e.seen = hash
	}
	if res.Broken = e.check(res.HeadSeq); res.Broken != nil {
		res.OK = false
	}
	return res
}

// columnsAgree reports whether the indexed copies a store keeps of a
// record's fields match its body, which the hash covers; if not, it names
// the first that differs. The list's filters read the copies, so a copy
// edited on its own would hide an event from a filtered list, or show it
// under another actor, environment, time or token, with the chain still
// whole. A record stored before a copy was kept has it empty, as its body
// has no such field, and so agrees.
func columnsAgree(r promote.AuditRecord) (field, stored, said string, ok bool) {
	c := r.Columns
	if columnsMatch(r.Body, c) {
		return "", "", "", true
	}
	cols := [...]struct {
		name, stored string
		said         []byte
	}{{name: "time", stored: c.Time.UTC().Format(time.RFC3339Nano)}, {name: "actor", stored: c.Actor}, {name: "action", stored: c.Action}, {name: "model", stored: c.Model},
		{name: "version", stored: c.Version}, {name: "environment", stored: c.Environment}, {name: "promotion_id", stored: c.PromotionID},
		{name: "token_id", stored: c.TokenID}}
	err := bodyFields(r.Body, func(key, value []byte) {
		for i := range cols {
			if string(key) == cols[i].name {
				cols[i].said = value
			}
		}
	})
	if err != nil {
		return "body", "", err.Error(), false
	}
	for _, f := range cols {
		if f.stored != string(f.said) {
			return f.name, f.stored, string(f.said), false
		}
	}
	return "", "", "", true
}

// columnsMatch is columnsAgree's fast path: it reports true only when the
// copies, as the encoder writes them, are the body's bytes from its time
// on, in the canonical order (promote.AuditEvent.Body), with no copied
// field after them that the copies leave empty. The time's copy is
// formatted as the encoder writes it (RFC 3339 with nanoseconds, in UTC)
// into a buffer on the stack and compared as bytes, like the others. A
// value with a backslash is left to columnsAgree, which decodes the
// fields: without one, a value the body's bytes hold as they are, up to an
// unescaped quote, is the body's value (the encoder escapes what it does
// not write as it is, with a backslash). The body is the one the hash
// covers, so its encoding is the canonical one.
func columnsMatch(body []byte, c *promote.AuditColumns) bool {
	const timeKey = `,"time":"`
	i := bytes.IndexByte(body, ',') // after seq, a number
	if i < 0 || !hasPrefix(body[i:], timeKey) {
		return false
	}
	rest := body[i+len(timeKey):]
	var buf [64]byte
	at := c.Time.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
	if !bytes.HasPrefix(rest, at) || len(rest) == len(at) || rest[len(at)] != '"' {
		return false
	}
	rest = rest[len(at)+1:]
	fields := [...]struct {
		key, value string
		always     bool // written even when empty
	}{{`,"actor":"`, c.Actor, true}, {`,"action":"`, c.Action, true}, {`,"model":"`, c.Model, false},
		{`,"version":"`, c.Version, false}, {`,"environment":"`, c.Environment, false}, {`,"promotion_id":"`, c.PromotionID, false},
		{`,"token_id":"`, c.TokenID, false}}
	for _, f := range fields {
		if f.value == "" && !f.always {
			continue
		}
		if !hasPrefix(rest, f.key) || strings.IndexByte(f.value, '\\') >= 0 {
			return false
		}
		rest = rest[len(f.key):]
		if !hasPrefix(rest, f.value) || len(rest) == len(f.value) || rest[len(f.value)] != '"' {
			return false
		}
		rest = rest[len(f.value)+1:]
	}
	for _, f := range fields[2:] {
		if hasPrefix(rest, f.key) {
			return false // in the body, left empty in the copies
		}
	}
	return true
}

// hasPrefix is bytes.HasPrefix for a string prefix, without converting it.
func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// errBody is bodyFields' error.
var errBody = errors.New("the body is not canonical JSON")

// bodyFields calls fn with each field of a canonical body up to the first
// of digest, decision, reasons, approvers, live, policy, metrics and note (the
// fields that follow the copied ones, any of which may come first), its
// value decoded when it is a string. The indexed fields come before those
// (promote.AuditEvent.Body fixes the order and leaves out white space), so
// the reasons, most of a body, are never read, and verification stays
// about as fast as hashing.
func bodyFields(body []byte, fn func(key, value []byte)) error {
	rest, ok := bytes.CutPrefix(body, []byte("{"))
	if !ok {
		return errBody
	}
	for len(rest) > 0 && rest[0] != '}' {
		key, n, err := jsonString(rest)
		if err != nil || n >= len(rest) || rest[n] != ':' {
			return errBody
		}
		switch string(key) {
		case "digest", "decision", "reasons", "approvers", "live", "policy", "metrics", "note":
			return nil
		}
		rest = rest[n+1:]
		var value []byte
		if len(rest) > 0 && rest[0] == '"' {
			if value, n, err = jsonString(rest); err != nil {
				return errBody
			}
		} else if n = bytes.IndexAny(rest, ",}"); n < 0 || bytes.ContainsAny(rest[:n], `"{[`) {
			// Only seq, a number, comes unquoted before the reasons.
			return errBody
		} else {
			value = rest[:n]
		}
		fn(key, value)
		rest = rest[n:]
		if len(rest) > 0 && rest[0] == ',' {
			rest = rest[1:]
		}
	}
	return nil
}

// jsonString decodes the JSON string b starts with and returns it with the
// number of bytes it took. A string without escapes is returned in place.
func jsonString(b []byte) ([]byte, int, error) {
	if len(b) == 0 || b[0] != '"' {
		return nil, 0, errors.New("not a string")
	}
	// The usual string has no escape: its end is the next quote.
	if end := bytes.IndexByte(b[1:], '"'); end >= 0 && bytes.IndexByte(b[1:1+end], '\\') < 0 {
		return b[1 : 1+end], end + 2, nil
	}
	escaped := false
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			if !escaped {
				return b[1:i], i + 1, nil
			}
			var s string
			err := json.Unmarshal(b[:i+1], &s)
			return []byte(s), i + 1, err
		}
	}
	return nil, 0, errors.New("an unterminated string")
}

// bodyHasSeq reports whether a canonical body starts with {"seq":N, — the
// sequence number is its first field — without decoding it.
func bodyHasSeq(body []byte, seq int64) bool {
	var buf [32]byte
	prefix := strconv.AppendInt(append(buf[:0], `{"seq":`...), seq, 10)
	prefix = append(prefix, ',')
	return bytes.HasPrefix(body, prefix)
}

// bodySeq reads the sequence number a body starts with.
func bodySeq(body []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(body, []byte(`{"seq":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Chain is what Verify reads of a store: its audit records and the head it
// records apart from them. A promote.Store is one; so is a copy of a store
// that is not committed yet.
type Chain interface {
	ScanAudit(ctx context.Context, after int64, fn func(promote.AuditRecord) error) error
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

// errStop ends a scan early once the chain is broken.
var errStop = errors.New("stop")

// Verify recomputes the whole chain in the store and checks that it
// reaches the head the store records apart from the events, unchanged: a
// chain cut or rewritten at its end is whole, but no longer ends there
// (unless the head was moved as well, which only a head kept outside the
// database shows). Nor may the chain go on past the head: an event added
// to the table alone, hashed onto the last real one, is whole too.
//
// kept are heads kept from earlier verifications (KeptHead): the chain
// must hold each, unchanged.
func Verify(ctx context.Context, s Chain, kept ...Head) (Result, error) {
	// The head is read first: events appended during the scan come after it.
	start, err := readHead(ctx, s)
	if err != nil {
		return Result{}, err
	}
	res, err := verifyStore(ctx, s, kept, start, nil)
	if err != nil || !res.OK || res.HeadSeq <= start.Seq {
		return res, err
	}
	// The chain goes on past the head read first: events appended during
	// the scan, or added to the table without the head. Each append moves
	// the head in its own transaction, so a head read now holds at least
	// every event the scan read, unless some were added without it.
	end, err := readHead(ctx, s)
	if err != nil {
		return Result{}, err
	}
	if res.HeadSeq < end.Seq || res.HeadSeq == end.Seq && res.HeadHash == end.Hash {
		return res, nil
	}
	// Verified again up to that head, which names the first event past it.
	return verifyStore(ctx, s, kept, start, &end)
}

// StoreHead names the store's head in a break's message.
const StoreHead = "the store's head"

// readHead reads s's head.
func readHead(ctx context.Context, s Chain) (Head, error) {
	seq, hash, err := s.AuditHead(ctx)
	return Head{Seq: seq, Hash: hash}, err
}

// verifyStore verifies the chain in s from its first event: it must hold
// the kept heads and start, the store's head read before the scan, and
// end nowhere past end, when not nil.
func verifyStore(ctx context.Context, s Chain, kept []Head, start Head, end *Head) (Result, error) {
	v := NewVerifier()
	for _, h := range kept {
		v.ExpectHead(h, KeptHead)
	}
	v.ExpectHead(start, StoreHead)
	if end != nil {
		v.EndAt(*end, StoreHead)
	}
	err := s.ScanAudit(ctx, 0, func(r promote.AuditRecord) error {
		if !v.Add(r) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return Result{}, fmt.Errorf("scan the audit log: %w", err)
	}
	return v.Result(), nil
}

// Line is one line of an export: the stored record, with the body as the
// exact string the hash covers.
type Line struct {
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
	Body     string `json:"body"`
}

// Export writes every event after event after (0: every event) as JSON
// Lines and returns how many it wrote. An export that starts after the
// first event verifies from a head kept for event after (VerifyExport).
func Export(ctx context.Context, s promote.Store, w io.Writer, after int64) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int64
	err := s.ScanAudit(ctx, after, func(r promote.AuditRecord) error {
		n++
		return enc.Encode(Line{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Body: string(r.Body)})
	})
	if err != nil {
		return n, fmt.Errorf("export the audit log: %w", err)
	}
	return n, bw.Flush()
}

// KeptHead names, in a break's message, a head kept from an earlier
// verification.
const KeptHead = "the head you kept"

// VerifyExport verifies an export read from r, offline; the chain must
// hold each of the kept heads, unchanged.
//
// An export that starts after the first event (audit export --after, or
// the later part of a longer export) continues the chain from a head kept
// for the event before its first line: among the kept heads, the one for
// that event is the anchor, which the first line must name as its
// previous hash, and the rest is verified as a whole chain is. Without an
// anchor it is broken, as deleted: nothing in it shows that it belongs to
// the chain. A kept head before the anchor cannot be checked against it
// and is refused as bad input.
func VerifyExport(r io.Reader, kept ...Head) (Result, error) {
	var (
		v        *Verifier
		first    int64
		firstRec promote.AuditRecord
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l Line
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return Result{}, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if rest := sc.Bytes()[dec.InputOffset():]; len(bytes.Trim(rest, " \t\r\n")) > 0 {
			return Result{}, fmt.Errorf("line %d: more after the event's JSON object: an export line is one object", lineNo)
		}
		if v == nil {
			var err error
			if v, err = exportVerifier(l.Seq, kept); err != nil {
				return Result{}, err
			}
			first = l.Seq
			firstRec = promote.AuditRecord{Seq: l.Seq, PrevHash: l.PrevHash, Hash: l.Hash, Body: []byte(l.Body)}
		}
		if !v.Add(promote.AuditRecord{Seq: l.Seq, PrevHash: l.PrevHash, Hash: l.Hash, Body: []byte(l.Body)}) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	empty := v == nil
	if empty {
		v, _ = exportVerifier(1, kept)
	}
	res := v.Result()
	res.After = v.after
	if b := res.Broken; empty && b != nil && b.Kind == BreakTruncated {
		// An export after the newest event is empty: it shows nothing,
		// and so fails, but not because events were removed from it.
		b.Message = fmt.Sprintf("the export holds no events, so it cannot show event %d, %s (hash %s): an export after the newest event is empty, and only the store's own verification (promote audit verify --head %d:HASH) can show that nothing was recorded since",
			b.Seq, KeptHead, short(headHash(kept, b.Seq)), b.Seq)
	}
	if v.broken != nil && v.broken.Seq == first && v.after > 0 && NewVerifierAt(first-1, firstRec.PrevHash).Add(firstRec) {
		// The first line holds but for its previous hash: it names
		// another event v.after than the head kept for it.
		res.Broken = &Break{Seq: v.after, Kind: BreakRewritten,
			Message: fmt.Sprintf("event %d's hash is %s (event %d names it as the previous hash), but %s has %s: the export does not continue the chain you kept",
				v.after, short(firstRec.PrevHash), first, KeptHead, short(res.HeadHash))}
	}
	if b := res.Broken; b != nil && b.Kind == BreakDeleted && b.Seq == first && first > 1 && v.after == 0 {
		b.Message += fmt.Sprintf("; an export that starts after the first event verifies from a head kept for the event before it: --head %d:HASH", first-1)
	}
	return res, nil
}

// headHash returns the hash of the first of the kept heads for event seq.
func headHash(kept []Head, seq int64) string {
	for _, h := range kept {
		if h.Seq == seq {
			return h.Hash
		}
	}
	return ""
}

// exportVerifier returns the verifier of an export whose first line is
// event first, given the kept heads: one that continues the head kept for
// event first-1, if there is one, else one that expects event 1.
func exportVerifier(first int64, kept []Head) (*Verifier, error) {
	var anchor *Head
	for i, h := range kept {
		if first > 1 && h.Seq == first-1 {
			if anchor != nil && anchor.Hash != h.Hash {
				return nil, fmt.Errorf("the heads you kept for event %d disagree: %s and %s", h.Seq, short(anchor.Hash), short(h.Hash))
			}
			anchor = &kept[i]
		}
	}
	if anchor == nil {
		v := NewVerifier()
		for _, h := range kept {
			v.ExpectHead(h, KeptHead)
		}
		return v, nil
	}
	v := NewVerifierAt(anchor.Seq, anchor.Hash)
	v.after = anchor.Seq
	for _, h := range kept {
		switch {
		case h.Seq < anchor.Seq:
			return nil, fmt.Errorf("head %d:%s: the export starts after event %d, so it cannot show event %d: check that head against an export that holds it",
				h.Seq, short(h.Hash), anchor.Seq, h.Seq)
		case h.Seq > anchor.Seq:
			v.ExpectHead(h, KeptHead)
		}
	}
	return v, nil
}
