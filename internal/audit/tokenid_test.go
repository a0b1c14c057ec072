package audit

import (
	"strings"
	"testing"
)

func TestParseTokenID(t *testing.T) {
	const secret = "prm_mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpiyteytg"
	tests := []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "tok_3f9c2a71d04b8e65", want: "tok_3f9c2a71d04b8e65"},
		{in: " tok_3f9c2a71d04b8e65\n", want: "tok_3f9c2a71d04b8e65"},
		{in: "tok_3F9C2A71D04B8E65", err: `token ID "tok_3F9C2A71D04B8E65": want tok_`},
		{in: "tok_3f9c", err: `token ID "tok_3f9c": want tok_`},
		{in: "lena", err: `token ID "lena": want tok_`},
		{in: secret, err: "that is a token's secret, not its ID"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTokenID(tt.in)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("ParseTokenID(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("ParseTokenID(%q) = %q, %v, want an error saying %q", tt.in, got, err, tt.err)
			case err != nil && strings.Contains(err.Error(), "prm_"):
				t.Errorf("ParseTokenID(a secret) = %v: the error repeats the secret", err)
			}
		})
	}
}
