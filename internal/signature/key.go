package signature

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types of the key files promote reads and writes.
const (
	pemPublicKey  = "PUBLIC KEY"  // PKIX, what cosign writes to cosign.pub
	pemPrivateKey = "PRIVATE KEY" // PKCS #8
	pemECPrivate  = "EC PRIVATE KEY"
	// cosign's password-protected private key, see encrypted.go.
	pemSigstoreEncrypted = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// The label cosign wrote before v2.
	pemCosignEncrypted = "ENCRYPTED COSIGN PRIVATE KEY"
)

// ErrEncryptedKey reports a private key in cosign's password-protected format
// given to ParsePrivateKey; use ParseEncryptedPrivateKey with its password.
var ErrEncryptedKey = errors.New("private key is encrypted: a password is needed")

// GenerateKey returns a new ECDSA P-256 private key, the kind
// cosign generate-key-pair creates.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

// EncodePrivateKey returns key as an unencrypted PEM "PRIVATE KEY" block
// (PKCS #8). cosign import-key-pair accepts it; EncryptPrivateKey writes the
// password-protected form that cosign sign-blob reads directly.
func EncodePrivateKey(key *ecdsa.PrivateKey) ([]byte, error) {
	if err := checkPrivateKey(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// EncodePublicKey returns pub as a PEM "PUBLIC KEY" block (PKIX), the format
// of cosign.pub and of `cosign verify-blob --key`.
func EncodePublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := marshalPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// KeyHint returns the base64 (standard encoding) of the SHA-256 of the DER
// (PKIX) public key. It names a key in a bundle's publicKey.hint, as the
// Sigstore clients do; it is informative and never used for trust.
func KeyHint(pub *ecdsa.PublicKey) (string, error) {
	sum, err := keySum(pub)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// KeyDigest returns "sha256:" and the hex SHA-256 of the public key's
// PKIX DER encoding: a name for the key itself, not the file it was read
// from, which anyone holding the key can recompute
// (openssl pkey -pubin -in cosign.pub -outform DER | sha256sum).
func KeyDigest(pub *ecdsa.PublicKey) (string, error) {
	sum, err := keySum(pub)
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// keySum is the SHA-256 of the public key's PKIX DER encoding, which
// KeyHint and KeyDigest write out each in its own form.
func keySum(pub *ecdsa.PublicKey) ([32]byte, error) {
	der, err := marshalPublicKey(pub)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(der), nil
}

func marshalPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return der, nil
}

// ParsePublicKey reads a PEM "PUBLIC KEY" block (PKIX), such as cosign.pub,
// and returns the ECDSA P-256 key in it. Anything else is an error that says
// what was found instead: not PEM, a private key, a certificate, an RSA or
// Ed25519 key, another curve.
func ParsePublicKey(pemBytes []byte) (*ecdsa.PublicKey, error) {
	block, err := decodeOnePEM(pemBytes, "-----BEGIN PUBLIC KEY-----")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case pemPublicKey:
	case pemPrivateKey, pemECPrivate, pemSigstoreEncrypted, pemCosignEncrypted, "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, malformedf("found a private key (PEM %q) where a public key is needed: give the .pub file", block.Type)
	case "CERTIFICATE":
		return nil, malformedf("found a certificate, not a public key: trust comes from a key; extract it with `openssl x509 -pubkey -noout -in FILE`")
	case "RSA PUBLIC KEY":
		return nil, malformedf("found an RSA public key: promote needs an ECDSA P-256 key")
	default:
		return nil, malformedf("found PEM %q, want %q", block.Type, pemPublicKey)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, &malformedError{msg: "parse PKIX public key", err: err}
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if err := checkPublicKey(k); err != nil {
			return nil, err
		}
		return k, nil
	default:
		return nil, malformedf("found %s public key: promote needs an ECDSA P-256 key", keyKind(key))
	}
}

// ParsePrivateKey reads an unencrypted PEM private key, PKCS #8
// ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"), and returns the ECDSA P-256
// key in it. A key in cosign's password-protected format gives an error
// wrapping ErrEncryptedKey: use ParseEncryptedPrivateKey.
func ParsePrivateKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	block, err := decodeOnePEM(pemBytes, "-----BEGIN PRIVATE KEY-----")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case pemPrivateKey, pemECPrivate:
		return parsePrivateDER(block.Bytes)
	case pemSigstoreEncrypted, pemCosignEncrypted:
		return nil, fmt.Errorf("%w (PEM %q, cosign's format)", ErrEncryptedKey, block.Type)
	}
	return nil, unsupportedPrivatePEM(block.Type)
}

func unsupportedPrivatePEM(typ string) error {
	switch typ {
	case pemPublicKey:
		return malformedf("found a public key where a private key is needed: give the .key file")
	case "ENCRYPTED PRIVATE KEY":
		return malformedf("found an encrypted PKCS #8 key, which promote does not read: decrypt it with `openssl pkcs8 -in KEY -out PLAIN.key` or use cosign's encrypted format")
	case "RSA PRIVATE KEY":
		return malformedf("found an RSA private key: promote needs an ECDSA P-256 key")
	case "OPENSSH PRIVATE KEY":
		return malformedf("found an OpenSSH private key: promote needs an ECDSA P-256 key in PEM (PKCS #8)")
	}
	return malformedf("found PEM %q, want %q", typ, pemPrivateKey)
}

// parsePrivateDER reads a PKCS #8 or SEC 1 DER private key.
func parsePrivateDER(der []byte) (*ecdsa.PrivateKey, error) {
	var key any
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		ec, ecErr := x509.ParseECPrivateKey(der)
		if ecErr != nil {
			return nil, &malformedError{msg: "parse private key (neither PKCS #8 nor SEC 1)", err: err}
		}
		key = ec
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if err := checkPrivateKey(k); err != nil {
			return nil, err
		}
		return k, nil
	default:
		return nil, malformedf("found %s private key: promote needs an ECDSA P-256 key", keyKind(key))
	}
}

// decodeOnePEM returns the single PEM block in data. Text around it is
// allowed, as in files that carry a comment; a second block is not, because
// which key was meant would be a guess.
func decodeOnePEM(data []byte, want string) (*pem.Block, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, malformedf("key is empty")
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, malformedf("key is not PEM: no %s line", want)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, malformedf("key file holds more than one PEM block (%q, then %q)", block.Type, next.Type)
	}
	return block, nil
}

// keyKind names the algorithm of a key for error messages.
func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "an RSA"
	case ed25519.PublicKey, ed25519.PrivateKey, *ed25519.PrivateKey:
		return "an Ed25519"
	case *ecdh.PublicKey, *ecdh.PrivateKey:
		return "an ECDH (X25519)"
	case *ecdsa.PublicKey:
		return "an ECDSA " + curveName(k.Curve)
	default:
		return fmt.Sprintf("a %T", key)
	}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown-curve"
	}
	return c.Params().Name
}

func checkPublicKey(pub *ecdsa.PublicKey) error {
	if pub == nil {
		return errors.New("public key is nil")
	}
	if pub.Curve != elliptic.P256() {
		return malformedf("found an ECDSA %s key: promote needs P-256", curveName(pub.Curve))
	}
	return nil
}

func checkPrivateKey(key *ecdsa.PrivateKey) error {
	if key == nil {
		return errors.New("private key is nil")
	}
	return checkPublicKey(&key.PublicKey)
}
