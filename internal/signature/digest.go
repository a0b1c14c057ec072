package signature

import (
	"crypto/sha256"
	"fmt"
	"io"
)

// Digest reads r to its end and returns the SHA-256 of what it read and how
// many bytes that was. Artifacts of any size stream through a fixed buffer.
func Digest(r io.Reader) (sum [32]byte, size int64, err error) {
	h := sha256.New()
	size, err = io.Copy(h, r)
	if err != nil {
		return sum, size, fmt.Errorf("digest: %w", err)
	}
	h.Sum(sum[:0])
	return sum, size, nil
}
