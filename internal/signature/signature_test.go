package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// testKey returns the fixed P-256 key in testdata, so that fuzz seeds and
// failures reproduce.
func testKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	data, err := os.ReadFile("testdata/cosign/ec-p256-pkcs8.key")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		t.Fatalf("ParsePrivateKey(ec-p256-pkcs8.key) = %v", err)
	}
	return key
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// derSig builds a DER SEQUENCE of the given INTEGERs followed by trailing.
func derSig(t testing.TB, trailing []byte, ints ...*big.Int) []byte {
	t.Helper()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, n := range ints {
			b.AddASN1BigInt(n)
		}
	})
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, trailing...)
}

func b64(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

func TestDigest(t *testing.T) {
	large := strings.Repeat("a", 100000)
	largeSum := sha256.Sum256([]byte(large))
	tests := []struct {
		name     string
		in       string
		wantHex  string
		wantSize int64
	}{
		// FIPS 180-2 appendix B.1 and the digest of the empty string.
		{"abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3},
		{"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0},
		{"larger than a copy buffer", large, hex.EncodeToString(largeSum[:]), 100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, size, err := Digest(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Digest(%q) error = %v", tt.name, err)
			}
			if got := hex.EncodeToString(sum[:]); got != tt.wantHex || size != tt.wantSize {
				t.Errorf("Digest(%q) = %s, %d; want %s, %d", tt.name, got, size, tt.wantHex, tt.wantSize)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestDigestReadError(t *testing.T) {
	_, _, err := Digest(failingReader{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Digest(failing reader) error = %v, want the read error", err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := newKey(t)
	digest := sha256.Sum256([]byte("model weights"))
	sig, err := Sign(key, digest)
	if err != nil {
		t.Fatalf("Sign() error = %v", err)
	}
	der, err := base64.StdEncoding.DecodeString(string(sig))
	if err != nil {
		t.Fatalf("Sign() = %q, not standard base64: %v", sig, err)
	}
	// Checked with the standard library alone: this is what
	// cosign verify-blob checks for a blob signed with an ECDSA key.
	if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], der) {
		t.Fatalf("Sign() = %q, not an ASN.1 ECDSA signature over the SHA-256 digest", sig)
	}

	files := map[string][]byte{
		"as written":        sig,
		"with newline":      append(append([]byte{}, sig...), '\n'),
		"with spaces, CRLF": append(append([]byte("  "), sig...), "\r\n"...),
		"raw DER":           der,
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			if err := Verify(&key.PublicKey, digest, file); err != nil {
				t.Errorf("Verify(%s) = %v, want nil", name, err)
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	key := newKey(t)
	other := newKey(t)
	digest := sha256.Sum256([]byte("model weights"))
	sig, err := Sign(key, digest)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(string(sig))
	flipped := bytes.Clone(der)
	flipped[10] ^= 0x01 // inside r: still DER, no longer the signature
	n := elliptic.P256().Params().N
	one := big.NewInt(1)

	tests := []struct {
		name    string
		pub     *ecdsa.PublicKey
		digest  [32]byte
		file    []byte
		want    error
		wantMsg string
	}{
		{"empty", &key.PublicKey, digest, nil, ErrMalformed, "signature is empty"},
		{"whitespace only", &key.PublicKey, digest, []byte(" \n\t"), ErrMalformed, "signature is empty"},
		{"not base64", &key.PublicKey, digest, []byte("this is not a signature!"), ErrMalformed, "not base64"},
		{"base64 of text", &key.PublicKey, digest, b64([]byte("hello")), ErrMalformed, "not an ASN.1 DER ECDSA signature"},
		{"trailing bytes after DER", &key.PublicKey, digest, b64(append(bytes.Clone(der), 0)), ErrMalformed, "1 trailing bytes"},
		{"three integers", &key.PublicKey, digest, b64(derSig(t, nil, one, one, one)), ErrMalformed, "exactly two INTEGERs"},
		{"zero r", &key.PublicKey, digest, b64(derSig(t, nil, big.NewInt(0), one)), ErrMalformed, "must be positive"},
		{"negative s", &key.PublicKey, digest, b64(derSig(t, nil, one, big.NewInt(-5))), ErrMalformed, "must be positive"},
		{"r beyond the curve order", &key.PublicKey, digest, b64(derSig(t, nil, n, one)), ErrMalformed, "exceeds the curve order"},
		{"tampered artifact", &key.PublicKey, sha256.Sum256([]byte("model weightz")), sig, ErrMismatch, "not made over this artifact with this key"},
		{"wrong key", &other.PublicKey, digest, sig, ErrMismatch, "not made over this artifact with this key"},
		{"altered signature", &key.PublicKey, digest, b64(flipped), ErrMismatch, "does not verify"},
		{"valid DER, unrelated values", &key.PublicKey, digest, b64(derSig(t, nil, one, one)), ErrMismatch, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.pub, tt.digest, tt.file)
			checkErr(t, "Verify", err, tt.want, tt.wantMsg)
		})
	}
}

// checkErr checks that err wraps want (and not the other sentinel) and says
// wantMsg.
func checkErr(t *testing.T, call string, err, want error, wantMsg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil, want %v", call, want)
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("%s = %v, want an error wrapping %v", call, err, want)
	}
	if errors.Is(err, ErrMalformed) && errors.Is(err, ErrMismatch) {
		t.Errorf("%s = %v: wraps both ErrMalformed and ErrMismatch", call, err)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("%s = %q, want it to say %q", call, err, wantMsg)
	}
}

func TestSignVerifyRejectOtherCurves(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	if _, err := Sign(p384, digest); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("Sign(P-384 key) error = %v, want one naming P-384", err)
	}
	if err := Verify(&p384.PublicKey, digest, []byte("MEUCIQ==")); err == nil || !strings.Contains(err.Error(), "P-384") {
		t.Errorf("Verify(P-384 key) error = %v, want one naming P-384", err)
	}
	if err := Verify(nil, digest, []byte("MEUCIQ==")); err == nil {
		t.Error("Verify(nil key) = nil, want an error")
	}
}

func TestVerifyErrorMessages(t *testing.T) {
	// The messages are read by people deciding whether to promote a model;
	// pin the exact wording of the two most common outcomes.
	key := testKey(t)
	digest := sha256.Sum256([]byte("a"))
	sig, err := Sign(key, digest)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{
		Verify(&key.PublicKey, sha256.Sum256([]byte("b")), sig).Error(),
		Verify(&key.PublicKey, digest, nil).Error(),
	}
	want := []string{
		"signature does not verify: it was not made over this artifact with this key (the artifact changed, or another key signed it)",
		"signature is empty",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify() messages mismatch (-want +got):\n%s", diff)
	}
}

func TestEncodeFile(t *testing.T) {
	key := testKey(t)
	digest := sha256.Sum256([]byte("model weights"))
	sig, err := Sign(key, digest)
	if err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(string(sig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sigFile []byte
		want    string // the base64 text, or the error's message
		err     error
	}{
		{"base64 with a newline", append(bytes.Clone(sig), '\n'), string(sig), nil},
		{"raw DER", der, string(sig), nil},
		{"empty", nil, "signature is empty", ErrMalformed},
		{"not a signature", []byte("hello"), "signature is not base64 (nor a raw DER ECDSA signature)", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeFile(tt.sigFile)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.HasPrefix(err.Error(), tt.want) {
					t.Errorf("EncodeFile(%q) = %q, %v, want an error %q wrapping %v", tt.sigFile, got, err, tt.want, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("EncodeFile(%q) = %q, %v, want %q", tt.sigFile, got, err, tt.want)
			}
			if err := Verify(&key.PublicKey, digest, got); err != nil {
				t.Errorf("Verify(EncodeFile(%q)) = %v", tt.sigFile, err)
			}
		})
	}
}
