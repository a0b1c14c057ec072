package cli

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/signature"
)

type signFlags struct {
	key       string
	outputSig string
	bundle    string
}

func newSignCmd(s *streams) *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "sign --key FILE [--output-signature FILE] [--bundle FILE] ARTIFACT",
		Short: "Sign a model artifact, as cosign sign-blob does",
		Long: `Sign a model artifact (a file, or - for standard input) with an ECDSA P-256 private key.

The signature is the base64 of the ASN.1 DER ECDSA signature over the artifact's SHA-256:
what 'cosign sign-blob --key' writes, and what 'cosign verify-blob --key KEY.pub
--signature FILE' and 'promote verify' check. Without --output-signature it is printed
on standard output.

--bundle also writes a Sigstore bundle (v0.3) with the signature, the artifact's digest
and a hint naming the key. It holds no transparency-log entry: promote verifies it
offline, and cosign needs --insecure-ignore-tlog to.

The key is PEM: PKCS #8 or SEC 1 as 'promote keygen' writes it, or cosign's encrypted
format, opened with the password in ` + passwordEnv + `.`,
		Example: `  # Print the signature
  promote sign --key cosign.key model.onnx

  # Write it to a file, and a bundle beside it
  promote sign --key cosign.key --output-signature model.onnx.sig \
    --bundle model.onnx.sigstore.json model.onnx

  # A key made by cosign generate-key-pair
  COSIGN_PASSWORD='a long passphrase' promote sign --key cosign.key model.onnx > model.onnx.sig`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd.Context(), s, &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "private key `FILE` (PEM)")
	fl.StringVar(&f.outputSig, "output-signature", "", "write the base64 signature to `FILE` instead of standard output")
	fl.StringVar(&f.bundle, "bundle", "", "also write a Sigstore bundle to `FILE`")
	_ = cmd.MarkFlagRequired("key")
	for _, name := range []string{"key", "output-signature", "bundle"} {
		_ = cmd.MarkFlagFilename(name)
	}
	return cmd
}

func runSign(ctx context.Context, s *streams, f *signFlags, artifact string) error {
	key, err := loadPrivateKey(f.key)
	if err != nil {
		return err
	}
	digest, err := digestArtifact(ctx, s, artifact)
	if err != nil {
		return err
	}
	sig, err := signature.Sign(key, digest)
	if err != nil {
		return err
	}
	if f.bundle != "" {
		b, err := signature.EncodeBundle(&key.PublicKey, digest, sig)
		if err != nil {
			return err
		}
		if err := writeOutput(f.bundle, b, "bundle"); err != nil {
			return err
		}
		fmt.Fprintf(s.err, "Wrote bundle to %s\n", f.bundle)
	}
	if f.outputSig != "" {
		if err := writeOutput(f.outputSig, sig, "signature"); err != nil {
			return err
		}
		fmt.Fprintf(s.err, "Wrote signature to %s\n", f.outputSig)
		return nil
	}
	_, err = fmt.Fprintf(s.out, "%s\n", sig)
	return err
}

// loadPrivateKey reads a private key file; a key in cosign's encrypted format
// is opened with the password in COSIGN_PASSWORD, or the empty one when that
// is unset (cosign allows it).
func loadPrivateKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := readInput(path, "key")
	if err != nil {
		return nil, usageError(err)
	}
	key, err := signature.ParsePrivateKey(data)
	if errors.Is(err, signature.ErrEncryptedKey) {
		password, set := os.LookupEnv(passwordEnv)
		key, err = signature.ParseEncryptedPrivateKey(data, []byte(password))
		if errors.Is(err, signature.ErrWrongPassword) {
			if !set {
				return nil, usageErrorf("key %s is encrypted: set %s to its password", path, passwordEnv)
			}
			return nil, usageErrorf("key %s: %s does not open it: %w", path, passwordEnv, err)
		}
	}
	if err != nil {
		return nil, usageErrorf("key %s: %w", path, err)
	}
	return key, nil
}

// digestArtifact returns the SHA-256 of the artifact file, or of standard
// input for "-". It stops early when ctx ends.
func digestArtifact(ctx context.Context, s *streams, path string) ([32]byte, error) {
	var r io.Reader
	if path == "-" {
		r = s.in
	} else {
		file, err := os.Open(path)
		if err != nil {
			return [32]byte{}, usageError(fmt.Errorf("artifact: %w", pathError(err)))
		}
		defer file.Close()
		if st, err := file.Stat(); err == nil && st.IsDir() {
			return [32]byte{}, usageErrorf("artifact: %s is a directory, not a file", path)
		}
		r = file
	}
	digest, _, err := signature.DigestContext(ctx, r)
	if err != nil {
		if ctx.Err() != nil {
			return digest, ctx.Err()
		}
		return digest, usageError(fmt.Errorf("artifact %s: %w", path, err))
	}
	return digest, nil
}

// writeOutput writes a signature or bundle file.
func writeOutput(path string, data []byte, what string) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return usageError(fmt.Errorf("write %s: %w", what, pathError(err)))
	}
	return nil
}
