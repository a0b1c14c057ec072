package registry

import "os"

// openNonblocking is none on Windows, which has no such flag: a named pipe
// there lives under \\.\pipe\, outside any artifact root, and the file
// opened is still checked to be the regular file that was there.
const openNonblocking = 0

// setBlocking has nothing to undo on Windows.
func setBlocking(*os.File) error { return nil }
