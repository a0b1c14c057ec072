package policy

import "github.com/promote-ml/promote/internal/strictyaml"

// Problem and LoadError are the strict YAML reader's: one problem with its
// position, and every problem of a file at once.
type (
	Problem   = strictyaml.Problem
	LoadError = strictyaml.LoadError
)

// decoder is the strict YAML reader with the policy's own sections.
type decoder struct {
	*strictyaml.Decoder
}

func newDecoder(file string) *decoder {
	return &decoder{&strictyaml.Decoder{File: file}}
}
