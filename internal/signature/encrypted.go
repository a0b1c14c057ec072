package signature

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// cosign's password-protected private key ("ENCRYPTED SIGSTORE PRIVATE KEY")
// is a PEM block whose body is JSON:
//
//	{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<base64>"},
//	 "cipher":{"name":"nacl/secretbox","nonce":"<base64>"},
//	 "ciphertext":"<base64>"}
//
// The secretbox key is scrypt(password, salt, N, r, p, 32); the plaintext is
// the PKCS #8 DER private key. This is the "encrypted" package of
// github.com/secure-systems-lab/go-securesystemslib that cosign uses
// (pkg/cosign/keys.go in github.com/sigstore/cosign).

// ErrWrongPassword reports a cosign encrypted private key that does not open
// with the password given (or whose ciphertext was altered).
var ErrWrongPassword = errors.New("wrong password for the encrypted private key")

const (
	kdfScrypt        = "scrypt"
	cipherSecretbox  = "nacl/secretbox"
	scryptN          = 65536 // what cosign writes today
	scryptLegacyN    = 32768 // what it wrote before; both are read
	scryptR, scryptP = 8, 1
	saltSize         = 32
)

type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// EncryptPrivateKey returns key as cosign's password-protected PEM
// "ENCRYPTED SIGSTORE PRIVATE KEY", which `cosign sign-blob --key` reads with
// the password from COSIGN_PASSWORD. An empty password is allowed, as in
// cosign.
func EncryptPrivateKey(key *ecdsa.PrivateKey, password []byte) ([]byte, error) {
	if err := checkPrivateKey(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	var ek encryptedKey
	ek.KDF.Name = kdfScrypt
	ek.KDF.Params.N, ek.KDF.Params.R, ek.KDF.Params.P = scryptN, scryptR, scryptP
	ek.KDF.Salt = make([]byte, saltSize)
	ek.Cipher.Name = cipherSecretbox
	ek.Cipher.Nonce = make([]byte, 24)
	if _, err := rand.Read(ek.KDF.Salt); err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	if _, err := rand.Read(ek.Cipher.Nonce); err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	boxKey, err := scrypt.Key(password, ek.KDF.Salt, scryptN, scryptR, scryptP, 32)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	ek.Ciphertext = secretbox.Seal(nil, der, (*[24]byte)(ek.Cipher.Nonce), (*[32]byte)(boxKey))
	body, err := json.Marshal(&ek)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemSigstoreEncrypted, Bytes: body}), nil
}

// ParseEncryptedPrivateKey reads a private key like ParsePrivateKey and, when
// it is in cosign's password-protected format ("ENCRYPTED SIGSTORE PRIVATE
// KEY", or "ENCRYPTED COSIGN PRIVATE KEY" from cosign before v2), opens it
// with password. A password that does not open it gives an error wrapping
// ErrWrongPassword. Unencrypted keys are returned as they are.
func ParseEncryptedPrivateKey(pemBytes, password []byte) (*ecdsa.PrivateKey, error) {
	block, err := decodeOnePEM(pemBytes, "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case pemPrivateKey, pemECPrivate:
		return parsePrivateDER(block.Bytes)
	case pemSigstoreEncrypted, pemCosignEncrypted:
	default:
		return nil, unsupportedPrivatePEM(block.Type)
	}
	ek, err := parseEncryptedKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	boxKey, err := scrypt.Key(password, ek.KDF.Salt, ek.KDF.Params.N, ek.KDF.Params.R, ek.KDF.Params.P, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key from password: %w", err)
	}
	der, ok := secretbox.Open(nil, ek.Ciphertext, (*[24]byte)(ek.Cipher.Nonce), (*[32]byte)(boxKey))
	if !ok {
		return nil, ErrWrongPassword
	}
	return parsePrivateDER(der)
}

// parseEncryptedKey reads and checks the JSON body of an encrypted key, before
// any costly key derivation.
func parseEncryptedKey(body []byte) (*encryptedKey, error) {
	var ek encryptedKey
	if err := json.Unmarshal(body, &ek); err != nil {
		return nil, &malformedError{msg: "encrypted private key: body is not cosign's JSON", err: err}
	}
	if ek.KDF.Name != kdfScrypt {
		return nil, malformedf("encrypted private key: kdf.name is %q, want %q", ek.KDF.Name, kdfScrypt)
	}
	if ek.Cipher.Name != cipherSecretbox {
		return nil, malformedf("encrypted private key: cipher.name is %q, want %q", ek.Cipher.Name, cipherSecretbox)
	}
	// Fixed parameters, as cosign checks them too: a file must not be able to
	// make promote spend unbounded time or memory in scrypt.
	p := ek.KDF.Params
	if (p.N != scryptN && p.N != scryptLegacyN) || p.R != scryptR || p.P != scryptP {
		return nil, malformedf("encrypted private key: kdf.params N=%d r=%d p=%d, want N=%d (or %d) r=%d p=%d",
			p.N, p.R, p.P, scryptN, scryptLegacyN, scryptR, scryptP)
	}
	if len(ek.KDF.Salt) == 0 {
		return nil, malformedf("encrypted private key: kdf.salt is empty")
	}
	if len(ek.Cipher.Nonce) != 24 {
		return nil, malformedf("encrypted private key: cipher.nonce is %d bytes, want 24", len(ek.Cipher.Nonce))
	}
	if len(ek.Ciphertext) <= secretbox.Overhead {
		return nil, malformedf("encrypted private key: ciphertext is too short (%d bytes)", len(ek.Ciphertext))
	}
	return &ek, nil
}
