package promtest

import (
	"errors"
	"os"
)

// suspend is unsupported on Windows, which has no SIGSTOP: Freeze fails
// the test that asks for it.
func suspend(*os.Process) error { return errors.ErrUnsupported }

// resume is unsupported on Windows, as suspend is.
func resume(*os.Process) error { return errors.ErrUnsupported }
