//go:build !unix

package localkubelet

import (
	"errors"
	"syscall"
)

// The kubelet runs pods on Unix systems only; elsewhere the package builds,
// so that its importers do, and the cluster refuses to start.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func hostMemory() int64 { return 16 << 30 }

func killGroup(int, syscall.Signal) error {
	return errors.New("localkubelet: process groups need a Unix system")
}
