package webui

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// TestStatus checks that the UI answers each error with the status the
// REST API gives it.
func TestStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{promote.Errorf(promote.NotFound, "x"), http.StatusNotFound},
		{promote.Errorf(promote.Invalid, "x"), http.StatusBadRequest},
		{promote.Errorf(promote.Conflict, "x"), http.StatusConflict},
		{promote.Errorf(promote.Unauthorized, "x"), http.StatusUnauthorized},
		{promote.Errorf(promote.Forbidden, "x"), http.StatusForbidden},
		{promote.Errorf(promote.Blocked, "x"), http.StatusUnprocessableEntity},
		{promote.Errorf(promote.Internal, "x"), http.StatusInternalServerError},
		{fmt.Errorf("approve: %w", promote.Errorf(promote.Blocked, "x")), http.StatusUnprocessableEntity},
		{errors.New("disk full"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := status(tt.err); got != tt.want {
			t.Errorf("status(%v, code %q) = %d, want %d", tt.err, promote.ErrorCode(tt.err), got, tt.want)
		}
	}
}
