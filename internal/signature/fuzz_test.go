package signature

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
)

// checkClassified fails unless err is nil or wraps exactly one of
// ErrMalformed and ErrMismatch: callers map those to exit codes.
func checkClassified(t *testing.T, call string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrMalformed) == errors.Is(err, ErrMismatch) {
		t.Fatalf("%s = %v: want an error wrapping exactly one of ErrMalformed, ErrMismatch", call, err)
	}
}

func FuzzVerify(f *testing.F) {
	key := testKey(f)
	digest := sha256.Sum256([]byte("fuzz artifact"))
	sig, err := Sign(key, digest)
	if err != nil {
		f.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(string(sig))
	f.Add(sig)
	f.Add(der)
	f.Add([]byte(""))
	f.Add([]byte(" \n"))
	f.Add([]byte("MEUCIQ=="))
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, file []byte) {
		err := Verify(&key.PublicKey, digest, file)
		checkClassified(t, "Verify()", err)
	})
}

func FuzzVerifyBundle(f *testing.F) {
	key := testKey(f)
	digest := sha256.Sum256([]byte("fuzz artifact"))
	bundle, err := NewBundle(key, digest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bundle)
	f.Add(readTestdata(f, "sigstore-python/new_bundle.txt.sigstore.json"))
	f.Add(readTestdata(f, "cosign-v3/artifact.txt.sigstore.json"))
	f.Add(readTestdata(f, "cosign-v3/artifact.txt.legacy-bundle.json"))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":null,"messageSignature":{"messageDigest":{"algorithm":1,"digest":"AA"},"signature":"-_"}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","dsseEnvelope":{}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := VerifyBundle(&key.PublicKey, digest, data)
		checkClassified(t, "VerifyBundle()", err)
	})
}

func FuzzParsePublicKey(f *testing.F) {
	pub, _ := EncodePublicKey(&testKey(f).PublicKey)
	f.Add(pub)
	f.Add(readTestdata(f, "cosign-v3/cosign.pub"))
	f.Add(readTestdata(f, "cosign/rsa-2048.pub"))
	f.Add(readTestdata(f, "cosign/ec-p256-sec1.key"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePublicKey(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParsePublicKey() = %v, want an error wrapping ErrMalformed", err)
			}
			return
		}
		if _, err := EncodePublicKey(key); err != nil {
			t.Fatalf("EncodePublicKey(ParsePublicKey()) error = %v", err)
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	for _, name := range []string{"cosign/ec-p256-sec1.key", "cosign/ec-p256-pkcs8.key", "cosign/ec-p384-sec1.key",
		"cosign/ed25519-pkcs8.key", "cosign/sigstore-encrypted-hello.key", "cosign-v3/cosign.key"} {
		f.Add(readTestdata(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// ParsePrivateKey never derives a key from a password, so fuzzing
		// it stays fast; parseEncryptedKey checks the encrypted form's
		// JSON before any derivation.
		_, err := ParsePrivateKey(data)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEncryptedKey) {
			t.Fatalf("ParsePrivateKey() = %v, want ErrMalformed or ErrEncryptedKey", err)
		}
		if _, err := parseEncryptedKey(data); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parseEncryptedKey() = %v, want an error wrapping ErrMalformed", err)
		}
	})
}
