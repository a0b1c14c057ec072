package testtool

import "os/exec"

// runAsNobody is never called on Windows, where os.Geteuid is -1: no
// process runs as root there, so Unprivileged never starts another.
func runAsNobody(*exec.Cmd) {}
