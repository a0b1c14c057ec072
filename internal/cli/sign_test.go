package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/signature"
)

// sigResult is what one run of promote did.
type sigResult struct {
	code           int
	stdout, stderr string
}

// runSig runs promote in dir (the working directory) with stdin, replacing
// "DIR" in args with dir and dir in the outputs with "DIR".
func runSig(t *testing.T, dir, stdin string, args ...string) sigResult {
	t.Helper()
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "DIR", dir)
	}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	clean := func(s string) string { return strings.ReplaceAll(s, dir, "DIR") }
	return sigResult{code, clean(stdout.String()), clean(stderr.String())}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value when the test ends
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// keyPair runs promote keygen in dir and returns the paths it wrote.
func keyPair(t *testing.T, dir, prefix string) (keyPath, pubPath string) {
	t.Helper()
	r := runSig(t, dir, "", "keygen", "--output-key-prefix", filepath.Join(dir, prefix))
	if r.code != ExitOK {
		t.Fatalf("promote keygen = %d, stderr %q", r.code, r.stderr)
	}
	return filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	r := runSig(t, dir, "", "keygen")
	want := sigResult{ExitOK, "Private key written to cosign.key\nPublic key written to cosign.pub\n", ""}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(sigResult{})); diff != "" {
		t.Fatalf("promote keygen mismatch (-want +got):\n%s", diff)
	}
	st, err := os.Stat("cosign.key")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cosign.key mode = %v, want 0600", st.Mode().Perm())
	}
	key, err := signature.ParsePrivateKey(readFile(t, "cosign.key"))
	if err != nil {
		t.Fatalf("ParsePrivateKey(cosign.key) = %v", err)
	}
	pub, err := signature.ParsePublicKey(readFile(t, "cosign.pub"))
	if err != nil {
		t.Fatalf("ParsePublicKey(cosign.pub) = %v", err)
	}
	if !key.PublicKey.Equal(pub) {
		t.Error("cosign.pub is not the public half of cosign.key")
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	tests := []struct {
		name     string
		existing []string // files present before keygen
	}{
		{"private key exists", []string{"k.key"}},
		{"public key exists", []string{"k.pub"}},
		{"both exist", []string{"k.key", "k.pub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tt.existing {
				writeFile(t, filepath.Join(dir, name), "keep me")
			}
			r := runSig(t, dir, "", "keygen", "--output-key-prefix", "DIR/k")
			if r.code != ExitUsage || !strings.Contains(r.stderr, "already exists: use --force to overwrite it") {
				t.Errorf("promote keygen = %d, stderr %q; want 2 and a refusal", r.code, r.stderr)
			}
			for _, name := range []string{"k.key", "k.pub"} {
				data, err := os.ReadFile(filepath.Join(dir, name))
				existed := contains(tt.existing, name)
				switch {
				case existed && string(data) != "keep me":
					t.Errorf("%s = %q after a refused keygen, want it untouched", name, data)
				case !existed && !errors.Is(err, fs.ErrNotExist):
					t.Errorf("%s was written by a refused keygen", name)
				}
			}
		})
	}
}

func TestKeygenForce(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k.key")
	if err := os.WriteFile(keyPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "k.pub"), "old")
	r := runSig(t, dir, "", "keygen", "--output-key-prefix", "DIR/k", "--force")
	if r.code != ExitOK {
		t.Fatalf("promote keygen --force = %d, stderr %q", r.code, r.stderr)
	}
	if _, err := signature.ParsePrivateKey(readFile(t, keyPath)); err != nil {
		t.Errorf("k.key after --force: %v", err)
	}
	// The old file's looser mode must not survive.
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("k.key mode after --force = %v, want 0600", st.Mode().Perm())
	}
}

func TestKeygenEncrypt(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(passwordEnv, "s3cret")
	r := runSig(t, dir, "", "keygen", "--output-key-prefix", "DIR/enc", "--encrypt")
	if r.code != ExitOK {
		t.Fatalf("promote keygen --encrypt = %d, stderr %q", r.code, r.stderr)
	}
	data := readFile(t, filepath.Join(dir, "enc.key"))
	if _, err := signature.ParsePrivateKey(data); !errors.Is(err, signature.ErrEncryptedKey) {
		t.Errorf("ParsePrivateKey(enc.key) error = %v, want ErrEncryptedKey", err)
	}
	if _, err := signature.ParseEncryptedPrivateKey(data, []byte("s3cret")); err != nil {
		t.Errorf("ParseEncryptedPrivateKey(enc.key, password) = %v", err)
	}

	// promote sign opens it with the same variable.
	writeFile(t, filepath.Join(dir, "a.bin"), "weights")
	if r := runSig(t, dir, "", "sign", "--key", "DIR/enc.key", "DIR/a.bin"); r.code != ExitOK {
		t.Errorf("promote sign --key enc.key = %d, stderr %q", r.code, r.stderr)
	}

	unsetEnv(t, passwordEnv)
	r = runSig(t, dir, "", "keygen", "--output-key-prefix", "DIR/enc2", "--encrypt")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--encrypt needs the password in COSIGN_PASSWORD") {
		t.Errorf("promote keygen --encrypt without password = %d, stderr %q; want 2", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "enc2.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("enc2.key written although keygen failed")
	}
}

func TestKeygenBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"a file for a directory", []string{"keygen", "--output-key-prefix", "/dev/null/k"}, "not a directory"},
		{"empty prefix", []string{"keygen", "--output-key-prefix", ""}, "--output-key-prefix is empty"},
		{"an argument", []string{"keygen", "extra"}, `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSig(t, t.TempDir(), "", tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.wantMsg) {
				t.Errorf("promote %v = %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.wantMsg)
			}
		})
	}
}

func TestSignAndVerify(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath := keyPair(t, dir, "cosign")
	_, otherPub := keyPair(t, dir, "other")
	artifact := filepath.Join(dir, "model.onnx")
	writeFile(t, artifact, "model weights v2")
	digest := sha256.Sum256([]byte("model weights v2"))
	pub, err := signature.ParsePublicKey(readFile(t, pubPath))
	if err != nil {
		t.Fatal(err)
	}

	// To standard output: the base64 signature and a newline.
	r := runSig(t, dir, "", "sign", "--key", keyPath, artifact)
	if r.code != ExitOK || r.stderr != "" || !strings.HasSuffix(r.stdout, "\n") {
		t.Fatalf("promote sign = %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if err := signature.Verify(pub, digest, []byte(r.stdout)); err != nil {
		t.Errorf("Verify(promote sign output) = %v", err)
	}

	// To files.
	r = runSig(t, dir, "", "sign", "--key", keyPath, "--output-signature", "DIR/model.onnx.sig", "--bundle", "DIR/model.onnx.sigstore.json", artifact)
	want := sigResult{ExitOK, "", "Wrote bundle to DIR/model.onnx.sigstore.json\nWrote signature to DIR/model.onnx.sig\n"}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(sigResult{})); diff != "" {
		t.Fatalf("promote sign --output-signature --bundle mismatch (-want +got):\n%s", diff)
	}
	sigFile := readFile(t, filepath.Join(dir, "model.onnx.sig"))
	var b struct {
		MessageSignature struct{ Signature string } `json:"messageSignature"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(dir, "model.onnx.sigstore.json")), &b); err != nil {
		t.Fatal(err)
	}
	if b.MessageSignature.Signature != string(sigFile) {
		t.Errorf("bundle signature %q, signature file %q: want one signature in both", b.MessageSignature.Signature, sigFile)
	}

	tampered := filepath.Join(dir, "tampered.onnx")
	writeFile(t, tampered, "model weights v3")
	tests := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		wantOut string
		wantErr string // part of stderr
	}{
		{"signature file", "", []string{"--key", pubPath, "--signature", "DIR/model.onnx.sig", artifact}, ExitOK, "Verified OK\n", ""},
		{"bundle", "", []string{"--key", pubPath, "--bundle", "DIR/model.onnx.sigstore.json", artifact}, ExitOK, "Verified OK\n", ""},
		{"signature inline", "", []string{"--key", pubPath, "--signature", string(sigFile), artifact}, ExitOK, "Verified OK\n", ""},
		{"artifact on stdin", "model weights v2", []string{"--key", pubPath, "--signature", "DIR/model.onnx.sig", "-"}, ExitOK, "Verified OK\n", ""},
		{"tampered artifact, signature", "", []string{"--key", pubPath, "--signature", "DIR/model.onnx.sig", tampered}, ExitBlocked, "",
			"promote: signature DIR/model.onnx.sig over DIR/tampered.onnx with key DIR/cosign.pub: signature does not verify: it was not made over this artifact with this key"},
		{"tampered artifact, bundle", "", []string{"--key", pubPath, "--bundle", "DIR/model.onnx.sigstore.json", tampered}, ExitBlocked, "",
			"the bundle is for another artifact: its messageDigest is sha256:"},
		{"wrong key", "", []string{"--key", otherPub, "--signature", "DIR/model.onnx.sig", artifact}, ExitBlocked, "", "signature does not verify"},
		{"wrong key, bundle", "", []string{"--key", otherPub, "--bundle", "DIR/model.onnx.sigstore.json", artifact}, ExitBlocked, "", "signature does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSig(t, dir, tt.stdin, append([]string{"verify"}, tt.args...)...)
			if r.code != tt.code || r.stdout != tt.wantOut || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("promote verify = %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					r.code, r.stdout, r.stderr, tt.code, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestSignStdin(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath := keyPair(t, dir, "k")
	r := runSig(t, dir, "streamed weights", "sign", "--key", keyPath, "-")
	if r.code != ExitOK {
		t.Fatalf("promote sign - = %d, stderr %q", r.code, r.stderr)
	}
	pub, _ := signature.ParsePublicKey(readFile(t, pubPath))
	if err := signature.Verify(pub, sha256.Sum256([]byte("streamed weights")), []byte(r.stdout)); err != nil {
		t.Errorf("Verify(signature of standard input) = %v", err)
	}
}

func TestSignCosignEncryptedKey(t *testing.T) {
	// A key that cosign encrypted itself, password "hello" (see
	// internal/signature/testdata/README.md).
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "cosign.key")
	writeFile(t, keyPath, string(readFile(t, "../signature/testdata/cosign/sigstore-encrypted-hello.key")))
	writeFile(t, filepath.Join(dir, "a.bin"), "weights")

	t.Run("right password", func(t *testing.T) {
		t.Setenv(passwordEnv, "hello")
		if r := runSig(t, dir, "", "sign", "--key", keyPath, "DIR/a.bin"); r.code != ExitOK {
			t.Errorf("promote sign = %d, stderr %q; want 0", r.code, r.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Setenv(passwordEnv, "nope")
		r := runSig(t, dir, "", "sign", "--key", keyPath, "DIR/a.bin")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "COSIGN_PASSWORD does not open it") {
			t.Errorf("promote sign = %d, stderr %q; want 2 and the password named", r.code, r.stderr)
		}
	})
	t.Run("no password", func(t *testing.T) {
		unsetEnv(t, passwordEnv)
		r := runSig(t, dir, "", "sign", "--key", keyPath, "DIR/a.bin")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "is encrypted: set COSIGN_PASSWORD to its password") {
			t.Errorf("promote sign = %d, stderr %q; want 2 and a hint", r.code, r.stderr)
		}
	})
}

func TestSignBadInput(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath := keyPair(t, dir, "k")
	writeFile(t, filepath.Join(dir, "a.bin"), "weights")
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"no key", []string{"sign", "DIR/a.bin"}, `required flag(s) "key" not set`},
		{"no artifact", []string{"sign", "--key", keyPath}, "accepts 1 arg(s), received 0"},
		{"key file missing", []string{"sign", "--key", "DIR/none.key", "DIR/a.bin"}, "key: DIR/none.key: no such file or directory"},
		{"public key given", []string{"sign", "--key", pubPath, "DIR/a.bin"}, "public key where a private key is needed"},
		{"artifact missing", []string{"sign", "--key", keyPath, "DIR/none.bin"}, "artifact: DIR/none.bin: no such file or directory"},
		{"artifact is a directory", []string{"sign", "--key", keyPath, "DIR"}, "artifact: DIR is a directory, not a file"},
		{"output directory missing", []string{"sign", "--key", keyPath, "--output-signature", "DIR/no/a.sig", "DIR/a.bin"}, "write signature: DIR/no/a.sig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSig(t, dir, "", tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.wantMsg) || r.stdout != "" {
				t.Errorf("promote %v = %d, stdout %q, stderr %q; want 2 and %q", tt.args, r.code, r.stdout, r.stderr, tt.wantMsg)
			}
		})
	}
}

func TestVerifyBadInput(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath := keyPair(t, dir, "k")
	writeFile(t, filepath.Join(dir, "a.bin"), "weights")
	if r := runSig(t, dir, "", "sign", "--key", keyPath, "--output-signature", "DIR/a.sig", "--bundle", "DIR/a.json", "DIR/a.bin"); r.code != ExitOK {
		t.Fatalf("promote sign = %d, stderr %q", r.code, r.stderr)
	}
	writeFile(t, filepath.Join(dir, "empty.sig"), "\n")
	writeFile(t, filepath.Join(dir, "text.sig"), "signed by alice\n")
	writeFile(t, filepath.Join(dir, "dsse.json"), `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":""}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}}`)
	writeFile(t, filepath.Join(dir, "bad.json"), `{"mediaType": "application/json"}`)

	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"no key", []string{"--signature", "DIR/a.sig", "DIR/a.bin"}, `required flag(s) "key" not set`},
		{"neither signature nor bundle", []string{"--key", pubPath, "DIR/a.bin"}, "at least one of the flags in the group [signature bundle] is required"},
		{"both signature and bundle", []string{"--key", pubPath, "--signature", "DIR/a.sig", "--bundle", "DIR/a.json", "DIR/a.bin"}, "none of the others can be"},
		{"private key given", []string{"--key", keyPath, "--signature", "DIR/a.sig", "DIR/a.bin"}, "key DIR/k.key: found a private key"},
		{"empty signature", []string{"--key", pubPath, "--signature", "DIR/empty.sig", "DIR/a.bin"}, "signature DIR/empty.sig over DIR/a.bin with key DIR/k.pub: signature is empty"},
		{"signature not base64", []string{"--key", pubPath, "--signature", "DIR/text.sig", "DIR/a.bin"}, "signature is not base64"},
		{"signature file missing", []string{"--key", pubPath, "--signature", "DIR/none.sig", "DIR/a.bin"}, "signature: DIR/none.sig: no such file or directory"},
		{"DSSE bundle", []string{"--key", pubPath, "--bundle", "DIR/dsse.json", "DIR/a.bin"}, "it is an attestation"},
		{"unknown bundle", []string{"--key", pubPath, "--bundle", "DIR/bad.json", "DIR/a.bin"}, `unknown mediaType "application/json"`},
		{"artifact missing", []string{"--key", pubPath, "--signature", "DIR/a.sig", "DIR/none.bin"}, "artifact: DIR/none.bin: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSig(t, dir, "", append([]string{"verify"}, tt.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.wantMsg) || r.stdout != "" {
				t.Errorf("promote verify %v = %d, stdout %q, stderr %q; want 2 and %q", tt.args, r.code, r.stdout, r.stderr, tt.wantMsg)
			}
		})
	}
}

// TestVerifySigstoreBundle runs promote verify on a bundle the Sigstore tools
// made (see internal/signature/testdata/README.md), with the public key of
// its certificate written as a cosign.pub would be.
func TestVerifySigstoreBundle(t *testing.T) {
	dir := t.TempDir()
	const vectors = "../signature/testdata/sigstore-python/"
	bundle := readFile(t, vectors+"new_bundle.txt.sigstore.json")
	writeFile(t, filepath.Join(dir, "bundle.json"), string(bundle))
	writeFile(t, filepath.Join(dir, "new_bundle.txt"), string(readFile(t, vectors+"new_bundle.txt")))
	var b struct {
		VerificationMaterial struct {
			Certificate struct{ RawBytes []byte } `json:"certificate"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(b.VerificationMaterial.Certificate.RawBytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey.(*ecdsa.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sigstore.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))

	r := runSig(t, dir, "", "verify", "--key", "DIR/sigstore.pub", "--bundle", "DIR/bundle.json", "DIR/new_bundle.txt")
	if r.code != ExitOK || r.stdout != "Verified OK\n" {
		t.Errorf("promote verify (sigstore bundle) = %d, stdout %q, stderr %q; want 0", r.code, r.stdout, r.stderr)
	}
	writeFile(t, filepath.Join(dir, "new_bundle.txt"), "Sigstore current issuer certificate regression test!\n")
	r = runSig(t, dir, "", "verify", "--key", "DIR/sigstore.pub", "--bundle", "DIR/bundle.json", "DIR/new_bundle.txt")
	if r.code != ExitBlocked {
		t.Errorf("promote verify (sigstore bundle, tampered artifact) = %d, stderr %q; want 1", r.code, r.stderr)
	}
}

// TestVerifyCosignV3Files runs promote verify on files that cosign v3.1.3
// wrote (see internal/signature/testdata/README.md).
func TestVerifyCosignV3Files(t *testing.T) {
	const dir = "../signature/testdata/cosign-v3/"
	tests := []struct {
		name string
		args []string
	}{
		{"signature file", []string{"--signature", dir + "artifact.txt.sig"}},
		{"Sigstore bundle", []string{"--bundle", dir + "artifact.txt.sigstore.json"}},
		{"older bundle format", []string{"--bundle", dir + "artifact.txt.legacy-bundle.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"verify", "--key", dir + "cosign.pub"}, tt.args...), dir+"artifact.txt")
			r := runSig(t, t.TempDir(), "", args...)
			if r.code != ExitOK || r.stdout != "Verified OK\n" {
				t.Errorf("promote %v = %d, stdout %q, stderr %q; want 0", args, r.code, r.stdout, r.stderr)
			}
			args[len(args)-1] = dir + "cosign.pub" // another file as the artifact
			if r := runSig(t, t.TempDir(), "", args...); r.code != ExitBlocked {
				t.Errorf("promote %v = %d, stderr %q; want 1", args, r.code, r.stderr)
			}
		})
	}
	// And promote signs with cosign's encrypted key.
	t.Setenv(passwordEnv, "promote-interop")
	r := runSig(t, t.TempDir(), "", "sign", "--key", dir+"cosign.key", dir+"artifact.txt")
	if r.code != ExitOK {
		t.Fatalf("promote sign --key cosign.key = %d, stderr %q", r.code, r.stderr)
	}
	pub, _ := signature.ParsePublicKey(readFile(t, dir+"cosign.pub"))
	if err := signature.Verify(pub, sha256.Sum256(readFile(t, dir+"artifact.txt")), []byte(r.stdout)); err != nil {
		t.Errorf("Verify(promote's signature with cosign's key) = %v", err)
	}
}

func TestSignatureCommandsHelp(t *testing.T) {
	tests := []struct {
		cmd  string
		want []string
	}{
		{"keygen", []string{"--output-key-prefix", "--force", "--encrypt", "cosign import-key-pair", "Examples:"}},
		{"sign", []string{"--key", "--output-signature", "--bundle", "cosign sign-blob", "--insecure-ignore-tlog", "Examples:"}},
		{"verify", []string{"--key", "--signature", "--bundle", "Exit codes: 0 verified, 1", "not checked", "Examples:"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			r := runSig(t, t.TempDir(), "", tt.cmd, "--help")
			if r.code != ExitOK {
				t.Fatalf("promote %s --help = %d", tt.cmd, r.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("promote %s --help does not mention %q", tt.cmd, w)
				}
			}
		})
	}
}

func TestKeygenCreatesTheKeysDirectory(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath := keyPair(t, dir, filepath.Join("keys", "cosign"))
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("keygen with prefix keys/cosign did not write %s: %v", p, err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("keys directory mode %v, want private to its owner", st.Mode().Perm())
	}
}

// A signature or bundle file given to versions register that holds nothing
// is refused before anything is sent: sent, it read as no signature and
// registered the version unsigned, taking its name.
func TestRegisterRefusesAnEmptySignatureFile(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	dir := filepath.Dir(data)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	cli, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	artifact := filepath.Join(examples, "model.bin")
	writeFile(t, filepath.Join(dir, "empty.sig"), "")
	writeFile(t, filepath.Join(dir, "blank.sig"), " \n")
	writeFile(t, filepath.Join(dir, "empty.sigstore.json"), "\n")
	tests := []struct {
		flag, file, want string
	}{
		{"--signature", "empty.sig", "promote: signature: " + filepath.Join(dir, "empty.sig") + " is empty\n"},
		{"--signature", "blank.sig", "promote: signature: " + filepath.Join(dir, "blank.sig") + " is empty\n"},
		{"--bundle", "empty.sigstore.json", "promote: bundle: " + filepath.Join(dir, "empty.sigstore.json") + " is empty\n"},
	}
	for _, tt := range tests {
		code, out, errOut := cli(ci, "versions", "register", "credit-risk", "1", "--artifact", artifact, tt.flag, filepath.Join(dir, tt.file))
		if code != ExitUsage || errOut != tt.want {
			t.Errorf("register %s %s = exit %d, stdout %q, stderr %q; want exit %d, stderr %q", tt.flag, tt.file, code, out, errOut, ExitUsage, tt.want)
		}
	}
	if out := must(0, ci, "versions", "list", "credit-risk", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("versions after refused registrations = %s, want none", out)
	}
	out := must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", artifact, "--signature", filepath.Join(examples, "model.bin.sig"))
	if !strings.Contains(out, "signature verified") {
		t.Errorf("register with the signature = %s", out)
	}
}

// versions register takes a raw DER signature file (cosign sign-blob
// --b64=false), as promote verify and promote gate do.
func TestRegisterRawDERSignature(t *testing.T) {
	examples, pipelineFile, data := exampleServeSetup(t)
	dir := filepath.Dir(data)
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", examples)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readFile(t, filepath.Join(examples, "model.bin.sig")))))
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "model.bin.der")
	writeFile(t, raw, string(der))
	artifact := filepath.Join(examples, "model.bin")
	if r := runSig(t, dir, "", "verify", "--key", filepath.Join(examples, "cosign.pub"), "--signature", raw, artifact); r.code != ExitOK {
		t.Fatalf("promote verify of the raw DER signature = %d, stderr %q", r.code, r.stderr)
	}
	out := must(0, ci, "versions", "register", "credit-risk", "1", "--artifact", artifact, "--signature", raw)
	if !strings.Contains(out, "signature verified") {
		t.Errorf("register with a raw DER signature = %s", out)
	}
}

// versions register sends a local artifact's URI escaped, so that the
// server hashes, and the pin names, the file the command hashed and the
// signature covers, not another whose name the URI spells unescaped.
func TestRegisterEscapesTheArtifactURI(t *testing.T) {
	_, _, data := exampleServeSetup(t)
	dir := filepath.Dir(data)
	keyPath, _ := keyPair(t, dir, "cosign")
	pipelineFile := filepath.Join(dir, "promote.yaml")
	writeFile(t, pipelineFile, "kind: Pipeline\ntrustedKeys: [cosign.pub]\nenvironments:\n  - name: dev\n    policy: policy.yaml\n")
	writeFile(t, filepath.Join(dir, "policy.yaml"), "gate:\n  require: [artifact_signed]\n")
	ci := createToken(t, data, pipelineFile, "ci", "submitter")
	server, _ := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", dir)
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	tests := []struct {
		name, decoy string // the artifact, and the file its name means in a URI
	}{
		{"m%41.bin", "mA.bin"},
		{"v#2.bin", "v"},
		{"a b?.bin", "a b"},
	}
	for i, tt := range tests {
		writeFile(t, filepath.Join(dir, tt.name), "signed weights "+tt.name)
		writeFile(t, filepath.Join(dir, tt.decoy), "other weights")
		sig := filepath.Join(dir, fmt.Sprintf("%d.sig", i))
		if r := runSig(t, dir, "", "sign", "--key", keyPath, "--output-signature", sig, filepath.Join(dir, tt.name)); r.code != ExitOK {
			t.Fatalf("promote sign %s = %d, %s", tt.name, r.code, r.stderr)
		}
		out := must(0, ci, "versions", "register", "credit-risk", fmt.Sprint(i+1), "--artifact", filepath.Join(dir, tt.name), "--signature", sig, "-o", "json")
		var v struct {
			ArtifactURI string `json:"artifact_uri"`
			Digest      string `json:"digest"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("register %s = %s: %v", tt.name, out, err)
		}
		u, err := url.Parse(v.ArtifactURI)
		if err != nil || u.Scheme != "file" || u.Path != filepath.Join(dir, tt.name) {
			t.Errorf("register %s: artifact_uri %q names %q, want %q", tt.name, v.ArtifactURI, u.Path, filepath.Join(dir, tt.name))
		}
		if want := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("signed weights "+tt.name))); v.Digest != want {
			t.Errorf("register %s: digest %s, want %s", tt.name, v.Digest, want)
		}
	}
}
