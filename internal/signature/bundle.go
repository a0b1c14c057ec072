package signature

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A Sigstore bundle is the protobuf message dev.sigstore.bundle.v1.Bundle
// (github.com/sigstore/protobuf-specs, protos/sigstore_bundle.proto and
// sigstore_common.proto) in protobuf JSON, as cosign sign-blob --bundle
// writes it:
//
//	{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
//	 "verificationMaterial": {"publicKey": {"hint": "<base64>"},
//	                          "tlogEntries": [...]},
//	 "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": "<base64>"},
//	                      "signature": "<base64 DER ECDSA>"}}
//
// verificationMaterial holds a publicKey hint, a certificate (v0.3) or an
// x509CertificateChain (v0.1, v0.2), and optionally tlogEntries and
// timestampVerificationData. promote accepts all of these but checks none:
// trust comes from the public key given to VerifyBundle, and
// transparency-log entries, certificates and timestamps are not verified
// offline. A bundle holding a dsseEnvelope instead of a messageSignature is an
// attestation (cosign attest-blob), not a blob signature, and is refused.
//
// cosign's older bundle format, {"base64Signature": ...} without a mediaType,
// is read too (see verifyLegacyBundle).

// BundleMediaType is the media type of the bundles NewBundle writes.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// bundleMediaTypes are the media types VerifyBundle reads: v0.3 in both of
// its spellings, and v0.1 and v0.2, whose messageSignature is the same.
var bundleMediaTypes = map[string]bool{
	BundleMediaType: true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.2": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.1": true,
}

// hashSHA256 is dev.sigstore.common.v1.HashAlgorithm SHA2_256, by name and by
// number (protobuf JSON allows both).
const (
	hashSHA256       = "SHA2_256"
	hashSHA256Number = "1"
)

// The JSON written by NewBundle. Field order follows the protobuf field
// numbers, as protojson writes them.
type bundleOut struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial verificationMaterial `json:"verificationMaterial"`
	MessageSignature     messageSignature     `json:"messageSignature"`
}

type verificationMaterial struct {
	PublicKey publicKeyIdentifier `json:"publicKey"`
}

type publicKeyIdentifier struct {
	Hint string `json:"hint"`
}

type messageSignature struct {
	MessageDigest hashOutput `json:"messageDigest"`
	Signature     string     `json:"signature"`
}

type hashOutput struct {
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// NewBundle signs digest, the SHA-256 of an artifact, with key and returns a
// Sigstore bundle (v0.3) holding the signature, the digest and a hint naming
// the key. It carries no transparency-log entry: cosign verifies it with
// `cosign verify-blob --key KEY.pub --bundle FILE --insecure-ignore-tlog`.
func NewBundle(key *ecdsa.PrivateKey, digest [32]byte) ([]byte, error) {
	sig, err := Sign(key, digest)
	if err != nil {
		return nil, err
	}
	return EncodeBundle(&key.PublicKey, digest, sig)
}

// EncodeBundle returns a Sigstore bundle (v0.3) for sig, a signature as Sign
// returns it, over digest by the key pub. It lets one signature go both to a
// signature file and to a bundle. The signature is not checked here.
func EncodeBundle(pub *ecdsa.PublicKey, digest [32]byte, sig []byte) ([]byte, error) {
	hint, err := KeyHint(pub)
	if err != nil {
		return nil, err
	}
	b := bundleOut{
		MediaType:            BundleMediaType,
		VerificationMaterial: verificationMaterial{PublicKey: publicKeyIdentifier{Hint: hint}},
		MessageSignature: messageSignature{
			MessageDigest: hashOutput{Algorithm: hashSHA256, Digest: base64.StdEncoding.EncodeToString(digest[:])},
			Signature:     string(bytes.TrimSpace(sig)),
		},
	}
	out, err := json.Marshal(&b)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return out, nil
}

// VerifyBundle checks a Sigstore bundle, as cosign sign-blob --bundle writes
// it, against the SHA-256 digest of an artifact and the public key pub.
//
// It reads the media type (v0.1 to v0.3), refuses DSSE envelopes, checks that
// the bundle's messageDigest is SHA2_256 and equals digest, and verifies the
// signature with pub. cosign's older bundle format ({"base64Signature": ...},
// no mediaType) is verified by its signature alone. An error wrapping ErrMalformed names the field that is
// wrong; an error wrapping ErrMismatch means the bundle is for another
// artifact or was not signed by this key.
func VerifyBundle(pub *ecdsa.PublicKey, digest [32]byte, bundleJSON []byte) error {
	if err := checkPublicKey(pub); err != nil {
		return err
	}
	if len(bytes.TrimSpace(bundleJSON)) == 0 {
		return malformedf("bundle is empty")
	}
	root, err := decodeObject(bundleJSON, "bundle")
	if err != nil {
		return err
	}

	mediaType, err := stringField(root, "bundle", "mediaType", "media_type")
	if err != nil {
		return err
	}
	if mediaType == "" {
		if _, legacy := root["base64Signature"]; legacy {
			return verifyLegacyBundle(pub, digest, root)
		}
		return malformedf("bundle: mediaType is missing: not a Sigstore bundle")
	}
	if !bundleMediaTypes[mediaType] {
		return malformedf("bundle: unknown mediaType %q (promote reads Sigstore bundles v0.1 to v0.3)", mediaType)
	}

	if _, ok, err := field(root, "bundle", "dsseEnvelope", "dsse_envelope"); err != nil {
		return err
	} else if ok {
		return malformedf("bundle holds a dsseEnvelope: it is an attestation (cosign attest-blob), not a blob signature; sign the artifact with `promote sign` or `cosign sign-blob`")
	}

	material, err := checkVerificationMaterial(root)
	if err != nil {
		return err
	}

	msRaw, ok, err := field(root, "bundle", "messageSignature", "message_signature")
	if err != nil {
		return err
	}
	if !ok {
		return malformedf("bundle: messageSignature is missing")
	}
	ms, err := decodeObject(msRaw, "messageSignature")
	if err != nil {
		return err
	}

	// Decode everything before comparing anything, so that a malformed
	// bundle is reported as such and not as a mismatch.
	sigText, err := stringField(ms, "messageSignature", "signature")
	if err != nil {
		return err
	}
	if sigText == "" {
		return malformedf("bundle: messageSignature.signature is missing")
	}
	der, err := decodeProtoBytes(sigText)
	if err != nil {
		return &malformedError{msg: "bundle: messageSignature.signature is not base64", err: err}
	}
	if _, _, err := parseDER(der); err != nil {
		return &malformedError{msg: "bundle: messageSignature.signature is not an ASN.1 DER ECDSA signature", err: err}
	}

	bundleDigest, hasDigest, err := messageDigest(ms)
	if err != nil {
		return err
	}
	if hasDigest && bundleDigest != digest {
		return fmt.Errorf("%w: the bundle is for another artifact: its messageDigest is sha256:%s, the artifact's is sha256:%s",
			ErrMismatch, hex.EncodeToString(bundleDigest[:]), hex.EncodeToString(digest[:]))
	}
	// The signature is checked against the artifact's own digest: the
	// messageDigest only names the artifact, as the specification says.
	err = verifyDER(pub, digest, der)
	if errors.Is(err, ErrMismatch) && (material == "certificate" || material == "x509CertificateChain") {
		// A keyless bundle (cosign sign-blob without --key) is signed by
		// a short-lived key that its certificate names: it verifies with
		// no key one trusts, and saying only "another key signed it"
		// would hide why.
		return fmt.Errorf("%w; the bundle carries a signing certificate (%s, keyless signing): promote checks neither certificates nor transparency-log entries, and trusts only the public keys it is given, so sign with a key (`promote sign`, `cosign sign-blob --key`)", err, material)
	}
	return err
}

// verifyLegacyBundle verifies cosign's own bundle format, which
// cosign sign-blob --bundle wrote before Sigstore bundles (cosign v2, and v3
// with --new-bundle-format=false): {"base64Signature": "...", "cert": "...",
// "rekorBundle": {...}}. It holds no digest, only the signature; the
// certificate and log entry are accepted but not checked.
func verifyLegacyBundle(pub *ecdsa.PublicKey, digest [32]byte, root map[string]json.RawMessage) error {
	sigText, err := stringField(root, "bundle", "base64Signature")
	if err != nil {
		return err
	}
	if sigText == "" {
		return malformedf("bundle: base64Signature is empty")
	}
	der, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return &malformedError{msg: "bundle: base64Signature is not base64", err: err}
	}
	if _, _, err := parseDER(der); err != nil {
		return &malformedError{msg: "bundle: base64Signature is not an ASN.1 DER ECDSA signature", err: err}
	}
	return verifyDER(pub, digest, der)
}

// checkVerificationMaterial checks that verificationMaterial is present and
// has the shape of the specification, and returns which kind of material it
// holds: "publicKey", "certificate", "x509CertificateChain", or "" for none.
// Its content is not trusted.
func checkVerificationMaterial(root map[string]json.RawMessage) (string, error) {
	raw, ok, err := field(root, "bundle", "verificationMaterial", "verification_material")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", malformedf("bundle: verificationMaterial is missing")
	}
	vm, err := decodeObject(raw, "verificationMaterial")
	if err != nil {
		return "", err
	}
	kinds, kind := 0, ""
	for _, names := range [][]string{
		{"publicKey", "public_key"},
		{"certificate"},
		{"x509CertificateChain", "x509_certificate_chain"},
	} {
		raw, ok, err := field(vm, "verificationMaterial", names...)
		if err != nil {
			return "", err
		}
		if ok {
			kinds, kind = kinds+1, names[0]
			if _, err := decodeObject(raw, "verificationMaterial."+names[0]); err != nil {
				return "", err
			}
		}
	}
	if kinds > 1 {
		return "", malformedf("bundle: verificationMaterial holds more than one of publicKey, certificate and x509CertificateChain")
	}
	if raw, ok, err := field(vm, "verificationMaterial", "tlogEntries", "tlog_entries"); err != nil {
		return "", err
	} else if ok {
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return "", &malformedError{msg: "bundle: verificationMaterial.tlogEntries is not a JSON array", err: err}
		}
	}
	return kind, nil
}

// messageDigest reads messageSignature.messageDigest. It reports ok false
// when the bundle has none; the signature still binds the artifact then.
func messageDigest(ms map[string]json.RawMessage) (sum [32]byte, ok bool, err error) {
	raw, ok, err := field(ms, "messageSignature", "messageDigest", "message_digest")
	if err != nil || !ok {
		return sum, false, err
	}
	md, err := decodeObject(raw, "messageSignature.messageDigest")
	if err != nil {
		return sum, false, err
	}
	algRaw, hasAlg, err := field(md, "messageSignature.messageDigest", "algorithm")
	if err != nil {
		return sum, false, err
	}
	if !hasAlg {
		return sum, false, malformedf("bundle: messageSignature.messageDigest.algorithm is missing")
	}
	// An enum is its name as a string, or its number.
	alg := string(bytes.TrimSpace(algRaw))
	if strings.HasPrefix(alg, `"`) {
		if err := json.Unmarshal(algRaw, &alg); err != nil {
			return sum, false, malformedf("bundle: messageSignature.messageDigest.algorithm is not a JSON string")
		}
	}
	if alg != hashSHA256 && alg != hashSHA256Number {
		return sum, false, malformedf("bundle: messageSignature.messageDigest.algorithm is %q, want %q (cosign signs blobs with SHA-256)", alg, hashSHA256)
	}
	text, err := stringField(md, "messageSignature.messageDigest", "digest")
	if err != nil {
		return sum, false, err
	}
	if text == "" {
		return sum, false, malformedf("bundle: messageSignature.messageDigest.digest is missing")
	}
	b, err := decodeProtoBytes(text)
	if err != nil {
		return sum, false, &malformedError{msg: "bundle: messageSignature.messageDigest.digest is not base64", err: err}
	}
	if len(b) != len(sum) {
		return sum, false, malformedf("bundle: messageSignature.messageDigest.digest is %d bytes, a SHA-256 is %d", len(b), len(sum))
	}
	copy(sum[:], b)
	return sum, true, nil
}

// decodeProtoBytes decodes a protobuf JSON bytes field, which may use the
// standard or URL-safe base64 alphabet, padded or not.
func decodeProtoBytes(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

// decodeObject reads a JSON object into its fields. Duplicate names are an
// error: two verifiers must never read two different values from one bundle.
func decodeObject(data []byte, path string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, &malformedError{msg: path + " is not valid JSON", err: err}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, malformedf("%s is not a JSON object", path)
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &malformedError{msg: path + " is not valid JSON", err: err}
		}
		name, ok := tok.(string)
		if !ok {
			return nil, malformedf("%s is not valid JSON", path)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, &malformedError{msg: fmt.Sprintf("%s.%s is not valid JSON", path, name), err: err}
		}
		if _, dup := fields[name]; dup {
			return nil, malformedf("%s: field %q appears twice", path, name)
		}
		fields[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, &malformedError{msg: path + " is not valid JSON", err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, malformedf("%s: unexpected data after the JSON object", path)
	}
	return fields, nil
}

// field returns the value of the field spelt in any of names (protobuf JSON
// accepts the lowerCamelCase name and the original proto name). A JSON null
// counts as absent, as in protobuf JSON.
func field(obj map[string]json.RawMessage, path string, names ...string) (json.RawMessage, bool, error) {
	var found json.RawMessage
	var foundName string
	for _, n := range names {
		v, ok := obj[n]
		if !ok {
			continue
		}
		if found != nil {
			return nil, false, malformedf("%s: field %q appears twice (as %q and %q)", path, names[0], foundName, n)
		}
		found, foundName = v, n
	}
	if found == nil || string(bytes.TrimSpace(found)) == "null" {
		return nil, false, nil
	}
	return found, true, nil
}

// stringField returns a string field, "" when absent.
func stringField(obj map[string]json.RawMessage, path string, names ...string) (string, error) {
	raw, ok, err := field(obj, path, names...)
	if err != nil || !ok {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformedf("%s.%s is not a JSON string", path, names[0])
	}
	return s, nil
}
