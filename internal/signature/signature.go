// Package signature signs and verifies model artifacts in the formats that
// cosign uses for blobs, so that keys, signatures and bundles move freely
// between promote and cosign.
//
// Keys are ECDSA P-256. A signature is the ASN.1 DER ECDSA signature over the
// SHA-256 digest of the artifact, stored base64-encoded: what
// `cosign sign-blob --key KEY --output-signature FILE` writes and
// `cosign verify-blob --key KEY.pub --signature FILE` reads. A bundle is the
// Sigstore bundle (see VerifyBundle) that `cosign sign-blob --bundle` writes.
//
// Trust comes only from the public key the caller supplies. Certificates,
// transparency-log entries and timestamps that a bundle may carry are accepted
// but not checked: verification here is offline and key-based.
package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrMismatch reports a well-formed signature or bundle that does not verify
// for the given artifact and key: the artifact was changed, or it was signed
// with another key. Callers tell it apart from malformed input with errors.Is.
var ErrMismatch = errors.New("signature does not verify")

// ErrMalformed reports a signature, bundle or key that cannot be read at all:
// empty, not base64, not DER, not JSON, a missing field.
var ErrMalformed = errors.New("malformed input")

// malformedf returns an error that wraps ErrMalformed with a message saying
// what is wrong.
func malformedf(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// malformedError is an error about unreadable input; it matches ErrMalformed.
type malformedError struct {
	msg string
	err error
}

func (e *malformedError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *malformedError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrMalformed, e.err}
	}
	return []error{ErrMalformed}
}

// Sign signs digest, the SHA-256 of an artifact, with key and returns the
// base64 (standard encoding, padded) of the ASN.1 DER ECDSA signature: the
// bytes cosign sign-blob writes with --output-signature.
func Sign(key *ecdsa.PrivateKey, digest [32]byte) ([]byte, error) {
	if err := checkPrivateKey(key); err != nil {
		return nil, err
	}
	der, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(der)))
	base64.StdEncoding.Encode(out, der)
	return out, nil
}

// Verify checks sigFile, a signature file as read from disk, against the
// SHA-256 digest of an artifact and the public key pub.
//
// sigFile normally holds base64 text; surrounding whitespace is ignored. A raw
// DER signature (what cosign sign-blob writes with --b64=false) is accepted
// too. An error wrapping ErrMalformed says what is wrong with unreadable
// input; an error wrapping ErrMismatch means the signature is well formed but
// was not made by this key over this artifact.
func Verify(pub *ecdsa.PublicKey, digest [32]byte, sigFile []byte) error {
	if err := checkPublicKey(pub); err != nil {
		return err
	}
	der, err := decodeSignatureFile(sigFile)
	if err != nil {
		return err
	}
	return verifyDER(pub, digest, der)
}

// EncodeFile returns the signature in sigFile, a signature file in either
// form Verify reads (base64 text, or the raw DER that cosign sign-blob
// --b64=false writes), as base64 text: the form that survives being sent as
// a JSON string, which binary DER does not. An error wrapping ErrMalformed
// says what is wrong with unreadable input.
func EncodeFile(sigFile []byte) ([]byte, error) {
	der, err := decodeSignatureFile(sigFile)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.AppendEncode(nil, der), nil
}

// decodeSignatureFile turns the content of a signature file into DER bytes.
func decodeSignatureFile(sigFile []byte) ([]byte, error) {
	text := bytes.TrimSpace(sigFile)
	if len(text) == 0 {
		return nil, malformedf("signature is empty")
	}
	der, b64err := base64.StdEncoding.AppendDecode(nil, text)
	if b64err == nil {
		if _, _, err := parseDER(der); err != nil {
			return nil, &malformedError{msg: "signature is base64 but not an ASN.1 DER ECDSA signature", err: err}
		}
		return der, nil
	}
	// cosign sign-blob --b64=false writes the DER bytes themselves. Those are
	// binary, so they are taken as read, without trimming.
	if len(sigFile) > 0 && sigFile[0] == 0x30 {
		if _, _, err := parseDER(sigFile); err == nil {
			return sigFile, nil
		}
	}
	return nil, &malformedError{msg: "signature is not base64 (nor a raw DER ECDSA signature)", err: b64err}
}

// verifyDER verifies a DER signature that is known to parse.
func verifyDER(pub *ecdsa.PublicKey, digest [32]byte, der []byte) error {
	r, s, err := parseDER(der)
	if err != nil {
		return &malformedError{msg: "signature is not an ASN.1 DER ECDSA signature", err: err}
	}
	n := elliptic.P256().Params().N
	if r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
		return malformedf("signature is not a P-256 signature: a value exceeds the curve order")
	}
	if !ecdsa.VerifyASN1(pub, digest[:], der) {
		return fmt.Errorf("%w: it was not made over this artifact with this key (the artifact changed, or another key signed it)", ErrMismatch)
	}
	return nil
}

// parseDER reads SEQUENCE { r INTEGER, s INTEGER } in strict DER, the form
// crypto/ecdsa and cosign produce, with nothing after it.
func parseDER(der []byte) (r, s *big.Int, err error) {
	var inner cryptobyte.String
	input := cryptobyte.String(der)
	r, s = new(big.Int), new(big.Int)
	if !input.ReadASN1(&inner, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("no DER SEQUENCE")
	}
	if !input.Empty() {
		return nil, nil, fmt.Errorf("%d trailing bytes after the signature", len(input))
	}
	if !inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() {
		return nil, nil, errors.New("the SEQUENCE does not hold exactly two INTEGERs r and s")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 {
		return nil, nil, errors.New("r and s must be positive")
	}
	return r, s, nil
}
