package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/signature"
)

type verifyFlags struct {
	key    string
	sig    string
	bundle string
}

func newVerifyCmd(s *streams) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify --key PUB (--signature FILE | --bundle FILE) ARTIFACT",
		Short: "Verify a model artifact's signature, as cosign verify-blob does (exit 0 verified, 1 not, 2 bad input)",
		Long: `Verify that a model artifact (a file, or - for standard input) was signed by the key
in PUB (PEM PKIX, ECDSA P-256, such as cosign.pub), with a base64 signature file from
'cosign sign-blob --output-signature' or 'promote sign', or a Sigstore bundle (v0.1 to
v0.3) from 'cosign sign-blob --bundle' or 'promote sign --bundle' (cosign's older bundle
format, {"base64Signature": ...}, is read too).

Trust comes from the key alone. A bundle's certificate, transparency-log entries and
timestamps are accepted but not checked: verification is offline. A bundle holding a
DSSE envelope (an attestation) is refused.

Exit codes: 0 verified, 1 the signature does not verify for this artifact and key,
2 bad input (unreadable or malformed key, signature, bundle or artifact).`,
		Example: `  # A signature file
  promote verify --key cosign.pub --signature model.onnx.sig model.onnx

  # A bundle, from promote sign --bundle or cosign sign-blob --bundle
  promote verify --key cosign.pub --bundle model.onnx.sigstore.json model.onnx

  # The artifact on standard input
  curl -sf https://models.example.com/model.onnx | promote verify --key cosign.pub --signature model.onnx.sig -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), s, &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "trusted public key `FILE` (PEM)")
	fl.StringVar(&f.sig, "signature", "", "base64 signature `FILE` (or the base64 signature itself)")
	fl.StringVar(&f.bundle, "bundle", "", "Sigstore bundle `FILE`")
	_ = cmd.MarkFlagRequired("key")
	cmd.MarkFlagsOneRequired("signature", "bundle")
	cmd.MarkFlagsMutuallyExclusive("signature", "bundle")
	for _, name := range []string{"key", "signature", "bundle"} {
		_ = cmd.MarkFlagFilename(name)
	}
	return cmd
}

func runVerify(ctx context.Context, s *streams, f *verifyFlags, artifact string) error {
	keyPEM, err := readInput(f.key, "key")
	if err != nil {
		return usageError(err)
	}
	pub, err := signature.ParsePublicKey(keyPEM)
	if err != nil {
		return usageErrorf("key %s: %w", f.key, err)
	}
	var what string
	var check func(digest [32]byte) error
	if f.sig != "" {
		sig, name, err := readSignature(f.sig)
		if err != nil {
			return err
		}
		what = "signature " + name
		check = func(d [32]byte) error { return signature.Verify(pub, d, sig) }
	} else {
		b, err := readInput(f.bundle, "bundle")
		if err != nil {
			return usageError(err)
		}
		what = "bundle " + f.bundle
		check = func(d [32]byte) error { return signature.VerifyBundle(pub, d, b) }
	}
	digest, err := digestArtifact(ctx, s, artifact)
	if err != nil {
		return err
	}
	if err := check(digest); err != nil {
		err = fmt.Errorf("%s over %s with key %s: %w", what, artifact, f.key, err)
		if errors.Is(err, signature.ErrMismatch) {
			return &exitError{code: ExitBlocked, err: err}
		}
		return usageError(err)
	}
	_, err = fmt.Fprintln(s.out, "Verified OK")
	return err
}

// readSignature reads --signature: a file, or, as cosign verify-blob allows,
// the base64 signature itself when no file has that name.
func readSignature(arg string) (sig []byte, name string, err error) {
	sig, err = readInput(arg, "signature")
	if err == nil {
		return sig, arg, nil
	}
	if errors.Is(err, fs.ErrNotExist) && looksLikeBase64Signature(arg) {
		return []byte(arg), "given inline", nil
	}
	return nil, "", usageError(err)
}

// looksLikeBase64Signature tells a signature given inline from a mistyped
// path: it is base64 of DER, which starts with a SEQUENCE (0x30).
func looksLikeBase64Signature(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) > 8 && b[0] == 0x30
}
