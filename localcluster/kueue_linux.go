package localcluster

import (
	"os"
	"os/exec"
	"syscall"
)

// privateMounts starts cmd in a mount namespace of its own, whose mounts
// do not propagate to the host's: as root, a new mount namespace (made
// private by the Go runtime); otherwise a new user namespace too, in which
// the caller is root, since only root may create a mount namespace.
func privateMounts(cmd *exec.Cmd) {
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Unshareflags |= syscall.CLONE_NEWNS
		return
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
	cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	cmd.SysProcAttr.GidMappingsEnableSetgroups = false
}
