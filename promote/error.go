// Package promote holds Promote's domain types and rules: models, versions,
// environments, promotions and the errors they produce. It imports the
// standard library only.
package promote

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an Error so that callers (the HTTP layer, the CLI's exit
// codes) can react to it without inspecting message text.
type Code string

// The error codes. HTTPStatus maps each to one HTTP status.
const (
	NotFound     Code = "not_found"
	Invalid      Code = "invalid"
	Conflict     Code = "conflict"
	Unauthorized Code = "unauthorized"
	Forbidden    Code = "forbidden"
	Blocked      Code = "blocked"
	Internal     Code = "internal"
)

// Codes lists the error codes.
var Codes = []Code{NotFound, Invalid, Conflict, Unauthorized, Forbidden, Blocked, Internal}

// HTTPStatus is the one HTTP status that carries code, the same in the
// REST API and the web UI: 500 for Internal and for a code it does not
// know.
func HTTPStatus(code Code) int {
	switch code {
	case Invalid:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Blocked:
		// The request is well formed but a rule (a gate, a hold, a
		// freeze) refuses it.
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// Error is a domain error: a code and a message that is safe to show a user.
type Error struct {
	Code    Code
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
