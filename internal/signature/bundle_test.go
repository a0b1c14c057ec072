package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeBundleFormat(t *testing.T) {
	// The exact bytes: protobuf JSON field names and order, as cosign v3
	// writes a key-based blob bundle (less the transparency-log entry).
	key := testKey(t)
	digest := sha256.Sum256([]byte("abc"))
	got, err := EncodeBundle(&key.PublicKey, digest, []byte("MEUCIQ==\n"))
	if err != nil {
		t.Fatalf("EncodeBundle() error = %v", err)
	}
	hint, _ := KeyHint(&key.PublicKey)
	want := `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",` +
		`"verificationMaterial":{"publicKey":{"hint":"` + hint + `"}},` +
		`"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},` +
		`"signature":"MEUCIQ=="}}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("EncodeBundle() mismatch (-want +got):\n%s", diff)
	}
}

func TestNewBundleRoundTrip(t *testing.T) {
	key := newKey(t)
	digest := sha256.Sum256([]byte("model.onnx contents"))
	bundle, err := NewBundle(key, digest)
	if err != nil {
		t.Fatalf("NewBundle() error = %v", err)
	}
	if err := VerifyBundle(&key.PublicKey, digest, bundle); err != nil {
		t.Errorf("VerifyBundle(NewBundle()) = %v, want nil", err)
	}
	// The signature inside is a plain cosign signature too.
	var b struct {
		MessageSignature struct{ Signature string } `json:"messageSignature"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	if err := Verify(&key.PublicKey, digest, []byte(b.MessageSignature.Signature)); err != nil {
		t.Errorf("Verify(bundle's messageSignature.signature) = %v, want nil", err)
	}
}

// mutate returns the bundle JSON after change has edited its decoded form.
func mutate(t *testing.T, bundle []byte, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestVerifyBundle(t *testing.T) {
	key := testKey(t)
	other := newKey(t)
	digest := sha256.Sum256([]byte("artifact"))
	otherDigest := sha256.Sum256([]byte("another artifact"))
	good, err := NewBundle(key, digest)
	if err != nil {
		t.Fatal(err)
	}
	forOther, err := NewBundle(key, otherDigest)
	if err != nil {
		t.Fatal(err)
	}
	otherSig := obj(mutateMap(t, forOther), "messageSignature")["signature"]
	b64Digest := func(d [32]byte) string { return base64.StdEncoding.EncodeToString(d[:]) }
	ms := func(m map[string]any) map[string]any { return obj(m, "messageSignature") }
	md := func(m map[string]any) map[string]any { return obj(ms(m), "messageDigest") }
	vm := func(m map[string]any) map[string]any { return obj(m, "verificationMaterial") }

	tests := []struct {
		name    string
		pub     *ecdsa.PublicKey
		digest  [32]byte
		bundle  []byte
		want    error  // nil: verifies
		wantMsg string // part of the error
	}{
		{name: "as written", bundle: good},
		{name: "v0.1 media type", bundle: mutate(t, good, func(m map[string]any) {
			m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1"
			vm(m)["x509CertificateChain"] = map[string]any{"certificates": []any{}}
			delete(vm(m), "publicKey")
		})},
		{name: "v0.2 media type", bundle: mutate(t, good, func(m map[string]any) {
			m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"
		})},
		{name: "v0.3 media type, old spelling", bundle: mutate(t, good, func(m map[string]any) {
			m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.3"
		})},
		{name: "with tlog entries and timestamps (accepted, not checked)", bundle: mutate(t, good, func(m map[string]any) {
			vm(m)["tlogEntries"] = []any{map[string]any{"logIndex": "1", "kindVersion": map[string]any{"kind": "hashedrekord", "version": "0.0.1"}}}
			vm(m)["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{}}
		})},
		{name: "proto field names", bundle: []byte(strings.NewReplacer(
			`"mediaType"`, `"media_type"`, `"messageSignature"`, `"message_signature"`,
			`"messageDigest"`, `"message_digest"`, `"verificationMaterial"`, `"verification_material"`,
			`"publicKey"`, `"public_key"`).Replace(string(good)))},
		{name: "algorithm as enum number", bundle: mutate(t, good, func(m map[string]any) { md(m)["algorithm"] = 1 })},
		{name: "digest in unpadded URL-safe base64", bundle: mutate(t, good, func(m map[string]any) {
			md(m)["digest"] = base64.RawURLEncoding.EncodeToString(digest[:])
		})},
		{name: "no messageDigest (the signature still binds)", bundle: mutate(t, good, func(m map[string]any) { delete(ms(m), "messageDigest") })},
		{name: "null dsseEnvelope", bundle: mutate(t, good, func(m map[string]any) { m["dsseEnvelope"] = nil })},
		{name: "unknown fields ignored", bundle: mutate(t, good, func(m map[string]any) { m["extra"] = true })},

		{name: "tampered artifact", digest: otherDigest, bundle: good, want: ErrMismatch,
			wantMsg: "the bundle is for another artifact: its messageDigest is sha256:"},
		{name: "wrong key", pub: &other.PublicKey, bundle: good, want: ErrMismatch, wantMsg: "not made over this artifact with this key"},
		{name: "tampered digest", bundle: mutate(t, good, func(m map[string]any) { md(m)["digest"] = b64Digest(otherDigest) }),
			want: ErrMismatch, wantMsg: "the bundle is for another artifact"},
		{name: "tampered digest to match another artifact", digest: otherDigest,
			bundle: mutate(t, good, func(m map[string]any) { md(m)["digest"] = b64Digest(otherDigest) }),
			want:   ErrMismatch, wantMsg: "not made over this artifact with this key"},
		{name: "signature of another artifact", bundle: mutate(t, good, func(m map[string]any) { ms(m)["signature"] = otherSig }),
			want: ErrMismatch, wantMsg: "not made over this artifact with this key"},

		{name: "empty", bundle: []byte(" \n"), want: ErrMalformed, wantMsg: "bundle is empty"},
		{name: "not JSON", bundle: []byte("MEUCIQ=="), want: ErrMalformed, wantMsg: "bundle is not valid JSON"},
		{name: "JSON array", bundle: []byte("[]"), want: ErrMalformed, wantMsg: "bundle is not a JSON object"},
		{name: "truncated", bundle: good[:len(good)-1], want: ErrMalformed, wantMsg: "bundle is not valid JSON"},
		{name: "trailing data", bundle: append(bytes.Clone(good), "{}"...), want: ErrMalformed, wantMsg: "unexpected data after the JSON object"},
		{name: "no mediaType", bundle: mutate(t, good, func(m map[string]any) { delete(m, "mediaType") }),
			want: ErrMalformed, wantMsg: "mediaType is missing"},
		{name: "mediaType not a string", bundle: mutate(t, good, func(m map[string]any) { m["mediaType"] = 3 }),
			want: ErrMalformed, wantMsg: "bundle.mediaType is not a JSON string"},
		{name: "unknown mediaType", bundle: mutate(t, good, func(m map[string]any) { m["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.9+json" }),
			want: ErrMalformed, wantMsg: `unknown mediaType "application/vnd.dev.sigstore.bundle.v0.9+json"`},
		{name: "DSSE envelope", bundle: mutate(t, good, func(m map[string]any) {
			delete(m, "messageSignature")
			m["dsseEnvelope"] = map[string]any{"payload": "e30=", "payloadType": "application/vnd.in-toto+json"}
		}), want: ErrMalformed, wantMsg: "it is an attestation (cosign attest-blob), not a blob signature"},
		{name: "no messageSignature", bundle: mutate(t, good, func(m map[string]any) { delete(m, "messageSignature") }),
			want: ErrMalformed, wantMsg: "messageSignature is missing"},
		{name: "messageSignature not an object", bundle: mutate(t, good, func(m map[string]any) { m["messageSignature"] = "x" }),
			want: ErrMalformed, wantMsg: "messageSignature is not a JSON object"},
		{name: "no verificationMaterial", bundle: mutate(t, good, func(m map[string]any) { delete(m, "verificationMaterial") }),
			want: ErrMalformed, wantMsg: "verificationMaterial is missing"},
		{name: "two kinds of verification material", bundle: mutate(t, good, func(m map[string]any) {
			vm(m)["certificate"] = map[string]any{"rawBytes": "MAA="}
		}), want: ErrMalformed, wantMsg: "more than one of publicKey, certificate and x509CertificateChain"},
		{name: "publicKey not an object", bundle: mutate(t, good, func(m map[string]any) { vm(m)["publicKey"] = "k" }),
			want: ErrMalformed, wantMsg: "verificationMaterial.publicKey is not a JSON object"},
		{name: "tlogEntries not an array", bundle: mutate(t, good, func(m map[string]any) { vm(m)["tlogEntries"] = map[string]any{} }),
			want: ErrMalformed, wantMsg: "verificationMaterial.tlogEntries is not a JSON array"},
		{name: "no algorithm", bundle: mutate(t, good, func(m map[string]any) { delete(md(m), "algorithm") }),
			want: ErrMalformed, wantMsg: "messageDigest.algorithm is missing"},
		{name: "SHA-512", bundle: mutate(t, good, func(m map[string]any) { md(m)["algorithm"] = "SHA2_512" }),
			want: ErrMalformed, wantMsg: `messageDigest.algorithm is "SHA2_512", want "SHA2_256"`},
		{name: "no digest", bundle: mutate(t, good, func(m map[string]any) { delete(md(m), "digest") }),
			want: ErrMalformed, wantMsg: "messageDigest.digest is missing"},
		{name: "digest not base64", bundle: mutate(t, good, func(m map[string]any) { md(m)["digest"] = "not base64!" }),
			want: ErrMalformed, wantMsg: "messageDigest.digest is not base64"},
		{name: "digest too short", bundle: mutate(t, good, func(m map[string]any) { md(m)["digest"] = "AAAA" }),
			want: ErrMalformed, wantMsg: "messageDigest.digest is 3 bytes, a SHA-256 is 32"},
		{name: "no signature", bundle: mutate(t, good, func(m map[string]any) { delete(ms(m), "signature") }),
			want: ErrMalformed, wantMsg: "messageSignature.signature is missing"},
		{name: "signature not base64", bundle: mutate(t, good, func(m map[string]any) { ms(m)["signature"] = "%%%" }),
			want: ErrMalformed, wantMsg: "messageSignature.signature is not base64"},
		{name: "signature not DER", bundle: mutate(t, good, func(m map[string]any) { ms(m)["signature"] = "aGVsbG8=" }),
			want: ErrMalformed, wantMsg: "messageSignature.signature is not an ASN.1 DER ECDSA signature"},
		{name: "malformed signature is reported before a digest mismatch", digest: otherDigest,
			bundle: mutate(t, good, func(m map[string]any) { ms(m)["signature"] = "aGVsbG8=" }),
			want:   ErrMalformed, wantMsg: "not an ASN.1 DER ECDSA signature"},
		{name: "duplicate field", bundle: []byte(strings.Replace(string(good), `"mediaType":`, `"mediaType":"x","mediaType":`, 1)),
			want: ErrMalformed, wantMsg: `field "mediaType" appears twice`},
		{name: "same field in both spellings", bundle: []byte(strings.Replace(string(good), `"mediaType":`, `"media_type":"x","mediaType":`, 1)),
			want: ErrMalformed, wantMsg: `field "mediaType" appears twice (as "mediaType" and "media_type")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, d := &key.PublicKey, digest
			if tt.pub != nil {
				pub = tt.pub
			}
			if tt.digest != ([32]byte{}) {
				d = tt.digest
			}
			err := VerifyBundle(pub, d, tt.bundle)
			if tt.want == nil {
				if err != nil {
					t.Errorf("VerifyBundle() = %v, want nil", err)
				}
				return
			}
			checkErr(t, "VerifyBundle()", err, tt.want, tt.wantMsg)
		})
	}
}

func mutateMap(t *testing.T, bundle []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInteropSigstoreBundle verifies a bundle that the Sigstore tools made,
// not promote (see testdata/README.md), with the key from its certificate.
func TestInteropSigstoreBundle(t *testing.T) {
	artifact := readTestdata(t, "sigstore-python/new_bundle.txt")
	bundle := readTestdata(t, "sigstore-python/new_bundle.txt.sigstore.json")
	digest, size, err := Digest(bytes.NewReader(artifact))
	if err != nil || size != int64(len(artifact)) {
		t.Fatalf("Digest() = %d, %v", size, err)
	}

	var b struct {
		VerificationMaterial struct {
			Certificate struct{ RawBytes []byte } `json:"certificate"`
		} `json:"verificationMaterial"`
		MessageSignature struct{ Signature string } `json:"messageSignature"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(b.VerificationMaterial.Certificate.RawBytes)
	if err != nil {
		t.Fatalf("parse the bundle's certificate: %v", err)
	}
	pub := cert.PublicKey.(*ecdsa.PublicKey)

	if err := VerifyBundle(pub, digest, bundle); err != nil {
		t.Errorf("VerifyBundle(sigstore bundle) = %v, want nil", err)
	}
	// The bare signature, as cosign sign-blob --output-signature writes it.
	if err := Verify(pub, digest, []byte(b.MessageSignature.Signature+"\n")); err != nil {
		t.Errorf("Verify(sigstore signature) = %v, want nil", err)
	}

	tampered := append(bytes.Clone(artifact), '!')
	tamperedDigest, _, _ := Digest(bytes.NewReader(tampered))
	if err := VerifyBundle(pub, tamperedDigest, bundle); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyBundle(sigstore bundle, tampered artifact) = %v, want ErrMismatch", err)
	}
	if err := VerifyBundle(&testKey(t).PublicKey, digest, bundle); !errors.Is(err, ErrMismatch) {
		t.Errorf("VerifyBundle(sigstore bundle, another key) = %v, want ErrMismatch", err)
	}
}

// TestInteropCosignV3 checks files that cosign v3.1.3 wrote (see
// testdata/README.md): its key, its signature file, its Sigstore bundle and
// its older bundle format.
func TestInteropCosignV3(t *testing.T) {
	const dir = "cosign-v3/"
	pub, err := ParsePublicKey(readTestdata(t, dir+"cosign.pub"))
	if err != nil {
		t.Fatalf("ParsePublicKey(cosign.pub) = %v", err)
	}
	key, err := ParseEncryptedPrivateKey(readTestdata(t, dir+"cosign.key"), []byte("promote-interop"))
	if err != nil {
		t.Fatalf("ParseEncryptedPrivateKey(cosign.key) = %v", err)
	}
	if !key.PublicKey.Equal(pub) {
		t.Error("cosign.key does not hold the private half of cosign.pub")
	}
	artifact := readTestdata(t, dir+"artifact.txt")
	digest, _, err := Digest(bytes.NewReader(artifact))
	if err != nil {
		t.Fatal(err)
	}
	tamperedDigest := sha256.Sum256(append(bytes.Clone(artifact), ' '))

	checks := []struct {
		file   string
		verify func(d [32]byte, data []byte) error
	}{
		{"artifact.txt.sig", func(d [32]byte, data []byte) error { return Verify(pub, d, data) }},
		{"artifact.txt.sigstore.json", func(d [32]byte, data []byte) error { return VerifyBundle(pub, d, data) }},
		{"artifact.txt.legacy-bundle.json", func(d [32]byte, data []byte) error { return VerifyBundle(pub, d, data) }},
	}
	for _, c := range checks {
		t.Run(c.file, func(t *testing.T) {
			data := readTestdata(t, dir+c.file)
			if err := c.verify(digest, data); err != nil {
				t.Errorf("verify %s = %v, want nil", c.file, err)
			}
			if err := c.verify(tamperedDigest, data); !errors.Is(err, ErrMismatch) {
				t.Errorf("verify %s for a tampered artifact = %v, want ErrMismatch", c.file, err)
			}
		})
	}

	// Given cosign's signature, EncodeBundle writes cosign's bundle byte for
	// byte: same fields, order, hint and encoding.
	cosignBundle := readTestdata(t, dir+"artifact.txt.sigstore.json")
	var b struct {
		MessageSignature struct{ Signature string } `json:"messageSignature"`
	}
	if err := json.Unmarshal(cosignBundle, &b); err != nil {
		t.Fatal(err)
	}
	got, err := EncodeBundle(pub, digest, []byte(b.MessageSignature.Signature))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(cosignBundle), string(got)); diff != "" {
		t.Errorf("EncodeBundle(cosign's signature) differs from cosign's bundle (-cosign +promote):\n%s", diff)
	}
}

func TestVerifyLegacyBundle(t *testing.T) {
	key := testKey(t)
	digest := sha256.Sum256([]byte("artifact"))
	sig, err := Sign(key, digest)
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(fields string) []byte { return []byte("{" + fields + "}") }
	tests := []struct {
		name    string
		digest  [32]byte
		bundle  []byte
		want    error
		wantMsg string
	}{
		{"signature only", digest, legacy(`"base64Signature":"` + string(sig) + `"`), nil, ""},
		{"with cert and rekorBundle (not checked)", digest, legacy(`"base64Signature":"` + string(sig) + `","cert":"LS0t","rekorBundle":{"SignedEntryTimestamp":"","Payload":{}}`), nil, ""},
		{"other artifact", sha256.Sum256([]byte("other")), legacy(`"base64Signature":"` + string(sig) + `"`), ErrMismatch, "not made over this artifact"},
		{"empty signature", digest, legacy(`"base64Signature":""`), ErrMalformed, "base64Signature is empty"},
		{"not base64", digest, legacy(`"base64Signature":"!!"`), ErrMalformed, "base64Signature is not base64"},
		{"not DER", digest, legacy(`"base64Signature":"aGVsbG8="`), ErrMalformed, "base64Signature is not an ASN.1 DER ECDSA signature"},
		{"not a string", digest, legacy(`"base64Signature":5`), ErrMalformed, "bundle.base64Signature is not a JSON string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyBundle(&key.PublicKey, tt.digest, tt.bundle)
			if tt.want == nil {
				if err != nil {
					t.Errorf("VerifyBundle() = %v, want nil", err)
				}
				return
			}
			checkErr(t, "VerifyBundle()", err, tt.want, tt.wantMsg)
		})
	}
}

// A keyless bundle (cosign sign-blob without --key) is signed by the
// short-lived key of its certificate. It never verifies with a trusted key,
// and the error says why: promote checks no certificate, so trust could
// only come from a key. When the certificate's key is itself trusted, the
// signature verifies by that key alone.
func TestVerifyBundleKeyless(t *testing.T) {
	trusted := newKey(t)
	ephemeral := newKey(t)
	digest := sha256.Sum256([]byte("model weights"))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigstore-intermediate"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ephemeral.PublicKey, ephemeral)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := NewBundle(ephemeral, digest)
	if err != nil {
		t.Fatal(err)
	}
	withCert := mutate(t, signed, func(m map[string]any) {
		m["verificationMaterial"] = map[string]any{"certificate": map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(certDER)},
			"tlogEntries": []any{map[string]any{"logIndex": "7"}}}
	})
	withChain := mutate(t, signed, func(m map[string]any) {
		m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2"
		m["verificationMaterial"] = map[string]any{"x509CertificateChain": map[string]any{
			"certificates": []any{map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(certDER)}}}}
	})
	for _, tc := range []struct {
		name, material string
		bundle         []byte
	}{
		{"certificate", "certificate", withCert},
		{"certificate chain", "x509CertificateChain", withChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyBundle(&trusted.PublicKey, digest, tc.bundle)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("VerifyBundle(keyless bundle, trusted key) = %v, want ErrMismatch", err)
			}
			for _, want := range []string{"the bundle carries a signing certificate (" + tc.material + ", keyless signing)", "checks neither certificates nor transparency-log entries"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("VerifyBundle(keyless bundle, trusted key) = %q, want it to say %q", err, want)
				}
			}
			// Trusting the certificate's own key is trusting a key.
			if err := VerifyBundle(&ephemeral.PublicKey, digest, tc.bundle); err != nil {
				t.Errorf("VerifyBundle(keyless bundle, its certificate's key) = %v, want nil", err)
			}
		})
	}
	// A key-based bundle signed by another key says nothing of certificates.
	err = VerifyBundle(&trusted.PublicKey, digest, signed)
	if !errors.Is(err, ErrMismatch) || strings.Contains(err.Error(), "certificate") {
		t.Errorf("VerifyBundle(key-based bundle, another key) = %v, want ErrMismatch without a word of certificates", err)
	}
}
