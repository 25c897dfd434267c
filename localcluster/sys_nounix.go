//go:build !unix

package localcluster

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

var errUnsupported = errors.New("localcluster: the local cluster runs on Linux and other Unix systems only")

func lockFile(context.Context, string, func()) (func(), error) { return nil, errUnsupported }

func setProcessGroup(*exec.Cmd) {}

func signalGroup(int, syscall.Signal) error { return errUnsupported }

func processAlive(int) bool { return false }

func killLeftovers(string) {}

func supported() error { return errUnsupported }
