//go:build unix

package testtool

import (
	"os/exec"
	"syscall"
)

// runAsNobody has cmd run as user and group nobody.
func runAsNobody(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
}
