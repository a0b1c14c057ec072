// Package promote holds Promote's domain types and rules: models, versions,
// environments, promotions and the errors they produce. It imports the
// standard library only.
package promote

import (
	"errors"
	"fmt"
)

// Code classifies an Error so that callers (the HTTP layer, the CLI's exit
// codes) can react to it without inspecting message text.
type Code string

// The error codes. The HTTP layer maps each to one status.
const (
	NotFound     Code = "not_found"
	Invalid      Code = "invalid"
	Conflict     Code = "conflict"
	Unauthorized Code = "unauthorized"
	Forbidden    Code = "forbidden"
	Blocked      Code = "blocked"
	Internal     Code = "internal"
)

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
