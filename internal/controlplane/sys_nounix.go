//go:build !unix

package controlplane

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

var errUnsupported = errors.New("controlplane: the embedded control plane runs on Linux and other Unix systems only")

func lockFile(context.Context, string, func()) (func(), error) { return nil, errUnsupported }

func setProcessGroup(*exec.Cmd) {}

func signalGroup(int, syscall.Signal) error { return errUnsupported }

func processAlive(int) bool { return false }

func supported() error { return errUnsupported }
