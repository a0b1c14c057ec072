package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/promote-ml/promote/promote"
)

// statusOf maps each domain error code to the one HTTP status that carries
// it, promote.HTTPStatus (which the web UI uses too). The client maps
// statuses back through codeOf, and prefers the code in the error body
// when there is one.
var statusOf = func() map[promote.Code]int {
	m := make(map[promote.Code]int, len(promote.Codes))
	for _, c := range promote.Codes {
		m[c] = promote.HTTPStatus(c)
	}
	return m
}()

// codeOf is statusOf reversed, with the statuses the transport produces on
// its own (413, 415, 405, 503) folded onto the nearest code.
func codeOf(status int) promote.Code {
	for c, s := range statusOf {
		if s == status {
			return c
		}
	}
	switch {
	case status == http.StatusRequestEntityTooLarge, status == http.StatusUnsupportedMediaType,
		status == http.StatusMethodNotAllowed:
		return promote.Invalid
	case status >= 400 && status < 500:
		return promote.Invalid
	}
	return promote.Internal
}

// ErrorBody is the JSON body of every error response:
// {"error": {"code": "...", "message": "..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and the user-safe message of an error response.
type ErrorDetail struct {
	Code    promote.Code `json:"code"`
	Message string       `json:"message"`
}

// httpError is an error of the transport itself (a body too large, a wrong
// content type, an unknown route) with its own status. Its code is one of
// the domain's, so that a client sees the same codes everywhere.
type httpError struct {
	status  int
	code    promote.Code
	message string
}

func (e *httpError) Error() string { return e.message }

func errorStatus(status int, code promote.Code, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// invalid is a 400 naming the bad input.
func invalid(format string, args ...any) error {
	return promote.Errorf(promote.Invalid, format, args...)
}

// render writes err as a JSON error response. Internal errors are logged
// with their detail and shown as a generic message with the request ID, so
// that an operator can find the log line; nothing else is logged here,
// because the request log already records the status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := s.classify(r, err)
	switch status {
	case http.StatusUnauthorized:
		// RFC 9110 §11.6.1: a 401 names the scheme that would succeed.
		w.Header().Set("WWW-Authenticate", authChallenge)
	case http.StatusServiceUnavailable:
		// RFC 9110 §10.2.3: when to try again.
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, ErrorBody{Error: detail})
}

func (s *Server) classify(r *http.Request, err error) (int, ErrorDetail) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, ErrorDetail{Code: he.code, Message: he.message}
	}
	var pe *promote.Error
	if errors.As(err, &pe) && pe.Code != promote.Internal {
		status, ok := statusOf[pe.Code]
		if ok {
			return status, ErrorDetail{Code: pe.Code, Message: pe.Message}
		}
	}
	ctx := r.Context()
	id := requestID(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "request timed out", attrRequestID(id), attrError(err))
		return http.StatusServiceUnavailable, ErrorDetail{Code: promote.Internal,
			Message: fmt.Sprintf("the request took longer than %s and was stopped (request %s)", s.opts.RequestTimeout, id)}
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away: nobody reads the answer.
		return statusClientClosed, ErrorDetail{Code: promote.Internal, Message: "request cancelled"}
	case errors.Is(err, promote.ErrUnavailable):
		// The database is down or cut off: the request may succeed once
		// it is back, which a 503 tells clients and load balancers; the
		// driver's message (hosts, users) stays in the log.
		s.log.LogAttrs(ctx, slog.LevelWarn, "store unavailable", attrRequestID(id), attrError(err))
		return http.StatusServiceUnavailable, ErrorDetail{Code: promote.Internal,
			Message: fmt.Sprintf("the database is unavailable; try again shortly (request %s)", id)}
	}
	s.log.LogAttrs(ctx, slog.LevelError, "internal error", attrRequestID(id), attrError(err))
	return http.StatusInternalServerError, ErrorDetail{Code: promote.Internal,
		Message: fmt.Sprintf("internal error (request %s); the server log has the detail", id)}
}

// retryAfter is the Retry-After header of every 503, in seconds.
const retryAfter = "5"

// authChallenge is the WWW-Authenticate header of every 401.
const authChallenge = `Bearer realm="promote"`

// statusClientClosed is the status recorded when the client cancelled the
// request before it was answered (nginx's convention).
const statusClientClosed = 499
