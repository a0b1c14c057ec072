package cli

import (
	"os"

	"github.com/promote-ml/promote/promote"
)

// getenv reads the environment; tests set variables with t.Setenv.
var getenv = os.Getenv

// serviceError maps a domain error to the exit codes: bad input (an
// invalid value, a name that does not exist, a missing or wrong token) is
// 2; a refusal or a failure (forbidden, a conflict, blocked, internal) is 1.
func serviceError(err error) error {
	if err == nil {
		return nil
	}
	switch promote.ErrorCode(err) {
	case promote.Invalid, promote.NotFound, promote.Unauthorized:
		return &exitError{code: ExitUsage, err: err}
	}
	return &exitError{code: ExitBlocked, err: err}
}
