package signature

import (
	"context"
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

// DigestContext is Digest stopping when ctx ends (a request's, a person's
// Ctrl-C): a large model, or a file that never ends, is not read on for
// nobody. Its error is then ctx's.
func DigestContext(ctx context.Context, r io.Reader) (sum [32]byte, size int64, err error) {
	return Digest(ctxReader{ctx: ctx, r: r})
}

// ctxReader reads r until ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
