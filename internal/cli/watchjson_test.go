package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// promote rollout watch -o json writes the rollout at each change as
// "promote rollout show -o json" prints it, one object a line, until the
// rollout ends, with the plain watch's exit status; what it waits for
// goes to stderr, so that stdout holds nothing but rollouts. The server
// is the REST API over the demo's registry and a real rollout controller:
// the watch begins while the promotion awaits approval, and sees its
// canary start and wait for a person at 10%, go on to 50% and end as a
// person decides.
func TestRolloutWatchJSON(t *testing.T) {
	for _, tt := range []struct {
		name   string
		end    []string // the operation that ends the rollout
		code   int
		state  promote.RolloutState
		stderr string // what stderr says after the waits
	}{
		{"promoted", []string{"promote", "--reason", "all good"}, ExitOK, promote.RolloutSucceeded, ""},
		{"aborted", []string{"abort", "--reason", "complaints from the loans team"}, ExitBlocked, promote.RolloutRolledBack,
			"promote: rolled back: aborted by bob: complaints from the loans team"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			env, demo, err := webuitest.NewDemo(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { env.Store.Close() })
			// The watch reads through one server; people steer through
			// another, over the same registry, once the controller runs.
			reads := httptest.NewServer(httpapi.NewServer(env.Service, httpapi.Options{}).Handler())
			t.Cleanup(reads.Close)
			var out, errOut lockedBuffer
			done := make(chan int, 1)
			go func() {
				done <- Main(context.Background(), []string{"rollout", "watch", demo.Awaiting, "-o", "json", "--every", "5ms",
					"--server", reads.URL, "--token", env.Tokens["vera"]}, strings.NewReader(""), &out, &errOut)
			}()
			lines := func() []promote.Rollout {
				var rs []promote.Rollout
				for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
					var r promote.Rollout
					if l != "" && json.Unmarshal([]byte(l), &r) == nil {
						rs = append(rs, r)
					}
				}
				return rs
			}
			seen := func(what string, match func(promote.Rollout) bool) {
				t.Helper()
				waitFor(t, 20*time.Second, what, func() (bool, string) {
					rs := lines()
					return len(rs) > 0 && match(rs[len(rs)-1]), "stdout: " + out.String() + "\nstderr: " + errOut.String()
				})
			}
			waitFor(t, 20*time.Second, "the watch to wait for the rollout", func() (bool, string) {
				return strings.Contains(errOut.String(), "is awaiting_approval: waiting for its rollout to start"), errOut.String()
			})

			st, err := env.Steer(ctx, demo)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			_, must := steeringAPI(t, env.Service, st.Controller)
			seen("the rollout waiting for a person at 10%", func(r promote.Rollout) bool { return r.WaitsForPerson() && r.Weight == 0.1 })
			must(0, env.Tokens["bob"], "rollout", "resume", st.ID, "--reason", "dashboards fine")
			seen("the rollout at 50%", func(r promote.Rollout) bool { return r.Step == 1 && r.Weight == 0.5 })
			must(0, env.Tokens["bob"], append([]string{"rollout"}, append(tt.end[:1], append([]string{st.ID}, tt.end[1:]...)...)...)...)

			select {
			case code := <-done:
				if code != tt.code {
					t.Errorf("watch -o json of a rollout %s = exit %d, want %d\nstderr: %s", tt.name, code, tt.code, errOut.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("watch -o json did not end with the rollout:\nstdout: %s\nstderr: %s", out.String(), errOut.String())
			}
			text := out.String()
			raw := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
			rs := lines()
			if len(rs) != len(raw) || !strings.HasSuffix(text, "\n") {
				t.Fatalf("stdout is not one rollout a line:\n%s", text)
			}
			for i := 1; i < len(raw); i++ {
				if raw[i] == raw[i-1] {
					t.Errorf("line %d repeats the rollout unchanged: %s", i+1, raw[i])
				}
			}
			// The watch may see the rollout as it starts, before its
			// first step's weight; it then sees it wait at 10%, then 50%.
			if first := rs[0]; first.PromotionID != st.ID || first.Revision < 1 {
				t.Errorf("first line = %s; want the rollout of %s", raw[0], st.ID)
			}
			waited, at50 := -1, -1
			for i, r := range rs {
				if waited < 0 && r.WaitsForPerson() && r.Weight == 0.1 {
					waited = i
				}
				if at50 < 0 && r.Step == 1 && r.Weight == 0.5 {
					at50 = i
				}
			}
			if waited < 0 || at50 < waited {
				t.Errorf("lines waiting at 10%% (#%d) and at 50%% (#%d): want both, in that order:\n%s", waited+1, at50+1, text)
			}
			if last := rs[len(rs)-1]; last.State != tt.state {
				t.Errorf("last line's state = %s, want %s", last.State, tt.state)
			}

			// The last line is the object rollout show -o json prints.
			var shown, watched any
			if err := json.Unmarshal([]byte(must(0, env.Tokens["vera"], "rollout", "show", st.ID, "-o", "json")), &shown); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(raw[len(raw)-1]), &watched); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(shown, watched); diff != "" {
				t.Errorf("the last line differs from rollout show -o json (-show +watch):\n%s", diff)
			}
			if got := errOut.String(); !strings.HasPrefix(got, "promotion "+st.ID+" is awaiting_approval: waiting for its rollout to start\n") ||
				!strings.Contains(got, tt.stderr) || strings.Contains(got, "{") {
				t.Errorf("stderr = %q; want the waits, then %q", got, tt.stderr)
			}
		})
	}
}
