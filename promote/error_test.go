package promote

import (
	"net/http"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[Code]int{
		Invalid: http.StatusBadRequest, Unauthorized: http.StatusUnauthorized, Forbidden: http.StatusForbidden,
		NotFound: http.StatusNotFound, Conflict: http.StatusConflict, Blocked: http.StatusUnprocessableEntity,
		Internal: http.StatusInternalServerError, Code("no-such-code"): http.StatusInternalServerError,
	} {
		if got := HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
}
