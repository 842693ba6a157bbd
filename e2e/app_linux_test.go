package e2e

import (
	"os/exec"
	"syscall"
)

// endWithTests has Linux stop the app if the test binary dies first (a
// -timeout panic, a kill), as it would have stopped had it run in-process,
// so no server is left behind on the machine.
func endWithTests(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
