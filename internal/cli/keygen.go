package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/signature"
)

// passwordEnv holds the password of an encrypted private key, under the
// variable name cosign reads, so one setting serves both tools.
const passwordEnv = "COSIGN_PASSWORD"

type keygenFlags struct {
	prefix  string
	force   bool
	encrypt bool
}

func newKeygenCmd(s *streams) *cobra.Command {
	var f keygenFlags
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate an ECDSA P-256 key pair for signing model artifacts",
		Long: `Generate an ECDSA P-256 key pair: PREFIX.key, the private key (mode 0600), and
PREFIX.pub, the public key (PEM PKIX), which cosign verify-blob --key reads as it is.

The private key is written as unencrypted PKCS #8 PEM; keep it secret. With --encrypt
it is written in cosign's password-protected format ("ENCRYPTED SIGSTORE PRIVATE KEY")
with the password in ` + passwordEnv + `, and cosign sign-blob --key can use it directly;
otherwise import it into cosign with 'cosign import-key-pair --key PREFIX.key'.

Existing files are never overwritten unless --force is given.`,
		Example: `  # cosign.key and cosign.pub in the current directory
  promote keygen

  # keys/release.key and keys/release.pub, replacing older ones
  promote keygen --output-key-prefix keys/release --force

  # A key that cosign sign-blob reads as it is
  COSIGN_PASSWORD='a long passphrase' promote keygen --encrypt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeygen(s, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prefix, "output-key-prefix", "cosign", "write the keys to `PREFIX`.key and PREFIX.pub")
	fl.BoolVar(&f.force, "force", false, "overwrite existing key files")
	fl.BoolVar(&f.encrypt, "encrypt", false, "encrypt the private key in cosign's format with the password in "+passwordEnv)
	return cmd
}

func runKeygen(s *streams, f *keygenFlags) error {
	if f.prefix == "" {
		return usageErrorf("--output-key-prefix is empty")
	}
	keyPath, pubPath := f.prefix+".key", f.prefix+".pub"
	var password []byte
	if f.encrypt {
		pw, ok := os.LookupEnv(passwordEnv)
		if !ok {
			return usageErrorf("--encrypt needs the password in %s (it may be empty)", passwordEnv)
		}
		password = []byte(pw)
	}
	if !f.force {
		// Check both before writing either, so a refusal changes nothing.
		for _, p := range []string{keyPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return usageErrorf("%s already exists: use --force to overwrite it", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return usageError(pathError(err))
			}
		}
	}

	key, err := signature.GenerateKey()
	if err != nil {
		return err
	}
	var keyPEM []byte
	if f.encrypt {
		keyPEM, err = signature.EncryptPrivateKey(key, password)
	} else {
		keyPEM, err = signature.EncodePrivateKey(key)
	}
	if err != nil {
		return err
	}
	pubPEM, err := signature.EncodePublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	// A prefix in a directory that does not exist yet (keys/cosign, as
	// promote init suggests) creates it, private to its owner.
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return usageError(fmt.Errorf("write key: %w", pathError(err)))
	}
	if err := writeKeyFile(keyPath, keyPEM, 0o600, f.force); err != nil {
		return err
	}
	if err := writeKeyFile(pubPath, pubPEM, 0o644, f.force); err != nil {
		// Leave no private key without its public half.
		_ = os.Remove(keyPath)
		return err
	}
	if _, err := fmt.Fprintf(s.out, "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath); err != nil {
		return err
	}
	return nil
}

// writeKeyFile writes data to path with mode perm. Without overwrite it never
// replaces a file, even one created since it was checked; with overwrite the
// mode is set again, as an existing file keeps its own.
func writeKeyFile(path string, data []byte, perm os.FileMode, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	file, err := os.OpenFile(path, flags, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usageErrorf("%s already exists: use --force to overwrite it", path)
		}
		return usageError(fmt.Errorf("write key: %w", pathError(err)))
	}
	err = file.Chmod(perm)
	if err == nil {
		_, err = file.Write(data)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}
