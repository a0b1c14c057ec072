package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/signature"
	"github.com/promote-ml/promote/promote"
)

// RegisterRequest registers a version of a model with its evidence.
type RegisterRequest struct {
	Model       string `json:"model"`
	Version     string `json:"version"`
	ArtifactURI string `json:"artifact_uri"`
	// Digest is the artifact's sha256:<hex>. The server computes it when it
	// can read the artifact (a file under its artifact roots) and refuses a
	// request whose digest differs; otherwise it is required.
	Digest string `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Signature is a base64 signature over the artifact (cosign sign-blob),
	// Bundle a sigstore bundle; either is verified against the pipeline's
	// trusted keys, and registration fails if it does not verify.
	Signature string `json:"signature,omitempty"`
	Bundle    string `json:"bundle,omitempty"`
	// Metrics is the metrics.json document: metrics, checks and groups.
	Metrics []byte          `json:"metrics,omitempty"`
	Lineage promote.Lineage `json:"lineage"`
}

const maxFieldLen = 2048

// RegisterVersion stores a new version of an existing model. Its digest is
// computed or checked, its signature verified against the trusted keys and
// its metrics parsed as the gate reads them; anything wrong is an Invalid
// error naming it, and nothing is stored.
func (s *Service) RegisterVersion(ctx context.Context, who promote.Principal, req RegisterRequest) (promote.Version, error) {
	if err := Authorize(who, promote.RoleSubmitter, "registering a version"); err != nil {
		return promote.Version{}, err
	}
	if err := promote.ValidateName("model name", req.Model); err != nil {
		return promote.Version{}, err
	}
	if err := promote.ValidateName("version", req.Version); err != nil {
		return promote.Version{}, err
	}
	for name, v := range map[string]string{"artifact_uri": req.ArtifactURI, "lineage.dataset_digest": req.Lineage.DatasetDigest,
		"lineage.code_commit": req.Lineage.CodeCommit, "lineage.training_run": req.Lineage.TrainingRun, "lineage.base_image_digest": req.Lineage.BaseImageDigest} {
		if len(v) > maxFieldLen {
			return promote.Version{}, promote.Errorf(promote.Invalid, "%s is %d characters; at most %d", name, len(v), maxFieldLen)
		}
	}
	if req.ArtifactURI == "" {
		return promote.Version{}, promote.Errorf(promote.Invalid, "artifact_uri is empty")
	}
	// A size is a count of bytes: a negative one would be stored and shown
	// as the artifact's, beside its digest, on every page and in every
	// listing.
	if req.Size < 0 {
		return promote.Version{}, promote.Errorf(promote.Invalid, "size is %d; want the artifact's size in bytes (0 or more, or leave it out)", req.Size)
	}
	v := promote.Version{Model: req.Model, Version: req.Version, ArtifactURI: req.ArtifactURI, Size: req.Size, Lineage: req.Lineage,
		CreatedBy: who.Name, CreatedAt: s.clock(), Metrics: map[string]float64{}}
	digest, err := s.artifactDigest(ctx, req, &v)
	if err != nil {
		return promote.Version{}, err
	}
	if req.Signature != "" || req.Bundle != "" {
		sig, err := s.verifySignature(req, digest)
		if err != nil {
			return promote.Version{}, err
		}
		v.Signatures = []promote.Signature{sig}
	}
	if len(req.Metrics) > 0 {
		ev, err := policy.ParseEvidence("metrics", req.Metrics)
		if err != nil {
			return promote.Version{}, promote.Errorf(promote.Invalid, "%v", err)
		}
		v.Metrics, v.Checks, v.Groups = ev.Metrics, ev.Checks, ev.Groups
	}
	err = s.updateAs(ctx, who, func(tx promote.Tx) error {
		if err := tx.CreateVersion(v); err != nil {
			return err
		}
		// Answered with its cursor, as a listing shows it.
		stored, err := tx.Version(v.Model, v.Version)
		if err != nil {
			return err
		}
		v.Seq = stored.Seq
		return audit(tx, promote.AuditEvent{Time: v.CreatedAt, Actor: who.Name, Action: promote.ActionVersionRegistered,
			Model: v.Model, Version: v.Version, Digest: v.Digest, Decision: signedWord(v), Reasons: s.signedBy(v)})
	})
	if err == nil {
		s.withSignatureNow(&v)
	}
	return v, err
}

// signedBy names the trusted key that verified v's signature, for the audit
// log: should a key leak, the log says which versions it signed. The key is
// named by its file and by the SHA-256 of the key itself, since the file at
// that path may hold another key later.
func (s *Service) signedBy(v promote.Version) json.RawMessage {
	for _, sig := range v.Signatures {
		if !sig.Verified {
			continue
		}
		words := "signature verified with trusted key " + sig.KeyID
		for _, k := range s.cfg.TrustedKeys {
			if k.ID == sig.KeyID {
				if d, err := signature.KeyDigest(k.Key); err == nil {
					words += " (public key " + d + ")"
				}
				break
			}
		}
		return reasonsJSON(words)
	}
	return nil
}

func signedWord(v promote.Version) string {
	if v.Signed() {
		return "signed"
	}
	return "unsigned"
}

// artifactDigest computes the digest of a readable artifact under the
// artifact roots, or checks the given one; it fills v.Digest and v.Size.
//
// Only a regular file is read: a device (/dev/zero, under a root of /)
// would never end and a FIFO would block its opening, each keeping a
// core busy or a goroutine stuck for good, one per request. The reading
// stops when ctx ends, so that a request that timed out, or whose client
// left, stops hashing too.
func (s *Service) artifactDigest(ctx context.Context, req RegisterRequest, v *promote.Version) ([32]byte, error) {
	var sum [32]byte
	given := strings.TrimSpace(req.Digest)
	if given != "" {
		hexPart, ok := strings.CutPrefix(given, "sha256:")
		b, err := hex.DecodeString(hexPart)
		if !ok || err != nil || len(b) != 32 || strings.ToLower(hexPart) != hexPart {
			return sum, promote.Errorf(promote.Invalid, "digest %q is not sha256: followed by 64 lower-case hex digits", given)
		}
		copy(sum[:], b)
	}
	a, ok := s.localArtifact(req.ArtifactURI)
	var f *os.File
	if ok {
		var err error
		f, err = openArtifact(a, s.cfg.Private)
		var (
			nr errNotRegular
			pe *fs.PathError
		)
		switch {
		case errors.Is(err, errPrivate):
			ok = false
		case errors.As(err, &nr):
			return sum, promote.Errorf(promote.Invalid, "artifact %s is not a regular file (%s); the server hashes files only", req.ArtifactURI, fileKind(nr.mode))
		case errors.As(err, &pe):
			return sum, promote.Errorf(promote.Invalid, "artifact %s: %v", req.ArtifactURI, pe.Err)
		case err != nil:
			return sum, promote.Errorf(promote.Invalid, "artifact %s: %v", req.ArtifactURI, err)
		}
	}
	if !ok {
		if given == "" {
			return sum, promote.Errorf(promote.Invalid, "digest is required: the server cannot read artifact %s (only files under its artifact roots, outside its data directory)", req.ArtifactURI)
		}
		v.Digest = given
		return sum, nil
	}
	defer f.Close()
	computed, size, err := signature.DigestContext(ctx, f)
	if ctx.Err() != nil {
		return sum, fmt.Errorf("hash artifact %s: %w", req.ArtifactURI, ctx.Err())
	}
	if err != nil {
		return sum, promote.Errorf(promote.Invalid, "artifact %s: %v", req.ArtifactURI, err)
	}
	if given != "" && computed != sum {
		return sum, promote.Errorf(promote.Invalid, "digest mismatch: the request says %s but artifact %s is sha256:%x", given, req.ArtifactURI, computed)
	}
	if req.Size != 0 && req.Size != size {
		return sum, promote.Errorf(promote.Invalid, "size mismatch: the request says %d bytes but artifact %s has %d", req.Size, req.ArtifactURI, size)
	}
	v.Digest, v.Size = fmt.Sprintf("sha256:%x", computed), size
	return computed, nil
}

// errNotRegular is openRegular's error for a file that is not a regular
// one; its message names what the file is.
type errNotRegular struct{ mode fs.FileMode }

func (e errNotRegular) Error() string { return "not a regular file (" + fileKind(e.mode) + ")" }

// artifactPath is an artifact the server may read: rel, a path without
// symbolic links, beneath root, an artifact root with its links resolved.
type artifactPath struct{ root, rel string }

// errPrivate is openArtifact's error for an artifact in a private
// directory, one the server never reads for a caller.
var errPrivate = errors.New("in a private directory")

// errReplaced is the error for a file or a directory on an artifact's path
// that was replaced by another while the artifact was being opened.
var errReplaced = errors.New("replaced while it was being opened; register it again")

// openArtifact opens the artifact a for reading when it is a regular
// file (openRegular). Its path was checked as a string, but a directory
// on it may have been swapped for a symbolic link since, leading out of
// the root or into a private directory: so the path is walked from the
// root one directory at a time, through an os.Root that keeps each step
// beneath the root, and each directory opened must be the very one that
// was there, not a link, nor one of the private directories (a bind
// mount of one, which the string check cannot see, is refused too).
func openArtifact(a artifactPath, private []string) (*os.File, error) {
	dir, err := os.OpenRoot(a.root)
	if err != nil {
		return nil, err
	}
	defer func() { dir.Close() }()
	var privateDirs []os.FileInfo
	for _, p := range private {
		if fi, err := os.Stat(p); err == nil {
			privateDirs = append(privateDirs, fi)
		}
	}
	parent, name := filepath.Split(a.rel)
	for elem := range strings.SplitSeq(filepath.Clean(parent), string(filepath.Separator)) {
		if elem == "." {
			continue
		}
		sub, err := enterDir(dir, elem, privateDirs)
		if err != nil {
			return nil, err
		}
		dir.Close()
		dir = sub
	}
	return openRegular(dir, name)
}

// enterDir opens the directory name in dir when it is one, and that very
// directory, outside the private ones.
func enterDir(dir *os.Root, name string, private []os.FileInfo) (*os.Root, error) {
	before, err := dir.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !before.IsDir() {
		return nil, fmt.Errorf("directory %s on its path was %w", name, errReplaced)
	}
	sub, err := dir.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	after, err := sub.Stat(".")
	switch {
	case err != nil:
	case !os.SameFile(before, after):
		err = fmt.Errorf("directory %s on its path was %w", name, errReplaced)
	case slices.ContainsFunc(private, func(p os.FileInfo) bool { return os.SameFile(p, after) }):
		err = errPrivate
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// openRegular opens name in dir for reading when it is a regular file,
// and that very file. Anything else is refused before it is opened, since
// opening a device may act on it. On Unix the opening does not wait, and
// the file opened is checked again, since the name may be another file's
// by then: one swapped for a named pipe would otherwise block the opening
// for good, as no one writes to it.
func openRegular(dir *os.Root, name string) (*os.File, error) {
	before, err := dir.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, errNotRegular{before.Mode()}
	}
	f, err := dir.OpenFile(name, os.O_RDONLY|openNonblocking, 0)
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	switch {
	case err != nil:
	case !after.Mode().IsRegular():
		err = errNotRegular{after.Mode()}
	case !os.SameFile(before, after):
		err = errReplaced
	}
	if err == nil {
		err = setBlocking(f)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// fileKind names what a file that is not a regular one is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// localArtifact resolves a file:// URI or a path to a file under one of
// the artifact roots; anything else (a remote URI, a path outside the
// roots, even through a symbolic link) is not read.
func (s *Service) localArtifact(uri string) (artifactPath, bool) {
	path := uri
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		if u.Scheme != "file" {
			return artifactPath{}, false
		}
		path = u.Path
	}
	if !filepath.IsAbs(path) {
		return artifactPath{}, false
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(path))
	if err != nil {
		return artifactPath{}, false
	}
	for _, dir := range s.cfg.Private {
		if _, ok := within(dir, real); ok {
			return artifactPath{}, false
		}
	}
	for _, root := range s.cfg.ArtifactRoots {
		if a, ok := within(root, real); ok {
			return a, true
		}
	}
	return artifactPath{}, false
}

// within reports whether path, with its links resolved, is dir or under
// it, and where it lies beneath dir with its links resolved.
func within(dir, path string) (artifactPath, bool) {
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return artifactPath{}, false
	}
	rel, err := filepath.Rel(d, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return artifactPath{}, false
	}
	return artifactPath{root: d, rel: rel}, true
}

// verifySignature verifies a registration's signature or bundle against
// each trusted key.
func (s *Service) verifySignature(req RegisterRequest, digest [32]byte) (promote.Signature, error) {
	if req.Signature != "" && req.Bundle != "" {
		return promote.Signature{}, promote.Errorf(promote.Invalid, "give a signature or a bundle, not both")
	}
	if len(s.cfg.TrustedKeys) == 0 {
		return promote.Signature{}, promote.Errorf(promote.Invalid, "the pipeline trusts no keys (trustedKeys in %s), so no signature can be verified", s.pipelineFile())
	}
	sig := promote.Signature{Signature: req.Signature, Bundle: req.Bundle}
	var last error
	for _, k := range s.cfg.TrustedKeys {
		var err error
		if req.Signature != "" {
			err = signature.Verify(k.Key, digest, []byte(req.Signature))
		} else {
			err = signature.VerifyBundle(k.Key, digest, []byte(req.Bundle))
		}
		if err == nil {
			sig.Verified, sig.KeyID = true, k.ID
			return sig, nil
		}
		last = err
		if !errors.Is(err, signature.ErrMismatch) {
			break // malformed: no other key will do better
		}
	}
	return promote.Signature{}, promote.Errorf(promote.Invalid, "the signature over %s does not verify with any trusted key: %v", fmt.Sprintf("sha256:%x", digest), last)
}

// checkSignatures verifies v's recorded signatures again, over its digest,
// against the keys the pipeline trusts now, and says why for the gate. What
// verified at registration is not taken on trust: a key taken out of
// trustedKeys since (rotated out, or revoked after a leak) no longer vouches
// for the versions it signed, nor does an old key whose file now holds
// another.
//
// A version's signatures never change and the trusted keys are fixed for the
// service's life, so each outcome is kept: a listing of many versions costs
// one verification per version once.
func (s *Service) checkSignatures(v *promote.Version) promote.SignatureCheck {
	h := sha256.New()
	for _, part := range []string{v.Model, v.Version, v.Digest} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	for _, sig := range v.Signatures {
		h.Write([]byte(sig.Signature))
		h.Write([]byte{0})
		h.Write([]byte(sig.Bundle))
		h.Write([]byte{0})
	}
	key := [32]byte(h.Sum(nil))
	if c, ok := s.signatureChecks.Load(key); ok {
		return c.(promote.SignatureCheck)
	}
	c := s.verifyAgain(v)
	s.signatureChecks.Store(key, c)
	return c
}

// SignatureNow verifies v's signature again with the keys trusted now, as
// the gate does, for a page that shows whether it still counts.
func (s *Service) SignatureNow(v promote.Version) promote.SignatureCheck {
	return s.checkSignatures(&v)
}

// withSignatureNow sets v.SignatureNow for a read's answer.
func (s *Service) withSignatureNow(v *promote.Version) {
	c := s.SignatureNow(*v)
	v.SignatureNow = &c
}

func (s *Service) verifyAgain(v *promote.Version) promote.SignatureCheck {
	not := func(format string, a ...any) promote.SignatureCheck {
		return promote.SignatureCheck{Note: fmt.Sprintf(format, a...)}
	}
	if len(v.Signatures) == 0 {
		return not("the version was registered without a signature")
	}
	hexPart, _ := strings.CutPrefix(v.Digest, "sha256:")
	b, err := hex.DecodeString(hexPart)
	if err != nil || len(b) != 32 || !strings.HasPrefix(v.Digest, "sha256:") {
		return not("the version's digest %q is not a SHA-256 digest, so its signature cannot be verified", v.Digest)
	}
	digest := [32]byte(b)
	var registeredWith []string
	for _, sig := range v.Signatures {
		if sig.Verified && sig.KeyID != "" {
			registeredWith = append(registeredWith, sig.KeyID)
		}
		for _, k := range s.cfg.TrustedKeys {
			var err error
			if sig.Bundle != "" {
				err = signature.VerifyBundle(k.Key, digest, []byte(sig.Bundle))
			} else {
				err = signature.Verify(k.Key, digest, []byte(sig.Signature))
			}
			if err == nil {
				return promote.SignatureCheck{Trusted: true, KeyID: k.ID, Note: fmt.Sprintf("signature over %s verified with trusted key %s", v.Digest, k.ID)}
			}
		}
	}
	trusted := "it trusts no keys"
	if len(s.cfg.TrustedKeys) > 0 {
		ids := make([]string, len(s.cfg.TrustedKeys))
		for i, k := range s.cfg.TrustedKeys {
			ids[i] = k.ID
		}
		trusted = "it trusts " + strings.Join(ids, ", ")
	}
	if len(registeredWith) > 0 {
		return not("the signature over %s verified at registration with key %s, which the pipeline no longer trusts (trustedKeys in %s: %s)",
			v.Digest, strings.Join(registeredWith, ", "), s.pipelineFile(), trusted)
	}
	return not("the signature over %s verifies with none of the pipeline's trusted keys (trustedKeys in %s: %s)", v.Digest, s.pipelineFile(), trusted)
}

// Version returns one version, with SignatureNow set.
func (s *Service) Version(ctx context.Context, model, version string) (promote.Version, error) {
	var out promote.Version
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Version(model, version)
		return err
	})
	if err == nil {
		s.withSignatureNow(&out)
	}
	return out, err
}

// Versions lists the versions of f.Model that f selects, newest first, a
// page at a time (promote.VersionFilter), with SignatureNow set.
func (s *Service) Versions(ctx context.Context, f promote.VersionFilter) ([]promote.Version, error) {
	var out []promote.Version
	err := s.store.View(ctx, func(tx promote.Tx) (err error) {
		out, err = tx.Versions(f)
		return err
	})
	for i := range out {
		s.withSignatureNow(&out[i])
	}
	return out, err
}

// RejectVersion rejects a version for good: it is put on hold in every
// environment and its queued promotions are cancelled.
func (s *Service) RejectVersion(ctx context.Context, who promote.Principal, model, version, reason string) (promote.Version, error) {
	if err := Authorize(who, promote.RoleApprover, "rejecting a version"); err != nil {
		return promote.Version{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return promote.Version{}, promote.Errorf(promote.Invalid, "a rejection needs a reason")
	}
	if err := checkText("the reason", reason, maxReasonLen); err != nil {
		return promote.Version{}, err
	}
	var v promote.Version
	err := s.updateAs(ctx, who, func(tx promote.Tx) error {
		now := s.clock()
		var err error
		if v, err = tx.Version(model, version); err != nil {
			return err
		}
		if v.Rejected {
			return promote.Errorf(promote.Conflict, "version %s of %s was already rejected by %s", version, model, v.RejectedBy)
		}
		if err := tx.RejectVersion(model, version, who.Name, reason, now); err != nil {
			return err
		}
		if err := audit(tx, promote.AuditEvent{Time: now, Actor: who.Name, Action: promote.ActionVersionRejected, Model: model,
			Version: version, Digest: v.Digest, Decision: "rejected", Reasons: reasonsJSON(reason)}); err != nil {
			return err
		}
		queued, err := tx.Promotions(promote.PromotionFilter{Model: model, Version: version, ActiveOnly: true})
		if err != nil {
			return err
		}
		for _, p := range queued {
			if p.State.Queued() {
				if err := s.transition(tx, &p, promote.EventCancelled, "version rejected by "+who.Name+": "+reason, who.Name, now, nil); err != nil {
					return err
				}
			}
		}
		for _, env := range s.cfg.Pipeline.Names() {
			if _, err := s.addHold(tx, promote.Hold{Model: model, Version: version, Environment: env,
				Reason: "version rejected by " + who.Name + ": " + reason, SetBy: who.Name, SetAt: now}); err != nil {
				return err
			}
		}
		v, err = tx.Version(model, version)
		return err
	})
	return v, err
}

// pipelineFile names the pipeline file for messages: its base name as
// loaded, promote.yaml when it was not loaded from a file.
func (s *Service) pipelineFile() string {
	if s.cfg.Pipeline == nil || s.cfg.Pipeline.File == "" {
		return "promote.yaml"
	}
	return filepath.Base(s.cfg.Pipeline.File)
}
