package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func pemOf(t testing.TB, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestKeyEncodeParseRoundTrip(t *testing.T) {
	key := newKey(t)
	privPEM, err := EncodePrivateKey(key)
	if err != nil {
		t.Fatalf("EncodePrivateKey() error = %v", err)
	}
	pubPEM, err := EncodePublicKey(&key.PublicKey)
	if err != nil {
		t.Fatalf("EncodePublicKey() error = %v", err)
	}
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("EncodePrivateKey() = %q, want a PKCS #8 PEM block", privPEM)
	}
	if !bytes.HasPrefix(pubPEM, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Errorf("EncodePublicKey() = %q, want a PKIX PEM block", pubPEM)
	}
	// The PEM bodies are what the standard formats say, read back by the
	// standard library: PKCS #8 and PKIX.
	block, _ := pem.Decode(privPEM)
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil || !key.Equal(k) {
		t.Errorf("x509.ParsePKCS8PrivateKey(EncodePrivateKey()) = %v, %v; want the key", k, err)
	}
	block, _ = pem.Decode(pubPEM)
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil || !key.PublicKey.Equal(k) {
		t.Errorf("x509.ParsePKIXPublicKey(EncodePublicKey()) = %v, %v; want the key", k, err)
	}

	gotPriv, err := ParsePrivateKey(privPEM)
	if err != nil || !key.Equal(gotPriv) {
		t.Errorf("ParsePrivateKey(EncodePrivateKey(k)) = %v, %v; want k", gotPriv, err)
	}
	gotPub, err := ParsePublicKey(pubPEM)
	if err != nil || !key.PublicKey.Equal(gotPub) {
		t.Errorf("ParsePublicKey(EncodePublicKey(k)) = %v, %v; want k", gotPub, err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	key := newKey(t)
	pubPEM, _ := EncodePublicKey(&key.PublicKey)
	privPEM, _ := EncodePrivateKey(key)

	tests := []struct {
		name    string
		in      []byte
		want    error  // nil: the key parses
		wantMsg string // part of the error
	}{
		{"cosign testdata SEC 1 P-256", readTestdata(t, "cosign/ec-p256-sec1.key"), nil, ""},
		{"cosign testdata PKCS #8 P-256", readTestdata(t, "cosign/ec-p256-pkcs8.key"), nil, ""},
		{"with a comment before the block", append([]byte("# made by promote keygen\n"), privPEM...), nil, ""},
		{"empty", nil, ErrMalformed, "key is empty"},
		{"not PEM", []byte("MHcCAQEEIIGhcmCI5F7BPMH4r3pWCpQdAsveErdU5DjvVQerErJuoAoGCCqGSM49"), ErrMalformed, "not PEM"},
		{"P-384", readTestdata(t, "cosign/ec-p384-sec1.key"), ErrMalformed, "P-384"},
		{"P-384 PKCS #8", pemOf(t, "PRIVATE KEY", p384DER), ErrMalformed, "P-384"},
		{"Ed25519", readTestdata(t, "cosign/ed25519-pkcs8.key"), ErrMalformed, "Ed25519"},
		{"RSA PKCS #8", pemOf(t, "PRIVATE KEY", rsaPKCS8), ErrMalformed, "RSA"},
		{"RSA PKCS #1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), ErrMalformed, "RSA"},
		{"public key given", pubPEM, ErrMalformed, "public key where a private key is needed"},
		{"encrypted PKCS #8", pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), ErrMalformed, "openssl pkcs8"},
		{"garbage body", pemOf(t, "PRIVATE KEY", []byte("garbage")), ErrMalformed, "neither PKCS #8 nor SEC 1"},
		{"two keys", append(bytes.Clone(privPEM), privPEM...), ErrMalformed, "more than one PEM block"},
		{"cosign encrypted", readTestdata(t, "cosign/sigstore-encrypted-hello.key"), ErrEncryptedKey, "ENCRYPTED SIGSTORE PRIVATE KEY"},
		{"cosign encrypted, old label", readTestdata(t, "cosign/cosign-encrypted-ec-hello.key"), ErrEncryptedKey, "ENCRYPTED COSIGN PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrivateKey(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParsePrivateKey() error = %v", err)
				}
				if got.Curve != elliptic.P256() {
					t.Errorf("ParsePrivateKey() curve = %s, want P-256", got.Curve.Params().Name)
				}
				return
			}
			checkErr(t, "ParsePrivateKey()", err, tt.want, tt.wantMsg)
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	key := newKey(t)
	privPEM, _ := EncodePrivateKey(key)
	pubPEM, _ := EncodePublicKey(&key.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1e9, 0)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		in      []byte
		wantMsg string // "" means the key parses
	}{
		{"PKIX P-256", pubPEM, ""},
		{"trailing newlines", append(bytes.Clone(pubPEM), "\n\n"...), ""},
		{"empty", []byte("\n"), "key is empty"},
		{"not PEM", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"), "not PEM: no -----BEGIN PUBLIC KEY----- line"},
		{"private key given", privPEM, "private key (PEM \"PRIVATE KEY\") where a public key is needed"},
		{"cosign encrypted private key given", readTestdata(t, "cosign/sigstore-encrypted-hello.key"), "where a public key is needed"},
		{"certificate", pemOf(t, "CERTIFICATE", certDER), "certificate, not a public key"},
		{"RSA", readTestdata(t, "cosign/rsa-2048.pub"), "an RSA public key"},
		{"P-384", pemOf(t, "PUBLIC KEY", p384DER), "P-384"},
		{"Ed25519", pemOf(t, "PUBLIC KEY", edDER), "an Ed25519 public key"},
		{"garbage body", pemOf(t, "PUBLIC KEY", []byte("garbage")), "parse PKIX public key"},
		{"unknown block", pemOf(t, "PGP PUBLIC KEY BLOCK", []byte("x")), `found PEM "PGP PUBLIC KEY BLOCK", want "PUBLIC KEY"`},
		{"two keys", append(bytes.Clone(pubPEM), pubPEM...), "more than one PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey(tt.in)
			if tt.wantMsg == "" {
				if err != nil || !key.PublicKey.Equal(got) {
					t.Fatalf("ParsePublicKey() = %v, %v; want the key", got, err)
				}
				return
			}
			checkErr(t, "ParsePublicKey()", err, ErrMalformed, tt.wantMsg)
		})
	}
}

func TestParseEncryptedPrivateKeyCosignVectors(t *testing.T) {
	// Keys that cosign itself encrypted (see testdata/README.md).
	for _, name := range []string{"cosign/sigstore-encrypted-hello.key", "cosign/cosign-encrypted-ec-hello.key"} {
		t.Run(name, func(t *testing.T) {
			data := readTestdata(t, name)
			key, err := ParseEncryptedPrivateKey(data, []byte("hello"))
			if err != nil {
				t.Fatalf("ParseEncryptedPrivateKey(%s, right password) error = %v", name, err)
			}
			digest := sha256.Sum256([]byte(name))
			sig, err := Sign(key, digest)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(&key.PublicKey, digest, sig); err != nil {
				t.Errorf("Verify(signature by the decrypted key) = %v", err)
			}
			_, err = ParseEncryptedPrivateKey(data, []byte("hellO"))
			if !errors.Is(err, ErrWrongPassword) {
				t.Errorf("ParseEncryptedPrivateKey(%s, wrong password) error = %v, want ErrWrongPassword", name, err)
			}
		})
	}
}

func TestEncryptPrivateKeyRoundTrip(t *testing.T) {
	key := testKey(t)
	for _, password := range []string{"correct horse", ""} {
		enc, err := EncryptPrivateKey(key, []byte(password))
		if err != nil {
			t.Fatalf("EncryptPrivateKey() error = %v", err)
		}
		if !bytes.HasPrefix(enc, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")) {
			t.Fatalf("EncryptPrivateKey() = %q, want cosign's PEM label", enc)
		}
		if _, err := ParsePrivateKey(enc); !errors.Is(err, ErrEncryptedKey) {
			t.Errorf("ParsePrivateKey(encrypted) error = %v, want ErrEncryptedKey", err)
		}
		got, err := ParseEncryptedPrivateKey(enc, []byte(password))
		if err != nil || !key.Equal(got) {
			t.Errorf("ParseEncryptedPrivateKey(EncryptPrivateKey(k, %q), %q) = %v, %v; want k", password, password, got, err)
		}
		if _, err := ParseEncryptedPrivateKey(enc, []byte(password+"x")); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("ParseEncryptedPrivateKey(wrong password) error = %v, want ErrWrongPassword", err)
		}
	}
	// Unencrypted keys pass through.
	plain, _ := EncodePrivateKey(key)
	if got, err := ParseEncryptedPrivateKey(plain, nil); err != nil || !key.Equal(got) {
		t.Errorf("ParseEncryptedPrivateKey(unencrypted) = %v, %v; want the key", got, err)
	}
}

func TestParseEncryptedPrivateKeyMalformed(t *testing.T) {
	body := func(s string) []byte { return pemOf(t, "ENCRYPTED SIGSTORE PRIVATE KEY", []byte(s)) }
	salt := base64.StdEncoding.EncodeToString(make([]byte, 32))
	nonce := base64.StdEncoding.EncodeToString(make([]byte, 24))
	ct := base64.StdEncoding.EncodeToString(make([]byte, 40))
	tests := []struct {
		name    string
		in      []byte
		wantMsg string
	}{
		{"not JSON", body("not json"), "body is not cosign's JSON"},
		{"other kdf", body(`{"kdf":{"name":"argon2"},"cipher":{"name":"nacl/secretbox"}}`), `kdf.name is "argon2"`},
		{"other cipher", body(`{"kdf":{"name":"scrypt"},"cipher":{"name":"aes-gcm"}}`), `cipher.name is "aes-gcm"`},
		// Refused before scrypt runs: N=2^30 would take gigabytes.
		{"costly scrypt", body(`{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"` + salt + `"},"cipher":{"name":"nacl/secretbox","nonce":"` + nonce + `"},"ciphertext":"` + ct + `"}`), "N=1073741824"},
		{"short nonce", body(`{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"` + salt + `"},"cipher":{"name":"nacl/secretbox","nonce":"AAAA"},"ciphertext":"` + ct + `"}`), "nonce is 3 bytes"},
		{"no salt", body(`{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1}},"cipher":{"name":"nacl/secretbox","nonce":"` + nonce + `"},"ciphertext":"` + ct + `"}`), "salt is empty"},
		{"no ciphertext", body(`{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"` + salt + `"},"cipher":{"name":"nacl/secretbox","nonce":"` + nonce + `"}}`), "ciphertext is too short"},
		{"public key", readTestdata(t, "cosign/rsa-2048.pub"), "public key where a private key is needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEncryptedPrivateKey(tt.in, []byte("pw"))
			checkErr(t, "ParseEncryptedPrivateKey()", err, ErrMalformed, tt.wantMsg)
		})
	}
}

func TestKeyHint(t *testing.T) {
	key := testKey(t)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	want := base64.StdEncoding.EncodeToString(sum[:])
	got, err := KeyHint(&key.PublicKey)
	if err != nil || got != want {
		t.Errorf("KeyHint() = %q, %v; want %q", got, err, want)
	}
	if _, err := KeyHint(nil); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("KeyHint(nil) error = %v, want one saying the key is nil", err)
	}
}
