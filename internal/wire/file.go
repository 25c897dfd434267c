package wire

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const (
	// EnvPayloadFile names a file that holds the JSON-encoded payload, such
	// as a key of a Secret mounted into the container. When it is set,
	// EnvPayload is not read.
	EnvPayloadFile = "KUBEQUEUE_PAYLOAD_FILE"
	// EnvLocalRoot names the directory that stands for the container's /
	// where a process runs without a mount namespace: container paths are
	// resolved under it when it is set. It is the documented contract of
	// package localcluster (its EnvRoot), whose kubelet sets it for every
	// container's process; nothing sets it in a real container. An
	// integration test keeps the two names equal.
	EnvLocalRoot = "KUBEQUEUE_LOCAL_ROOT"
	// MaxPayloadSize is the largest encoded payload: 1 MiB, the most a
	// Secret holds. It bounds the payload file read, too.
	MaxPayloadSize = 1 << 20
	// SecretKey is the key of a payload Secret that holds the payload, and
	// the name of its file in SecretDir, where the Secret is mounted.
	SecretKey = "payload.json"
	SecretDir = "/var/run/kubequeue/payload"
	// SecretVolume is the name of the pod volume of the payload Secret.
	SecretVolume = "kubequeue-payload"
)

// ContainerPath returns where the process finds the container path p: p
// itself in a container, or p under $KUBEQUEUE_LOCAL_ROOT when that is set.
// lookup reads the environment.
func ContainerPath(p string, lookup func(string) (string, bool)) string {
	root, ok := lookup(EnvLocalRoot)
	if !ok || root == "" {
		return p
	}
	return filepath.Join(root, filepath.Clean("/"+p))
}

// ReadFile reads the payload file at the container path p, refusing more
// than MaxPayloadSize bytes.
func ReadFile(p string, lookup func(string) (string, bool)) (string, error) {
	f, err := os.Open(ContainerPath(p, lookup))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPayloadSize+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxPayloadSize {
		return "", errors.New("larger than " + fmt.Sprint(MaxPayloadSize) + " bytes")
	}
	return string(b), nil
}
