package gitops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/promote-ml/promote/promote"
)

// The pull-request providers.
const (
	ProviderGitHub = "github"
	ProviderGitLab = "gitlab"
)

// The APIs' default roots.
const (
	DefaultGitHubURL = "https://api.github.com"
	DefaultGitLabURL = "https://gitlab.com/api/v4"
)

// PullRequestConfig says where ModePullRequest opens pull requests.
type PullRequestConfig struct {
	// Provider is ProviderGitHub or ProviderGitLab.
	Provider string
	// BaseURL is the API's root: DefaultGitHubURL or DefaultGitLabURL
	// when empty; a GitHub Enterprise or self-managed GitLab root
	// otherwise (https://github.example.com/api/v3,
	// https://gitlab.example.com/api/v4).
	BaseURL string
	// Repository is GitHub's "owner/name", or GitLab's project: its
	// numeric ID or its path "group/project".
	Repository string
}

func (c *PullRequestConfig) problems(cred Credentials) []string {
	var p []string
	switch c.Provider {
	case ProviderGitHub:
		if owner, name, ok := strings.Cut(c.Repository, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			p = append(p, fmt.Sprintf("pull-request repository %q is not GitHub's owner/name", c.Repository))
		}
	case ProviderGitLab:
		if c.Repository == "" {
			p = append(p, "pull-request repository (GitLab's project ID or path) is empty")
		}
	default:
		p = append(p, fmt.Sprintf("pull-request provider %q is neither %q nor %q", c.Provider, ProviderGitHub, ProviderGitLab))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p = append(p, fmt.Sprintf("pull-request base URL %q is not an http(s) URL", c.BaseURL))
		}
	}
	if cred.Token == "" {
		p = append(p, "pull-request mode needs an API token in the credentials")
	}
	return p
}

// PullRequest is a pull request (GitHub) or merge request (GitLab).
type PullRequest struct {
	// Number is GitHub's pull request number or GitLab's merge request
	// iid: what PRStatus takes.
	Number int `json:"number"`
	// URL is the page people review it on.
	URL string `json:"url"`
}

type pullRequestInput struct {
	Title, Body, Head, Base string
}

// provider is a Git host's pull-request API.
type provider interface {
	// open opens a pull request, or returns the one open already from
	// the same head into the same base.
	open(ctx context.Context, in pullRequestInput) (PullRequest, error)
	status(ctx context.Context, number int) (merged, closed bool, err error)
	// closed finds a pull request from in.Head into in.Base that was
	// closed without merging and carries promotionID's trailer: a person
	// turned that change down, and no other pull request is opened for it.
	closed(ctx context.Context, in pullRequestInput, promotionID string) (PullRequest, bool, error)
}

// carries reports whether a pull request's description, the commit
// message, carries promotionID as its Promotion-Id trailer.
func carries(body, promotionID string) bool {
	id, ok := trailerValue(ParseTrailers(strings.ReplaceAll(body, "\r\n", "\n")), TrailerPromotionID)
	return ok && id == promotionID
}

// closedError says that pr, from head into base, was closed without
// merging, and what a person does about it. For a rollback to version,
// which stays live in the registry, the reconciler opens no other pull
// request: the person who closed it decides.
func closedError(pr PullRequest, head, base, version string, rollback bool) error {
	err := fmt.Errorf("pull request %s (%s into %s) was %w", prRef(pr), head, base, errPRClosed)
	if !rollback {
		return err
	}
	return fmt.Errorf("%w: the rollback to %s stays live in the registry, but %s does not pin it; "+
		"reopen and merge the pull request (no promotion into the environment goes live until %s pins the rollback)",
		err, version, base, base)
}

var (
	_ provider = (*github)(nil)
	_ provider = (*gitlab)(nil)
)

func newProvider(c PullRequestConfig, token string, client *http.Client) (provider, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	switch c.Provider {
	case ProviderGitHub:
		if base == "" {
			base = DefaultGitHubURL
		}
		owner, name, _ := strings.Cut(c.Repository, "/")
		return &github{api: api{base: base, client: client, auth: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Accept", "application/vnd.github+json")
			r.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		}}, owner: owner, name: name}, nil
	case ProviderGitLab:
		if base == "" {
			base = DefaultGitLabURL
		}
		return &gitlab{api: api{base: base, client: client, auth: func(r *http.Request) {
			r.Header.Set("PRIVATE-TOKEN", token)
		}}, project: c.Repository}, nil
	}
	return nil, promote.Errorf(promote.Invalid, "gitops: unknown pull-request provider %q", c.Provider)
}

// PRStatus reports whether a pull request opened by Promote has merged, or
// was closed without merging (the promotion then cannot complete). ref is
// the number (GitHub) or iid (GitLab), bare or as "#42" or "!42", or the
// pull request's URL. It fails in ModePush.
func (w *Writer) PRStatus(ctx context.Context, ref string) (merged, closed bool, err error) {
	if w.pr == nil {
		return false, false, promote.Errorf(promote.Invalid, "the GitOps writer pushes to %s directly; it opens no pull requests", w.cfg.Branch)
	}
	n, err := prNumber(ref)
	if err != nil {
		return false, false, err
	}
	return w.pr.status(ctx, n)
}

var trailingNumber = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`([0-9]+)/?$`) })

func prNumber(ref string) (int, error) {
	m := trailingNumber().FindStringSubmatch(strings.TrimSpace(ref))
	if m == nil {
		return 0, promote.Errorf(promote.Invalid, "pull request %q: want its number or URL", ref)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, promote.Errorf(promote.Invalid, "pull request %q: want its number or URL", ref)
	}
	return n, nil
}

// github speaks GitHub's REST API: POST and GET /repos/{owner}/{repo}/pulls.
type github struct {
	api
	owner, name string
}

type githubPull struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	State   string `json:"state"` // open or closed
	Merged  bool   `json:"merged"`
	// MergedAt is how a list of pull requests tells a merged one, which
	// it gives without Merged.
	MergedAt *string `json:"merged_at"`
	Body     string  `json:"body"`
}

func (g *github) repoPath() string {
	return "/repos/" + url.PathEscape(g.owner) + "/" + url.PathEscape(g.name)
}

func (g *github) open(ctx context.Context, in pullRequestInput) (PullRequest, error) {
	body := map[string]any{"title": in.Title, "head": in.Head, "base": in.Base, "body": in.Body}
	var pr githubPull
	err := g.do(ctx, http.MethodPost, g.repoPath()+"/pulls", body, &pr, http.StatusCreated)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity {
		// 422 is also GitHub's answer when the pull request exists:
		// look for it before failing.
		q := url.Values{"state": {"open"}, "head": {g.owner + ":" + in.Head}, "base": {in.Base}}
		var open []githubPull
		if lerr := g.do(ctx, http.MethodGet, g.repoPath()+"/pulls?"+q.Encode(), nil, &open, http.StatusOK); lerr == nil && len(open) > 0 {
			return PullRequest{Number: open[0].Number, URL: open[0].HTMLURL}, nil
		}
	}
	if err != nil {
		return PullRequest{}, fmt.Errorf("open a pull request from %s into %s: %w", in.Head, in.Base, err)
	}
	return PullRequest{Number: pr.Number, URL: pr.HTMLURL}, nil
}

func (g *github) closed(ctx context.Context, in pullRequestInput, promotionID string) (PullRequest, bool, error) {
	q := url.Values{"state": {"closed"}, "head": {g.owner + ":" + in.Head}, "base": {in.Base}, "per_page": {"100"}}
	var pulls []githubPull
	if err := g.do(ctx, http.MethodGet, g.repoPath()+"/pulls?"+q.Encode(), nil, &pulls, http.StatusOK); err != nil {
		return PullRequest{}, false, fmt.Errorf("look for closed pull requests from %s into %s: %w", in.Head, in.Base, err)
	}
	for _, p := range pulls {
		if p.State == "closed" && !p.Merged && p.MergedAt == nil && carries(p.Body, promotionID) {
			return PullRequest{Number: p.Number, URL: p.HTMLURL}, true, nil
		}
	}
	return PullRequest{}, false, nil
}

func (g *github) status(ctx context.Context, number int) (bool, bool, error) {
	var pr githubPull
	if err := g.do(ctx, http.MethodGet, fmt.Sprintf("%s/pulls/%d", g.repoPath(), number), nil, &pr, http.StatusOK); err != nil {
		return false, false, fmt.Errorf("pull request %d: %w", number, err)
	}
	return pr.Merged, !pr.Merged && pr.State == "closed", nil
}

// gitlab speaks GitLab's REST API: POST and GET
// /projects/{id}/merge_requests.
type gitlab struct {
	api
	project string
}

type gitlabMR struct {
	IID         int    `json:"iid"`
	WebURL      string `json:"web_url"`
	State       string `json:"state"` // opened, closed, locked or merged
	Description string `json:"description"`
}

func (g *gitlab) projectPath() string { return "/projects/" + url.PathEscape(g.project) }

func (g *gitlab) open(ctx context.Context, in pullRequestInput) (PullRequest, error) {
	body := map[string]any{"source_branch": in.Head, "target_branch": in.Base, "title": in.Title,
		"description": in.Body, "remove_source_branch": true}
	var mr gitlabMR
	err := g.do(ctx, http.MethodPost, g.projectPath()+"/merge_requests", body, &mr, http.StatusCreated)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		// 409: a merge request from this branch is open already.
		q := url.Values{"state": {"opened"}, "source_branch": {in.Head}, "target_branch": {in.Base}}
		var open []gitlabMR
		if lerr := g.do(ctx, http.MethodGet, g.projectPath()+"/merge_requests?"+q.Encode(), nil, &open, http.StatusOK); lerr == nil && len(open) > 0 {
			return PullRequest{Number: open[0].IID, URL: open[0].WebURL}, nil
		}
	}
	if err != nil {
		return PullRequest{}, fmt.Errorf("open a merge request from %s into %s: %w", in.Head, in.Base, err)
	}
	return PullRequest{Number: mr.IID, URL: mr.WebURL}, nil
}

func (g *gitlab) closed(ctx context.Context, in pullRequestInput, promotionID string) (PullRequest, bool, error) {
	q := url.Values{"state": {"closed"}, "source_branch": {in.Head}, "target_branch": {in.Base}, "per_page": {"100"}}
	var mrs []gitlabMR
	if err := g.do(ctx, http.MethodGet, g.projectPath()+"/merge_requests?"+q.Encode(), nil, &mrs, http.StatusOK); err != nil {
		return PullRequest{}, false, fmt.Errorf("look for closed merge requests from %s into %s: %w", in.Head, in.Base, err)
	}
	for _, mr := range mrs {
		if mr.State == "closed" && carries(mr.Description, promotionID) {
			return PullRequest{Number: mr.IID, URL: mr.WebURL}, true, nil
		}
	}
	return PullRequest{}, false, nil
}

func (g *gitlab) status(ctx context.Context, iid int) (bool, bool, error) {
	var mr gitlabMR
	if err := g.do(ctx, http.MethodGet, fmt.Sprintf("%s/merge_requests/%d", g.projectPath(), iid), nil, &mr, http.StatusOK); err != nil {
		return false, false, fmt.Errorf("merge request !%d: %w", iid, err)
	}
	return mr.State == "merged", mr.State == "closed", nil
}

// api is a JSON HTTP API with token authentication.
type api struct {
	base   string
	client *http.Client
	auth   func(*http.Request)
}

// apiError is an answer with an unexpected status.
type apiError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Status, msg)
}

// maxAPIResponse bounds what is read of an API's answer.
const maxAPIResponse = 1 << 20

func (a *api) do(ctx context.Context, method, path string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "promote")
	a.auth(req)
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return &apiError{Method: method, Path: strings.SplitN(path, "?", 2)[0], Status: resp.StatusCode, Message: apiMessage(raw)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// apiMessage extracts the message of an error answer: GitHub's and
// GitLab's "message" (a string, or GitLab's list or object of them), or
// GitLab's "error".
func apiMessage(raw []byte) string {
	var e struct {
		Message json.RawMessage `json:"message"`
		Error   string          `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return oneLine(string(bytes.ToValidUTF8(raw[:min(len(raw), 200)], nil)))
	}
	var s string
	if json.Unmarshal(e.Message, &s) == nil {
		return s
	}
	if len(e.Message) > 0 {
		return oneLine(string(e.Message))
	}
	return e.Error
}
