package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/promote"
)

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Every value written is one of ours and encodes; should one not,
		// say so rather than send half a body.
		buf.Reset()
		fmt.Fprintf(&buf, `{"error":{"code":"internal","message":"encode response: %s"}}`+"\n", jsonEscape(err.Error()))
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// decode reads the request's JSON body into v: the content type must be
// application/json, the body at most MaxBodyBytes, one object with no field
// v lacks and nothing after it. Every failure names what was wrong.
//
// A route with a body takes its input from the body and the path alone, so
// any query parameter is refused, as on every other route: ignored, a
// ?dry_run=true would carry the action out.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := noQuery(r); err != nil {
		return err
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		if ct == "" {
			ct = "none"
		}
		return errorStatus(http.StatusUnsupportedMediaType, promote.Invalid, "request body must be application/json (Content-Type is %s)", ct)
	}
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, limit))
	// null decodes into a struct as nothing at all, so that a body of null
	// would act as {}: it is no object, and refused as an array is.
	if first, err := firstByte(body); err == nil && first == 'n' {
		return invalid("request body: want a JSON object, got null")
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	// One object and nothing more: trailing data is a malformed request,
	// not something to ignore.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return invalid("request body has data after the JSON object (at byte %d)", dec.InputOffset())
	}
	return nil
}

// firstByte returns the first byte of r after any JSON white space,
// reading nothing, so that the decoder's offsets still count from the
// body's start.
func firstByte(r *bufio.Reader) (byte, error) {
	for i := 0; ; i++ {
		b, err := r.Peek(i + 1)
		if err != nil {
			return 0, err
		}
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b[i], nil
	}
}

func tooLarge(limit int64) error {
	return errorStatus(http.StatusRequestEntityTooLarge, promote.Invalid, "request body is larger than the limit of %d bytes (%s)", limit, byteSize(limit))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// bodyError turns a decoding error into a message that names the field or
// the byte where the body went wrong.
func bodyError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, io.EOF):
		return invalid("request body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("malformed JSON: the body ends before the object does")
	case errors.As(err, &se):
		return invalid("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			return invalid("request body: want a JSON object, got %s", ute.Value)
		}
		return invalid("field %s: want %s, got %s", field, jsonKind(ute.Type.Kind().String()), ute.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return invalid("unknown field %s in the request body", f)
	}
	var pe *promote.Error
	if errors.As(err, &pe) {
		return pe
	}
	return invalid("malformed request body: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(goKind string) string {
	switch {
	case goKind == "string":
		return "a string"
	case goKind == "bool":
		return "a boolean"
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "slice", goKind == "array":
		return "an array"
	}
	return "an object"
}

// pathName returns the path value key, checked as a name: a path-like
// value such as ../x is a 400 naming the field.
func pathName(r *http.Request, key, what string) (string, error) {
	v := r.PathValue(key)
	if err := promote.ValidateName(what, v); err != nil {
		return "", err
	}
	return v, nil
}

// query reads a request's query parameters, refusing any it does not know
// (a typo in a filter would otherwise widen the answer silently) and any
// given twice.
type query struct {
	values url.Values
	err    error
}

// newQuery reads r's query for a route that takes the allowed parameters.
// A query string that does not parse (a bad escape such as %zz, a ';'
// separator, more parameters than net/url takes) is refused as a whole:
// URL.Query would drop the parameters it could not read, and with them a
// filter, or the parameter this check would have refused.
func newQuery(r *http.Request, allowed ...string) *query {
	values, err := url.ParseQuery(r.URL.RawQuery)
	q := &query{values: values}
	if err != nil {
		q.err = invalid("malformed query string: %v", err)
		return q
	}
	for k, v := range q.values {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				q.err = invalid("unknown query parameter %q: this route takes none", k)
			} else {
				q.err = invalid("unknown query parameter %q (known: %s)", k, strings.Join(allowed, ", "))
			}
			return q
		}
		if len(v) > 1 {
			q.err = invalid("query parameter %q given %d times; give it once", k, len(v))
			return q
		}
	}
	return q
}

func (q *query) str(key string) string { return q.values.Get(key) }

// name reads an optional name parameter.
func (q *query) name(key, what string) string {
	v := q.values.Get(key)
	if v == "" || q.err != nil {
		return v
	}
	if err := promote.ValidateName(what, v); err != nil {
		q.err = err
	}
	return v
}

// endpoint reads an optional webhook endpoint's name, which may be any
// name the endpoints file takes ('/', ':' and spaces included), not only
// a model's kind of name.
func (q *query) endpoint(key string) string {
	v := q.values.Get(key)
	if v == "" || q.err != nil {
		return v
	}
	if err := notify.CheckName(v); err != nil {
		q.err = invalid("query parameter %s: endpoint %v", key, err)
	}
	return v
}

func (q *query) boolean(key string) bool {
	v := q.values.Get(key)
	if v == "" || q.err != nil {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.err = invalid("query parameter %s: %q is not true or false", key, v)
	}
	return b
}

// MaxLimit bounds the page size of a listing.
const MaxLimit = 1000

func (q *query) limit() int {
	v := q.values.Get("limit")
	if v == "" || q.err != nil {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		q.err = invalid("query parameter limit: %q is not a number from 1 to %d", v, MaxLimit)
	}
	return n
}

// page reads a paged listing's cursors, before and after, and its limit.
func (q *query) page() (before, after int64, limit int) {
	return q.int64("before"), q.int64("after"), q.limit()
}

func (q *query) int64(key string) int64 {
	v := q.values.Get(key)
	if v == "" || q.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		q.err = invalid("query parameter %s: %q is not a non-negative integer", key, v)
	}
	return n
}

// states reads a comma-separated list of promotion states.
func (q *query) states(key string) []promote.State {
	v := q.values.Get(key)
	if v == "" || q.err != nil {
		return nil
	}
	var out []promote.State
	for part := range strings.SplitSeq(v, ",") {
		st := promote.State(strings.TrimSpace(part))
		if !slices.Contains(promote.States, st) {
			q.err = invalid("query parameter %s: %q is not a state (%s)", key, st, strings.Join(promote.StateNames(), ", "))
			return nil
		}
		out = append(out, st)
	}
	return out
}
