// Package gitops writes promotions to a GitOps repository: it keeps a clone
// of the repository, pins a model version in an environment's overlay,
// renders the overlay to prove it still builds, commits with a structured
// message and trailers, and pushes, to the branch or to a review branch with
// a pull request. Argo CD, Flux or Promote's local agent deploy what the
// branch pins.
package gitops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/promote-ml/promote/internal/gitclone"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// Mode is how the writer delivers a commit.
type Mode string

// The modes.
const (
	// ModePush pushes the commit to the branch directly.
	ModePush Mode = "push"
	// ModePullRequest pushes a review branch promote/<model>-<version>-<env>
	// and opens a pull (GitHub) or merge (GitLab) request into the branch.
	ModePullRequest Mode = "pull-request"
)

// Defaults of Config.
const (
	DefaultBranch       = gitclone.DefaultBranch
	DefaultAuthorName   = "Promote"
	DefaultAuthorEmail  = "promote@localhost"
	DefaultMaxAttempts  = 5
	DefaultBackoff      = 100 * time.Millisecond
	DefaultHistoryDepth = 1000
	DefaultAPITimeout   = 30 * time.Second
)

// Credentials authenticate the writer to the Git host and, in
// ModePullRequest, to its API.
type Credentials = gitclone.Credentials

// DefaultTokenUsername is the user name sent with a token over HTTPS.
const DefaultTokenUsername = gitclone.DefaultTokenUsername

// Config configures a Writer.
type Config struct {
	// Remote is the GitOps repository: an https:// or ssh:// URL, or a
	// local path (a bare repository, for instance).
	Remote string
	// Branch is the branch Argo CD or Flux deploy from (DefaultBranch).
	Branch string
	// Dir is the writer's own working directory: a clone of Remote that it
	// creates when missing and resets before every change. One writer
	// per directory.
	Dir string
	// Mode is ModePush (the default) or ModePullRequest.
	Mode Mode
	// PullRequest says where to open pull requests in ModePullRequest.
	PullRequest PullRequestConfig
	// Credentials authenticate to the Git host and its API.
	Credentials Credentials
	// AuthorName and AuthorEmail sign the commits, as author and committer.
	AuthorName  string
	AuthorEmail string
	// MaxAttempts bounds the pushes of one change when other writers win
	// the race to the branch (DefaultMaxAttempts); Backoff is the base
	// pause between attempts, growing with each and jittered
	// (DefaultBackoff).
	MaxAttempts int
	Backoff     time.Duration
	// HistoryDepth bounds how many commits FindCommit reads back from the
	// branch's head (DefaultHistoryDepth).
	HistoryDepth int
	// Timeout bounds each exchange with the remote, a fetch or a push
	// (gitclone.DefaultTimeout): a remote that takes the connection and
	// never answers fails the change, which is tried again later, rather
	// than holding the writer for ever.
	Timeout time.Duration
	// HTTPClient calls the pull-request API (a client with
	// DefaultAPITimeout).
	HTTPClient *http.Client
	// Now stamps the commits (time.Now).
	Now func() time.Time
	// Logger receives one line per pushed commit and per lost race.
	Logger *slog.Logger
	// BeforePush, when set, is called with the change's context right
	// before each push; an error stops the change and nothing is pushed.
	// A replica that may have lost its leadership checks its fence here
	// (registry.Service.CheckFence): a push is a side effect no
	// transaction can fence, so the check comes as late as it can.
	BeforePush func(ctx context.Context) error
}

// String describes the configuration without secrets, so that printing it
// with %v or %+v shows none.
func (c Config) String() string {
	return fmt.Sprintf("gitops.Config{Remote: %s, Branch: %s, Dir: %s, Mode: %s, Credentials: %v}",
		gitclone.RedactURL(c.Remote), c.Branch, c.Dir, c.Mode, c.Credentials)
}

// LogValue implements slog.LogValuer: the configuration without secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("remote", gitclone.RedactURL(c.Remote)),
		slog.String("branch", c.Branch),
		slog.String("dir", c.Dir),
		slog.String("mode", string(c.Mode)),
		slog.Any("credentials", c.Credentials),
	)
}

// Change is one environment's new pin: a promotion, or a rollback when
// RollbackOf is set.
type Change struct {
	Environment string
	Pin         overlay.Pin
	// PromotionID identifies the promotion; it is the commit's
	// Promotion-Id trailer, by which FindCommit finds the commit.
	PromotionID string
	ApprovedBy  []string
	// Gate summarises the gate's verdict, e.g. "allowed: 6 passed".
	Gate string
	// Reason says why; a rollback must give one.
	Reason string
	// RollbackOf names what a rollback undoes: the version that was live
	// and is replaced by Pin.Version.
	RollbackOf string
}

// Result is what Promote did.
type Result struct {
	// NoChange is set when the branch already pinned the change: nothing
	// was committed. Commit is then the commit that carries PromotionID,
	// if it is found in the recent history, or "".
	NoChange bool
	// Head is, when NoChange is set, the commit (hex) since which the
	// branch pins the change (PinnedSince): what carries it when no
	// commit has its Promotion-Id, as after a squash merge that dropped
	// the trailers.
	Head string
	// Commit is the hash of the commit (hex).
	Commit string
	// Branch is where the commit went: the branch in ModePush, the
	// review branch in ModePullRequest.
	Branch string
	// PullRequest is the pull request opened (or found open) in
	// ModePullRequest.
	PullRequest *PullRequest
	// Attempts counts the pushes tried, 1 when no other writer raced.
	Attempts int
}

// ErrRender marks a change whose overlay does not render: the promotion
// must be blocked, with the wrapped *overlay.RenderError (kustomize's error)
// as the reason. Its code is promote.Blocked, so promote.ErrorCode(err)
// reports it.
var ErrRender = &promote.Error{Code: promote.Blocked, Message: "the overlay does not render"}

// ErrOverlay marks a change the environment's overlay cannot take: the
// overlay is missing, does not declare the model, or disagrees with
// itself. Like ErrRender, trying again does not help; its code is Invalid.
var ErrOverlay = &promote.Error{Code: promote.Invalid, Message: "the overlay cannot take the pin"}

// ErrConflict marks a change that lost the race to the branch
// Config.MaxAttempts times in a row. Nothing was pushed; trying again later
// is safe.
var ErrConflict = &promote.Error{Code: promote.Conflict, Message: "the remote branch kept moving"}

// Writer commits promotions to a GitOps repository. Its methods may be
// called from several goroutines: they take turns on the working directory.
type Writer struct {
	cfg   Config
	clone *gitclone.Clone
	auth  transport.AuthMethod
	pr    provider
	log   *slog.Logger
	turn  chan struct{}

	// beforePush, when set (by tests), runs between commit and push.
	beforePush func()
}

// New returns a writer for cfg, creating cfg.Dir as an empty repository
// whose origin is cfg.Remote when it does not exist yet. It does no
// network I/O: every method fetches first.
func New(cfg Config) (*Writer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, log: cfg.Logger, turn: make(chan struct{}, 1)}
	var err error
	if cfg.Mode == ModePullRequest {
		if w.pr, err = newProvider(cfg.PullRequest, cfg.Credentials.Token, cfg.HTTPClient); err != nil {
			return nil, err
		}
	}
	if w.clone, err = gitclone.Open(cfg.Dir, cfg.Remote, cfg.Branch, "writer", cfg.Credentials, cfg.Logger); err != nil {
		return nil, err
	}
	w.auth = w.clone.Auth()
	w.clone.Timeout = cfg.Timeout
	return w, nil
}

func (c *Config) setDefaults() error {
	problems := gitclone.Problems(c.Remote, c.Dir, &c.Branch)
	switch c.Mode {
	case "":
		c.Mode = ModePush
	case ModePush, ModePullRequest:
	default:
		problems = append(problems, fmt.Sprintf("mode %q is neither %q nor %q", c.Mode, ModePush, ModePullRequest))
	}
	if c.Mode == ModePullRequest {
		problems = append(problems, c.PullRequest.problems(c.Credentials)...)
	}
	if c.AuthorName == "" {
		c.AuthorName = DefaultAuthorName
	}
	if c.AuthorEmail == "" {
		c.AuthorEmail = DefaultAuthorEmail
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.HistoryDepth <= 0 {
		c.HistoryDepth = DefaultHistoryDepth
	}
	if c.Timeout <= 0 {
		c.Timeout = gitclone.DefaultTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultAPITimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(problems) > 0 {
		return promote.Errorf(promote.Invalid, "gitops configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// lock takes the writer's turn on the working directory, or gives up when
// ctx ends.
func (w *Writer) lock(ctx context.Context) error {
	select {
	case w.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) unlock() { <-w.turn }

func (c *Change) validate() error {
	if err := promote.ValidateName("environment", c.Environment); err != nil {
		return err
	}
	if err := c.Pin.Validate(); err != nil {
		return err
	}
	if c.PromotionID == "" || oneLine(c.PromotionID) != c.PromotionID {
		return promote.Errorf(promote.Invalid, "promotion id %q is empty or has white space", c.PromotionID)
	}
	if c.RollbackOf != "" {
		if err := promote.ValidateName("rolled-back version", c.RollbackOf); err != nil {
			return err
		}
		if oneLine(c.Reason) == "" {
			return promote.Errorf(promote.Invalid, "a rollback of %s in %s needs a reason", c.Pin.Model, c.Environment)
		}
	}
	return nil
}

// reviewBranch is the branch a pull request for c comes from.
func (c *Change) reviewBranch() string {
	return fmt.Sprintf("promote/%s-%s-%s", c.Pin.Model, c.Pin.Version, c.Environment)
}

// Promote writes c to the environment's overlay and delivers the commit.
//
// It fetches, resets the working directory to the remote branch, and pins
// the version; when the branch pins it already, it returns NoChange, so
// calling Promote again after a crash that followed the push commits
// nothing, and after a crash before the push commits again. It renders the
// overlay (an error matching ErrRender when that fails), commits with
// c.Message and pushes. When another writer pushed to the branch first, it
// starts over from the new head, up to Config.MaxAttempts times, then fails
// with ErrConflict.
func (w *Writer) Promote(ctx context.Context, c Change) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	if err := w.lock(ctx); err != nil {
		return Result{}, err
	}
	defer w.unlock()
	if w.cfg.Mode == ModePullRequest {
		return w.promoteReview(ctx, &c)
	}
	for attempt := 1; ; attempt++ {
		base, commit, done, err := w.commitOnHead(ctx, &c, attempt)
		if err != nil || done != nil {
			return deref(done), err
		}
		if w.beforePush != nil {
			w.beforePush()
		}
		if err := w.mayPush(ctx, w.cfg.Branch); err != nil {
			return Result{}, err
		}
		pushErr := w.push(ctx, w.cfg.Branch, commit, false)
		if pushErr == nil {
			w.logPush(&c, commit, w.cfg.Branch, attempt)
			return Result{Commit: commit.String(), Branch: w.cfg.Branch, Attempts: attempt}, nil
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("push %s: %w", w.cfg.Branch, pushErr)
		}
		// Whether the push lost a race is read from the branch, not from
		// the error's text: fetch and see whether the head moved.
		head, err := w.fetchHead(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("push %s: %w (and then: %w)", w.cfg.Branch, pushErr, err)
		}
		switch {
		case head == commit: // it landed; the report was lost
			w.logPush(&c, commit, w.cfg.Branch, attempt)
			return Result{Commit: commit.String(), Branch: w.cfg.Branch, Attempts: attempt}, nil
		case head == base:
			return Result{}, fmt.Errorf("push %s to %s: %w", w.cfg.Branch, gitclone.RedactURL(w.cfg.Remote), pushErr)
		case attempt >= w.cfg.MaxAttempts:
			return Result{}, fmt.Errorf("push %s %s to %s: another writer moved %s first %d times: %w",
				c.Pin.Model, c.Pin.Version, c.Environment, w.cfg.Branch, attempt, ErrConflict)
		}
		w.log.Info("gitops: another writer moved the branch first; trying again on its new head",
			append(c.logAttrs(), slog.Int(attrAttempt, attempt), slog.String(attrCommit, head.String()))...)
		if err := w.pause(ctx, attempt); err != nil {
			return Result{}, err
		}
	}
}

// promoteReview is Promote in ModePullRequest: commit on top of the branch,
// push the review branch (reusing what an earlier call pushed for the same
// change) and open the pull request, or find it open.
func (w *Writer) promoteReview(ctx context.Context, c *Change) (Result, error) {
	base, commit, done, err := w.commitOnHead(ctx, c, 1)
	if err != nil || done != nil {
		return deref(done), err
	}
	branch := c.reviewBranch()
	msg := c.Message(overlay.OverlayPath(c.Environment))
	in := pullRequestInput{Title: c.Subject(), Body: msg, Head: branch, Base: w.cfg.Branch}
	// A pull request a person closed for this very change is their
	// answer: no other one is opened, and its review branch is left as
	// it is, so that they can still reopen it.
	if pr, closed, err := w.pr.closed(ctx, in, c.PromotionID); err != nil {
		return Result{}, err
	} else if closed {
		return Result{}, closedError(pr, branch, w.cfg.Branch, c.Pin.Version, c.RollbackOf != "")
	}
	// A review branch a person pushed to is theirs, as UpdateReview
	// leaves it: after a restart the pull request is found again here.
	if theirs, ok, err := w.personsHead(branch, c.PromotionID); err != nil {
		return Result{}, err
	} else if ok {
		w.log.Info("gitops: the review branch has a person's commit on top; left as it is", append(c.logAttrs(),
			slog.String(attrCommit, theirs.String()), slog.String(attrBranch, branch))...)
		pr, err := w.pr.open(ctx, in)
		if err != nil {
			return Result{}, err
		}
		return Result{Commit: theirs.String(), Branch: branch, PullRequest: &pr}, nil
	}
	if ok, err := w.samePushed(branch, base, commit); err != nil {
		return Result{}, err
	} else if ok {
		prev, _ := w.clone.Repo.Reference(gitclone.RemoteRef(branch), true)
		commit = prev.Hash()
	} else {
		if err := w.pushReview(ctx, branch, commit); err != nil {
			return Result{}, err
		}
		w.logPush(c, commit, branch, 1)
	}
	pr, err := w.pr.open(ctx, in)
	if err != nil {
		return Result{}, err
	}
	return Result{Commit: commit.String(), Branch: branch, PullRequest: &pr, Attempts: 1}, nil
}

// UpdateReview keeps the review branch of c, whose pull request is open,
// on top of the branch. When the branch moved since the review commit was
// pushed (a person edited the overlay, another change landed), or a person
// deleted the review branch, it commits c again on the branch's head and
// force-pushes the review branch: the same pull request, with its
// conversation, then shows the change as it merges now, instead of staying
// out of date or in conflict. A review branch whose head is not Promote's
// commit for c (a person pushed to it) is theirs and left as it is. It
// opens, closes and reopens no pull request, and never pushes
// Config.Branch.
//
// Result.Commit is the review branch's head and Attempts counts the pushes
// (0 when the branch was up to date). When the branch pins c already,
// NoChange is set, as by Promote. It fails in ModePush.
func (w *Writer) UpdateReview(ctx context.Context, c Change) (Result, error) {
	if w.pr == nil {
		return Result{}, promote.Errorf(promote.Invalid, "the GitOps writer pushes to %s directly; it has no review branches", w.cfg.Branch)
	}
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	if err := w.lock(ctx); err != nil {
		return Result{}, err
	}
	defer w.unlock()
	head, err := w.fetchHead(ctx)
	if err != nil {
		return Result{}, err
	}
	branch := c.reviewBranch()
	ref, err := w.clone.Repo.Reference(gitclone.RemoteRef(branch), true)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		// Deleted: pushed again, so that the pull request can merge.
	case err != nil:
		return Result{}, fmt.Errorf("gitops: read %s: %w", branch, err)
	default:
		prev, err := w.clone.Repo.CommitObject(ref.Hash())
		if err != nil {
			return Result{}, fmt.Errorf("gitops: read %s: %w", branch, err)
		}
		id, ours := trailerValue(ParseTrailers(prev.Message), TrailerPromotionID)
		if !ours || id != c.PromotionID || len(prev.ParentHashes) == 1 && prev.ParentHashes[0] == head {
			return Result{Commit: prev.Hash.String(), Branch: branch}, nil
		}
	}
	_, commit, done, err := w.commitOnHead(ctx, &c, 0)
	if err != nil || done != nil {
		return deref(done), err
	}
	// A pull request closed since the caller saw it open keeps its
	// branch as the person left it: GitHub reopens none whose branch was
	// force-pushed after the close.
	in := pullRequestInput{Head: branch, Base: w.cfg.Branch}
	if pr, closed, err := w.pr.closed(ctx, in, c.PromotionID); err != nil {
		return Result{}, err
	} else if closed {
		return Result{}, closedError(pr, branch, w.cfg.Branch, c.Pin.Version, c.RollbackOf != "")
	}
	if err := w.pushReview(ctx, branch, commit); err != nil {
		return Result{}, err
	}
	w.log.Info("gitops: rebuilt the review branch on the branch's new head", append(c.logAttrs(),
		slog.String(attrCommit, commit.String()), slog.String(attrBranch, branch))...)
	return Result{Commit: commit.String(), Branch: branch, Attempts: 1}, nil
}

// personsHead returns the head of the remote review branch when a person
// made it on top of Promote's commit for promotionID: a commit without
// Promote's Promotion-Id trailer, whose first parents lead, through other
// such commits, to that promotion's commit. A branch left over from an
// earlier promotion of the same version to the same environment (its pull
// request merged or closed, a person's commit last) is not this change's,
// and is pushed over like any branch of Promote's.
func (w *Writer) personsHead(branch, promotionID string) (plumbing.Hash, bool, error) {
	ref, err := w.clone.Repo.Reference(gitclone.RemoteRef(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("gitops: read %s: %w", branch, err)
	}
	head := ref.Hash()
	at := head
	for i := 0; i < maxPersonsCommits; i++ {
		co, err := w.clone.Repo.CommitObject(at)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("gitops: read %s: %w", branch, err)
		}
		if id, ours := trailerValue(ParseTrailers(co.Message), TrailerPromotionID); ours {
			return head, at != head && id == promotionID, nil
		}
		if len(co.ParentHashes) == 0 {
			break
		}
		at = co.ParentHashes[0]
	}
	return plumbing.ZeroHash, false, nil
}

// commitOnHead syncs the clone with the branch and commits c on its head,
// returning the head it built on (base) and the commit; when the branch
// pins c already, done is the no-change result instead, with attempts.
func (w *Writer) commitOnHead(ctx context.Context, c *Change, attempts int) (base, commit plumbing.Hash, done *Result, err error) {
	if base, err = w.sync(ctx); err != nil {
		return base, commit, nil, err
	}
	commit, changed, err := w.apply(c)
	if err != nil {
		return base, commit, nil, err
	}
	if !changed {
		res, err := w.noChange(c, base, attempts)
		return base, commit, &res, err
	}
	return base, commit, nil, nil
}

// deref is *r, or the zero Result for nil.
func deref(r *Result) Result {
	if r == nil {
		return Result{}
	}
	return *r
}

// maxPersonsCommits bounds how far personsHead looks back for Promote's
// commit under a person's.
const maxPersonsCommits = 100

// samePushed reports whether the review branch already holds the change:
// one commit on base with the same tree (an earlier call pushed it and
// then failed or crashed).
func (w *Writer) samePushed(branch string, base, commit plumbing.Hash) (bool, error) {
	ref, err := w.clone.Repo.Reference(gitclone.RemoteRef(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gitops: read %s: %w", branch, err)
	}
	prev, err := w.clone.Repo.CommitObject(ref.Hash())
	if err != nil {
		return false, fmt.Errorf("gitops: read %s: %w", branch, err)
	}
	ours, err := w.clone.Repo.CommitObject(commit)
	if err != nil {
		return false, fmt.Errorf("gitops: read commit: %w", err)
	}
	return len(prev.ParentHashes) == 1 && prev.ParentHashes[0] == base && prev.TreeHash == ours.TreeHash &&
		prev.Message == ours.Message, nil
}

func (w *Writer) noChange(c *Change, head plumbing.Hash, attempts int) (Result, error) {
	res := Result{NoChange: true, Branch: w.cfg.Branch, Attempts: attempts}
	h, ok, err := w.findCommit(head, c.PromotionID)
	if err != nil {
		return Result{}, err
	}
	if ok {
		res.Commit = h
	}
	since, err := w.pinnedSince(head, c.Environment, c.Pin.Model)
	if err != nil {
		return Result{}, err
	}
	res.Head = since.String()
	return res, nil
}

// PinnedSince returns the commit (hex) since which the branch, at head (a
// commit fetched already, such as PinnedEach's), pins what it pins of
// model in env: the oldest of head's first parents whose model config file
// in the overlay (models/MODEL.env, which every pin rewrites) is the same
// as head's, at most Config.HistoryDepth commits back. That is the commit
// that brought the pin however it came — a squashed pull request whose
// message lost the Promotion-Id trailer, a person's commit — rather than
// whatever was committed on top of it since.
func (w *Writer) PinnedSince(ctx context.Context, head, env, model string) (string, error) {
	h := plumbing.NewHash(head)
	if h.IsZero() || h.String() != head {
		return "", promote.Errorf(promote.Invalid, "commit %q is not a full hex hash", head)
	}
	if err := w.lock(ctx); err != nil {
		return "", err
	}
	defer w.unlock()
	since, err := w.pinnedSince(h, env, model)
	if err != nil {
		return "", err
	}
	return since.String(), nil
}

func (w *Writer) pinnedSince(head plumbing.Hash, env, model string) (plumbing.Hash, error) {
	file := path.Join(overlay.OverlayPath(env), overlay.ModelsDir, model+".env")
	blob := func(co *object.Commit) (plumbing.Hash, error) {
		f, err := co.File(file)
		switch {
		case errors.Is(err, object.ErrFileNotFound):
			return plumbing.ZeroHash, nil
		case err != nil:
			return plumbing.ZeroHash, fmt.Errorf("gitops: read %s at %s: %w", file, co.Hash, err)
		}
		return f.Hash, nil
	}
	at, err := w.clone.Repo.CommitObject(head)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("gitops: read commit %s: %w", head, err)
	}
	want, err := blob(at)
	if err != nil || want.IsZero() {
		// Without the file head pins nothing of model: head is all
		// there is to name.
		return head, err
	}
	for n := 1; n < w.cfg.HistoryDepth && len(at.ParentHashes) > 0; n++ {
		parent, err := w.clone.Repo.CommitObject(at.ParentHashes[0])
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("gitops: read commit %s: %w", at.ParentHashes[0], err)
		}
		if b, err := blob(parent); err != nil {
			return plumbing.ZeroHash, err
		} else if b != want {
			break
		}
		at = parent
	}
	return at.Hash, nil
}

func (w *Writer) logPush(c *Change, commit plumbing.Hash, branch string, attempt int) {
	w.log.Info("gitops: pushed", append(c.logAttrs(), slog.String(attrCommit, commit.String()),
		slog.String(attrBranch, branch), slog.Int(attrAttempt, attempt))...)
}

// Log attribute keys.
const (
	attrModel     = "model"
	attrVersion   = "version"
	attrEnv       = "env"
	attrPromotion = "promotion"
	attrCommit    = "commit"
	attrBranch    = "branch"
	attrAttempt   = "attempt"
)

func (c *Change) logAttrs() []any {
	return []any{slog.String(attrModel, c.Pin.Model), slog.String(attrVersion, c.Pin.Version),
		slog.String(attrEnv, c.Environment), slog.String(attrPromotion, c.PromotionID)}
}

// pause waits before attempt+1: Backoff times attempt, plus up to one
// Backoff of jitter so that racing writers spread out.
func (w *Writer) pause(ctx context.Context, attempt int) error {
	return wait.Sleep(ctx, w.cfg.Backoff*time.Duration(attempt)+rand.N(w.cfg.Backoff))
}

// apply pins c in the freshly reset working directory, renders the
// overlay and commits. changed is false when the branch pins c already.
func (w *Writer) apply(c *Change) (plumbing.Hash, bool, error) {
	changed, err := overlay.SetPin(w.cfg.Dir, c.Environment, c.Pin)
	if err != nil {
		return plumbing.ZeroHash, false, overlayError(fmt.Sprintf("pin %s %s in %s", c.Pin.Model, c.Pin.Version, c.Environment), w.inRepo(err))
	}
	if !changed {
		return plumbing.ZeroHash, false, nil
	}
	if _, err := overlay.Render(w.cfg.Dir, c.Environment); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("%w: %w", ErrRender, w.inRepo(err))
	}
	wt, err := w.clone.Repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("gitops: %w", err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("gitops: stage %s: %w", overlay.OverlayPath(c.Environment), err)
	}
	// The model's config file by name too: staging everything skips the
	// files .gitignore matches, and the first pin of a model writes its
	// config file, which the overlay reads.
	modelConfig := path.Join(overlay.OverlayPath(c.Environment), overlay.ModelsDir, c.Pin.Model+".env")
	if err := wt.AddWithOptions(&git.AddOptions{Path: modelConfig, SkipStatus: true}); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("gitops: stage %s: %w", modelConfig, err)
	}
	now := w.cfg.Now()
	sig := &object.Signature{Name: w.cfg.AuthorName, Email: w.cfg.AuthorEmail, When: now}
	commit, err := wt.Commit(c.Message(overlay.OverlayPath(c.Environment)), &git.CommitOptions{Author: sig, Committer: sig})
	if errors.Is(err, git.ErrEmptyCommit) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("gitops: commit: %w", err)
	}
	if err := w.checkScope(commit, overlay.OverlayPath(c.Environment)); err != nil {
		// Nothing is pushed; the next sync makes the clone afresh.
		w.clone.MarkDamaged(err)
		return plumbing.ZeroHash, false, err
	}
	return commit, true, nil
}

// checkScope makes sure that commit changes files under dir alone and
// deletes none, as pinning a version in one environment's overlay does: a
// commit that did more was made from a working directory that was not its
// parent, and is never pushed.
func (w *Writer) checkScope(commit plumbing.Hash, dir string) error {
	c, err := w.clone.Repo.CommitObject(commit)
	if err != nil {
		return fmt.Errorf("gitops: read the new commit: %w", err)
	}
	to, err := c.Tree()
	if err != nil {
		return fmt.Errorf("gitops: read the new commit's tree: %w", err)
	}
	parent, err := c.Parent(0)
	if err != nil {
		return fmt.Errorf("gitops: read the new commit's parent: %w", err)
	}
	from, err := parent.Tree()
	if err != nil {
		return fmt.Errorf("gitops: read the parent's tree: %w", err)
	}
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return fmt.Errorf("gitops: compare the new commit with its parent: %w", err)
	}
	var outside, deleted []string
	for _, ch := range changes {
		if ch.To.Name == "" {
			deleted = append(deleted, ch.From.Name)
		}
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" && !strings.HasPrefix(name, dir+"/") && !slices.Contains(outside, name) {
				outside = append(outside, name)
			}
		}
	}
	switch {
	case len(outside) > 0:
		return fmt.Errorf("gitops: the commit for %s would also change %s: the working clone did not hold its parent; nothing was pushed",
			dir, strings.Join(outside, ", "))
	case len(deleted) > 0:
		return fmt.Errorf("gitops: the commit for %s would delete %s, which pinning a version never does: the working clone did not hold its parent; nothing was pushed",
			dir, strings.Join(deleted, ", "))
	}
	return nil
}

// fetchHead fetches the branch (and in ModePullRequest the review
// branches) and returns the branch's head.
func (w *Writer) fetchHead(ctx context.Context) (plumbing.Hash, error) {
	return w.clone.Fetch(ctx, w.reviewSpecs()...)
}

// reviewSpecs are the refspecs of the review branches in ModePullRequest.
func (w *Writer) reviewSpecs() []config.RefSpec {
	if w.cfg.Mode != ModePullRequest {
		return nil
	}
	return []config.RefSpec{config.RefSpec(fmt.Sprintf("+refs/heads/promote/*:refs/remotes/%s/promote/*", gitclone.RemoteName))}
}

// sync fetches and resets the working directory, index and local branch to
// the remote branch's head, discarding whatever an interrupted call left
// behind, and returns that head.
func (w *Writer) sync(ctx context.Context) (plumbing.Hash, error) {
	return w.clone.Sync(ctx, w.reviewSpecs()...)
}

// mayPush asks Config.BeforePush whether a push to branch may go ahead.
func (w *Writer) mayPush(ctx context.Context, branch string) error {
	if w.cfg.BeforePush == nil {
		return nil
	}
	if err := w.cfg.BeforePush(ctx); err != nil {
		return fmt.Errorf("not pushing %s: %w", branch, err)
	}
	return nil
}

// push sets branch on the remote to commit (see gitclone.Clone.Push).
func (w *Writer) push(ctx context.Context, branch string, commit plumbing.Hash, force bool) error {
	if err := w.clone.Push(ctx, branch, commit, force); err != nil {
		return &pushError{err}
	}
	return nil
}

// Pinned fetches and returns what the branch pins in env now, by model:
// what Argo CD or Flux deploy. A reconciler compares it with the
// registry's live versions and promotes only the differences.
func (w *Writer) Pinned(ctx context.Context, env string) (map[string]overlay.Pin, error) {
	each, _, err := w.PinnedEach(ctx, []string{env})
	if err != nil {
		return nil, err
	}
	return each[0].Pins, each[0].Err
}

// EnvPins is what one environment's overlay pins on the branch, by model,
// or why the overlay could not be read (an error matching ErrOverlay when
// the overlay itself is at fault).
type EnvPins struct {
	Pins map[string]overlay.Pin
	Err  error
}

// PinnedEach fetches once and returns what the branch pins in each of
// envs, read at the same head, one EnvPins per environment in the order of
// envs, and that head (hex). A reconciler's pass reads every environment
// it looks at this way, with one fetch. The error is for a branch that
// could not be read; an overlay's own trouble is its EnvPins.Err.
func (w *Writer) PinnedEach(ctx context.Context, envs []string) ([]EnvPins, string, error) {
	for _, env := range envs {
		if err := promote.ValidateName("environment", env); err != nil {
			return nil, "", err
		}
	}
	if err := w.lock(ctx); err != nil {
		return nil, "", err
	}
	defer w.unlock()
	head, err := w.sync(ctx)
	if err != nil {
		return nil, "", err
	}
	out := make([]EnvPins, len(envs))
	for i, env := range envs {
		if out[i].Pins, err = overlay.Pins(w.cfg.Dir, env); err != nil {
			out[i] = EnvPins{Err: overlayError("read the pins of "+env, w.inRepo(err))}
		}
	}
	return out, head.String(), nil
}

// repoError is an error whose text names paths in the GitOps repository
// rather than in the writer's working clone.
type repoError struct {
	err error
	msg string
}

func (e *repoError) Error() string { return e.msg }
func (e *repoError) Unwrap() error { return e.err }

// inRepo takes the working clone's directory out of the paths err names
// (package overlay and kustomize name the files they read): the person who
// reads a promotion's failure knows the repository, not the server's
// clone of it, and "deploy/overlays/dev" is what they open. err still
// matches what it matched (errors.Is, errors.As).
func (w *Writer) inRepo(err error) error {
	dir := filepath.Clean(w.cfg.Dir)
	msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	if msg == err.Error() {
		return err
	}
	return &repoError{err: err, msg: msg}
}

// overlayError wraps an error of package overlay: one with code Invalid or
// NotFound is about the overlay's content and matches ErrOverlay.
func overlayError(what string, err error) error {
	if c := promote.ErrorCode(err); c == promote.Invalid || c == promote.NotFound {
		return fmt.Errorf("%s: %w: %w", what, ErrOverlay, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Mode returns the writer's delivery mode.
func (w *Writer) Mode() Mode { return w.cfg.Mode }

// Branch returns the branch the writer delivers to.
func (w *Writer) Branch() string { return w.cfg.Branch }

// FindCommit fetches and looks for the commit whose Promotion-Id trailer is
// promotionID among the branch's last Config.HistoryDepth commits. In
// ModePullRequest that is the merged history: an open pull request's
// commit is not found until it merges.
func (w *Writer) FindCommit(ctx context.Context, promotionID string) (string, bool, error) {
	if promotionID == "" {
		return "", false, promote.Errorf(promote.Invalid, "promotion id is empty")
	}
	if err := w.lock(ctx); err != nil {
		return "", false, err
	}
	defer w.unlock()
	head, err := w.fetchHead(ctx)
	if err != nil {
		return "", false, err
	}
	return w.findCommit(head, promotionID)
}

func (w *Writer) findCommit(head plumbing.Hash, promotionID string) (string, bool, error) {
	iter, err := w.clone.Repo.Log(&git.LogOptions{From: head, Order: git.LogOrderCommitterTime})
	if err != nil {
		return "", false, fmt.Errorf("gitops: read history: %w", err)
	}
	defer iter.Close()
	for n := 0; n < w.cfg.HistoryDepth; n++ {
		c, err := iter.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", false, fmt.Errorf("gitops: read history: %w", err)
		}
		if id, ok := trailerValue(ParseTrailers(c.Message), TrailerPromotionID); ok && id == promotionID {
			return c.Hash.String(), true, nil
		}
	}
	return "", false, nil
}

// pushReview points the review branch at commit and pushes it, forced:
// only Promote's own review branch is ever forced, never Config.Branch.
func (w *Writer) pushReview(ctx context.Context, branch string, commit plumbing.Hash) error {
	if err := w.clone.Repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), commit)); err != nil {
		return fmt.Errorf("gitops: set %s: %w", branch, err)
	}
	if err := w.mayPush(ctx, branch); err != nil {
		return err
	}
	if err := w.push(ctx, branch, commit, true); err != nil {
		return fmt.Errorf("push %s to %s: %w", branch, gitclone.RedactURL(w.cfg.Remote), err)
	}
	return nil
}
