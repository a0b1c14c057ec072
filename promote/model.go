package promote

import (
	"strings"
	"time"
)

// Model is a registered model: the thing whose versions are promoted.
type Model struct {
	// Seq is the model's place in the store's order of registration: the
	// cursor that ModelFilter's BeforeSeq and AfterSeq (the API's before
	// and after) page by. Set when the store returns a model; never taken
	// from a request.
	Seq         int64     `json:"seq,omitempty"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// Lineage records where a version came from.
type Lineage struct {
	DatasetDigest   string `json:"dataset_digest,omitempty"`
	CodeCommit      string `json:"code_commit,omitempty"`
	TrainingRun     string `json:"training_run,omitempty"`
	BaseImageDigest string `json:"base_image_digest,omitempty"`
}

// Signature is a signature over a version's artifact as registered, and
// whether it verified against one of the pipeline's trusted keys.
type Signature struct {
	// Signature is the base64 signature (cosign sign-blob), or Bundle a
	// sigstore bundle; one of the two.
	Signature string `json:"signature,omitempty"`
	Bundle    string `json:"bundle,omitempty"`
	Verified  bool   `json:"verified"`
	// KeyID names the trusted key it verified with (its file name or hint).
	KeyID string `json:"key_id,omitempty"`
	Note  string `json:"note,omitempty"` // why it did not verify
}

// Version is one registered version of a model with its evidence.
type Version struct {
	// Seq is the version's place in the store's order of registration,
	// across models: the cursor that VersionFilter's BeforeSeq and AfterSeq
	// (the API's before and after) page by. Set when the store returns a
	// version; never taken from a request.
	Seq         int64                         `json:"seq,omitempty"`
	Model       string                        `json:"model"`
	Version     string                        `json:"version"`
	ArtifactURI string                        `json:"artifact_uri"`
	Digest      string                        `json:"digest"` // sha256:<64 hex>
	Size        int64                         `json:"size"`
	Signatures  []Signature                   `json:"signatures,omitempty"`
	Metrics     map[string]float64            `json:"metrics"`
	Checks      map[string]bool               `json:"checks,omitempty"`
	Groups      map[string]map[string]float64 `json:"groups,omitempty"`
	Lineage     Lineage                       `json:"lineage"`
	CreatedBy   string                        `json:"created_by"`
	CreatedAt   time.Time                     `json:"created_at"`
	// Rejected versions are never promoted again.
	Rejected     bool       `json:"rejected,omitempty"`
	RejectedBy   string     `json:"rejected_by,omitempty"`
	RejectedAt   *time.Time `json:"rejected_at,omitempty"`
	RejectReason string     `json:"reject_reason,omitempty"`
	// SignatureNow says whether the signature verifies now, with the keys
	// the server trusts now: a key taken out of trustedKeys since the
	// registration no longer vouches for the version, which its Signatures
	// still record as verified then. Set when the registry answers a read;
	// never stored.
	SignatureNow *SignatureCheck `json:"signature_now,omitempty"`
}

// SignatureCheck is the outcome of verifying a version's signature again.
type SignatureCheck struct {
	Trusted bool `json:"trusted"`
	// KeyID names the trusted key that verified it, when one did: the
	// key's name now, which may differ from the registration's.
	KeyID string `json:"key_id,omitempty"`
	// Note names the key that verified it, or says why none did.
	Note string `json:"note"`
}

// Signed reports whether a signature of v verified against a trusted key.
func (v *Version) Signed() bool {
	for _, s := range v.Signatures {
		if s.Verified {
			return true
		}
	}
	return false
}

// Live records that a version became the live one of a model in an
// environment (the environment's alias), by which promotion.
type Live struct {
	Model       string    `json:"model"`
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	PromotionID string    `json:"promotion_id,omitempty"`
	SetBy       string    `json:"set_by"`
	SetAt       time.Time `json:"set_at"`
	Reason      string    `json:"reason,omitempty"` // promoted, rolled back, …
	// RollbackOf is the version a rollback replaced; empty for a promotion.
	RollbackOf string `json:"rollback_of,omitempty"`
	// Commit is the GitOps commit that carries the change, once it is on
	// the deployed branch; empty until then, and always empty without
	// GitOps.
	Commit string `json:"commit,omitempty"`
	// CommitError is why the last attempt to commit the change failed,
	// while it waits for its commit (the remote refused the push or did not
	// answer, the overlay does not render); nil when the last attempt did
	// not fail, and once the commit lands. Only the current alias carries
	// it, never its history.
	CommitError *CommitError `json:"commit_error,omitempty"`
}

// CommitError is the last failure to commit a live change to the GitOps
// repository.
type CommitError struct {
	// Message is the error, as the reconciler logged it.
	Message string `json:"message"`
	// Since is when the attempts began to fail: the first failure since
	// the change was made or since an attempt last succeeded.
	Since time.Time `json:"since"`
}

// Deployment is what the registry wants an environment to run of a model:
// its live alias, the artifact pinned by digest, and what the GitOps commit
// that carries it records. It is pending until Live.Commit is set.
type Deployment struct {
	Live
	// Digest and URI are the live version's artifact.
	Digest string `json:"digest"`
	URI    string `json:"uri"`
	// ApprovedBy and Gate come from the promotion that set the alias: who
	// approved it, and the gate's verdict in a few words.
	ApprovedBy []string `json:"approved_by,omitempty"`
	Gate       string   `json:"gate,omitempty"`
}

// Pending reports whether the change is not yet on the deployed branch.
func (d Deployment) Pending() bool { return d.Commit == "" }

// MaxNameLen bounds model, version and environment names.
const MaxNameLen = 128

// ValidateName checks a model, version or environment name: 1 to
// MaxNameLen characters of letters, digits, '.', '_' and '-', starting with
// a letter or digit, so that it is safe in URLs, file paths and Git refs.
// what names the field in the error.
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return Errorf(Invalid, "%s is empty", what)
	case len(name) > MaxNameLen:
		return Errorf(Invalid, "%s is %d characters long; at most %d", what, len(name), MaxNameLen)
	case strings.Contains(name, ".."):
		return Errorf(Invalid, "%s %q contains \"..\"", what, name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return Errorf(Invalid, "%s %q: only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit", what, name)
		}
	}
	return nil
}
