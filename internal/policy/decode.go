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
	lines [][]byte // the file's lines, where positions inside a value are looked up
}

func newDecoder(file string) *decoder {
	return &decoder{Decoder: &strictyaml.Decoder{File: file}}
}
