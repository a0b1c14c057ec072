package celwarm

import "testing"

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"promote", "gate", "--policy", "p.yaml"}, true},
		{[]string{"promote", "--verbose", "gate"}, true},
		{[]string{"promote", "serve", "--gate"}, false},
		{[]string{"promote", "version"}, false},
		{[]string{"promote"}, false},
		{nil, false},
	} {
		if got := wanted(tc.args); got != tc.want {
			t.Errorf("wanted(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestWarmParses(t *testing.T) {
	if err := Warm(); err != nil {
		t.Fatalf("Warm: %v", err)
	}
}
