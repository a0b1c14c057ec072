package audit

import (
	"errors"
	"fmt"
	"strings"
)

// errTokenSecret is ParseTokenID's error for a token's secret. It does not
// repeat the value, so that the secret goes no further (into a log, say).
var errTokenSecret = errors.New("that is a token's secret, not its ID: give the ID that promote token list shows (tok_ and 16 hex digits), and revoke the token if the secret was exposed")

// ParseTokenID reads the token ID that the audit list's token filter takes
// (promote.Token.ID): tok_ and 16 lower-case hex digits; empty is no
// filter. Anything else is refused rather than matching nothing, which
// would read as "this token did nothing". A token's secret (prm_…) is
// refused with an error that does not repeat it.
func ParseTokenID(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if strings.HasPrefix(v, "prm_") {
		return "", errTokenSecret
	}
	hex, ok := strings.CutPrefix(v, "tok_")
	if !ok || len(hex) != 16 || strings.Trim(hex, "0123456789abcdef") != "" {
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return "", fmt.Errorf("token ID %q: want tok_ and 16 hex digits, as promote token list shows it", v)
	}
	return v, nil
}
