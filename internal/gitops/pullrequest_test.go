package gitops

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

const apiToken = "tok-9f8e7d"

// fakeGitHub speaks the part of GitHub's REST API the writer uses, for one
// repository, acme/gitops.
type fakeGitHub struct {
	t       *testing.T
	mu      sync.Mutex
	pulls   []map[string]any // index+1 is the number
	creates []map[string]any // request bodies of POST …/pulls
}

func (f *fakeGitHub) handler() http.Handler {
	mux := http.NewServeMux()
	check := func(w http.ResponseWriter, r *http.Request) bool {
		f.t.Helper()
		if got := r.Header.Get("Authorization"); got != "Bearer "+apiToken {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials"})
			return false
		}
		if got := r.Header.Get("Accept"); got != "application/vnd.github+json" {
			f.t.Errorf("%s %s: Accept = %q", r.Method, r.URL.Path, got)
		}
		if got := r.Header.Get("X-GitHub-Api-Version"); got != "2022-11-28" {
			f.t.Errorf("%s %s: X-GitHub-Api-Version = %q", r.Method, r.URL.Path, got)
		}
		return true
	}
	mux.HandleFunc("POST /repos/acme/gitops/pulls", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.t.Errorf("POST pulls: %v", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.creates = append(f.creates, body)
		for _, p := range f.pulls {
			if p["head"] == body["head"] && p["state"] == "open" {
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprintf(w, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:%s."}]}`, body["head"])
				return
			}
		}
		n := len(f.pulls) + 1
		p := map[string]any{"number": n, "html_url": fmt.Sprintf("https://github.example/acme/gitops/pull/%d", n),
			"state": "open", "merged": false, "merged_at": nil, "head": body["head"], "base": body["base"], "body": body["body"]}
		f.pulls = append(f.pulls, p)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(p)
	})
	mux.HandleFunc("GET /repos/acme/gitops/pulls", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		q := r.URL.Query()
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []map[string]any{}
		for _, p := range f.pulls {
			if "acme:"+p["head"].(string) == q.Get("head") && p["base"] == q.Get("base") && p["state"] == q.Get("state") {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /repos/acme/gitops/pulls/{number}", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		n, _ := strconv.Atoi(r.PathValue("number"))
		f.mu.Lock()
		defer f.mu.Unlock()
		if n < 1 || n > len(f.pulls) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found"}`)
			return
		}
		json.NewEncoder(w).Encode(f.pulls[n-1])
	})
	return mux
}

func (f *fakeGitHub) set(n int, state string, merged bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls[n-1]["state"], f.pulls[n-1]["merged"] = state, merged
	if merged {
		f.pulls[n-1]["merged_at"] = "2026-05-04T12:31:00Z"
	}
}

func TestPullRequestModeGitHub(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	gh := &fakeGitHub{t: t}
	srv := httptest.NewServer(gh.handler())
	defer srv.Close()
	w := newWriter(t, bare, func(c *Config) {
		c.Mode = ModePullRequest
		c.PullRequest = PullRequestConfig{Provider: ProviderGitHub, BaseURL: srv.URL, Repository: "acme/gitops"}
		c.Credentials = Credentials{Token: apiToken}
		c.HTTPClient = srv.Client()
	})
	mainBefore := runGit(t, bare, "rev-parse", "main")
	c := promotion("prod", "2", "pr-0042")

	res, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	const branch = "promote/credit-risk-2-prod"
	want := Result{Commit: runGit(t, bare, "rev-parse", "refs/heads/"+branch), Branch: branch, Attempts: 1,
		PullRequest: &PullRequest{Number: 1, URL: "https://github.example/acme/gitops/pull/1"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Promote (-want +got):\n%s", diff)
	}
	if got := runGit(t, bare, "rev-parse", "main"); got != mainBefore {
		t.Errorf("pull-request mode moved main to %s", got)
	}
	if got := runGit(t, bare, "rev-parse", branch+"^"); got != mainBefore {
		t.Errorf("the review commit's parent = %s, want main's head %s", got, mainBefore)
	}
	if diff := cmp.Diff(wantTrailers(c), cliTrailers(t, bare, branch)); diff != "" {
		t.Errorf("review commit trailers (-want +got):\n%s", diff)
	}
	wantBody := map[string]any{"title": "promote credit-risk 2 to prod", "head": branch, "base": "main",
		"body": c.Message("deploy/overlays/prod")}
	if diff := cmp.Diff(wantBody, gh.creates[0]); diff != "" {
		t.Errorf("POST /repos/acme/gitops/pulls body (-want +got):\n%s", diff)
	}

	// Asked again before the merge (a restart, say), the writer reuses
	// the pushed commit and finds the open pull request.
	again, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote again: %v", err)
	}
	if diff := cmp.Diff(res, again); diff != "" {
		t.Errorf("Promote again (-first +again):\n%s", diff)
	}
	if len(gh.pulls) != 1 {
		t.Errorf("%d pull requests, want 1", len(gh.pulls))
	}

	for _, ref := range []string{"1", "#1", res.PullRequest.URL} {
		merged, closed, err := w.PRStatus(ctx, ref)
		if err != nil || merged || closed {
			t.Errorf("PRStatus(%q) of an open pull request = %v, %v, %v; want false, false, nil", ref, merged, closed, err)
		}
	}

	// A reviewer merges it.
	review := filepath.Join(t.TempDir(), "review")
	runGit(t, t.TempDir(), "clone", "-q", bare, review)
	runGit(t, review, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/"+branch)
	runGit(t, review, "push", "-q", "origin", "main")
	gh.set(1, "closed", true)

	if merged, closed, err := w.PRStatus(ctx, "1"); err != nil || !merged || closed {
		t.Errorf("PRStatus(1) of a merged pull request = %v, %v, %v; want true, false, nil", merged, closed, err)
	}
	after, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote after the merge: %v", err)
	}
	if wantAfter := (Result{NoChange: true, Head: strings.TrimSpace(runGit(t, bare, "rev-parse", "main")), Commit: res.Commit, Branch: "main", Attempts: 1}); !cmp.Equal(wantAfter, after) {
		t.Errorf("Promote after the merge = %+v, want %+v", after, wantAfter)
	}
	if hash, ok, err := w.FindCommit(ctx, "pr-0042"); err != nil || !ok || hash != res.Commit {
		t.Errorf("FindCommit after the merge = %s, %v, %v; want %s", hash, ok, err, res.Commit)
	}
	pins, err := w.Pinned(ctx, "prod")
	if err != nil || pins["credit-risk"] != c.Pin {
		t.Errorf("Pinned(prod) after the merge = %+v, %v; want %+v", pins, err, c.Pin)
	}
}

func TestPRStatusGitHub(t *testing.T) {
	gh := &fakeGitHub{t: t, pulls: []map[string]any{
		{"number": 1, "state": "open", "merged": false},
		{"number": 2, "state": "closed", "merged": true},
		{"number": 3, "state": "closed", "merged": false},
	}}
	srv := httptest.NewServer(gh.handler())
	defer srv.Close()
	prov, err := newProvider(PullRequestConfig{Provider: ProviderGitHub, BaseURL: srv.URL, Repository: "acme/gitops"}, apiToken, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{pr: prov}
	tests := []struct {
		ref            string
		merged, closed bool
	}{
		{"1", false, false},
		{"#2", true, false},
		{"https://github.example/acme/gitops/pull/3", false, true},
	}
	for _, tt := range tests {
		merged, closed, err := w.PRStatus(t.Context(), tt.ref)
		if err != nil || merged != tt.merged || closed != tt.closed {
			t.Errorf("PRStatus(%q) = %v, %v, %v; want %v, %v, nil", tt.ref, merged, closed, err, tt.merged, tt.closed)
		}
	}
	if _, _, err := w.PRStatus(t.Context(), "99"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("PRStatus(99) = %v, want a 404", err)
	}
	if _, _, err := w.PRStatus(t.Context(), "main"); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("PRStatus(main) = %v, want invalid", err)
	}

	// A wrong token: the API's message, and never the token.
	bad, _ := newProvider(PullRequestConfig{Provider: ProviderGitHub, BaseURL: srv.URL, Repository: "acme/gitops"}, "wrong-secret", srv.Client())
	_, _, err = (&Writer{pr: bad}).PRStatus(t.Context(), "1")
	if err == nil || !strings.Contains(err.Error(), "401: Bad credentials") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("PRStatus with a wrong token = %v, want 401: Bad credentials without the token", err)
	}
}

func TestPRStatusInPushMode(t *testing.T) {
	w := newWriter(t, newRemote(t, nil), nil)
	if _, _, err := w.PRStatus(t.Context(), "1"); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("PRStatus in push mode = %v, want invalid", err)
	}
}

// fakeGitLab speaks the part of GitLab's REST API the writer uses, for the
// project group/gitops, addressed by its URL-encoded path.
type fakeGitLab struct {
	t       *testing.T
	mu      sync.Mutex
	mrs     []map[string]any // index+1 is the iid
	creates []map[string]any
}

func (f *fakeGitLab) handler() http.Handler {
	mux := http.NewServeMux()
	check := func(w http.ResponseWriter, r *http.Request) bool {
		if got := r.Header.Get("PRIVATE-TOKEN"); got != apiToken {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"401 Unauthorized"}`)
			return false
		}
		if r.PathValue("id") != "group/gitops" || !strings.Contains(r.URL.EscapedPath(), "/projects/group%2Fgitops/") {
			f.t.Errorf("%s %s: project not addressed by its encoded path", r.Method, r.URL.EscapedPath())
		}
		return true
	}
	mux.HandleFunc("POST /api/v4/projects/{id}/merge_requests", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.t.Errorf("POST merge_requests: %v", err)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.creates = append(f.creates, body)
		for _, mr := range f.mrs {
			if mr["source_branch"] == body["source_branch"] && mr["state"] == "opened" {
				w.WriteHeader(http.StatusConflict)
				fmt.Fprintf(w, `{"message":["Another open merge request already exists for this source branch: !%v"]}`, mr["iid"])
				return
			}
		}
		iid := len(f.mrs) + 1
		mr := map[string]any{"id": 1000 + iid, "iid": iid, "web_url": fmt.Sprintf("https://gitlab.example/group/gitops/-/merge_requests/%d", iid),
			"state": "opened", "source_branch": body["source_branch"], "target_branch": body["target_branch"], "description": body["description"]}
		f.mrs = append(f.mrs, mr)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(mr)
	})
	mux.HandleFunc("GET /api/v4/projects/{id}/merge_requests", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		q := r.URL.Query()
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []map[string]any{}
		for _, mr := range f.mrs {
			if mr["source_branch"] == q.Get("source_branch") && mr["target_branch"] == q.Get("target_branch") && mr["state"] == q.Get("state") {
				out = append(out, mr)
			}
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /api/v4/projects/{id}/merge_requests/{iid}", func(w http.ResponseWriter, r *http.Request) {
		if !check(w, r) {
			return
		}
		n, _ := strconv.Atoi(r.PathValue("iid"))
		f.mu.Lock()
		defer f.mu.Unlock()
		if n < 1 || n > len(f.mrs) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"404 Not found"}`)
			return
		}
		json.NewEncoder(w).Encode(f.mrs[n-1])
	})
	return mux
}

func TestPullRequestModeGitLab(t *testing.T) {
	ctx := t.Context()
	bare := newRemote(t, nil)
	gl := &fakeGitLab{t: t}
	srv := httptest.NewServer(gl.handler())
	defer srv.Close()
	w := newWriter(t, bare, func(c *Config) {
		c.Mode = ModePullRequest
		c.Branch = "main"
		c.PullRequest = PullRequestConfig{Provider: ProviderGitLab, BaseURL: srv.URL + "/api/v4/", Repository: "group/gitops"}
		c.Credentials = Credentials{Token: apiToken}
		c.HTTPClient = srv.Client()
	})
	c := rollback("staging", "1", "2", "rb-7")
	res, err := w.Promote(ctx, c)
	if err != nil {
		t.Fatalf("Promote: %v", err)
	}
	const branch = "promote/credit-risk-1-staging"
	want := Result{Commit: runGit(t, bare, "rev-parse", "refs/heads/"+branch), Branch: branch, Attempts: 1,
		PullRequest: &PullRequest{Number: 1, URL: "https://gitlab.example/group/gitops/-/merge_requests/1"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Promote (-want +got):\n%s", diff)
	}
	wantBody := map[string]any{"source_branch": branch, "target_branch": "main", "title": "rollback credit-risk in staging to 1",
		"description": c.Message("deploy/overlays/staging"), "remove_source_branch": true}
	if diff := cmp.Diff(wantBody, gl.creates[0]); diff != "" {
		t.Errorf("POST merge_requests body (-want +got):\n%s", diff)
	}
	again, err := w.Promote(ctx, c)
	if err != nil || !cmp.Equal(res, again) {
		t.Errorf("Promote again = %+v, %v; want %+v (the open merge request)", again, err, res)
	}
	if len(gl.mrs) != 1 {
		t.Errorf("%d merge requests, want 1", len(gl.mrs))
	}

	for _, tt := range []struct {
		state          string
		merged, closed bool
	}{{"opened", false, false}, {"locked", false, false}, {"merged", true, false}, {"closed", false, true}} {
		gl.mu.Lock()
		gl.mrs[0]["state"] = tt.state
		gl.mu.Unlock()
		merged, closed, err := w.PRStatus(ctx, "!1")
		if err != nil || merged != tt.merged || closed != tt.closed {
			t.Errorf("PRStatus with state %s = %v, %v, %v; want %v, %v", tt.state, merged, closed, err, tt.merged, tt.closed)
		}
	}
}

func TestPRNumber(t *testing.T) {
	tests := []struct {
		ref  string
		want int
		ok   bool
	}{
		{"42", 42, true}, {"#42", 42, true}, {"!42", 42, true}, {" 42 ", 42, true},
		{"https://github.com/acme/gitops/pull/42", 42, true},
		{"https://gitlab.com/group/gitops/-/merge_requests/42/", 42, true},
		{"", 0, false}, {"main", 0, false}, {"0", 0, false},
	}
	for _, tt := range tests {
		got, err := prNumber(tt.ref)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("prNumber(%q) = %d, %v; want %d, ok %v", tt.ref, got, err, tt.want, tt.ok)
		}
	}
}
