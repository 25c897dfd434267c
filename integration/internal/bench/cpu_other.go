//go:build !unix

package bench

import (
	"errors"
	"time"
)

// processCPU reports that this system is not supported: the benchmark
// reads the process CPU time with getrusage.
func processCPU() (time.Duration, error) {
	return 0, errors.New("bench: process CPU time is read with getrusage, on Unix systems only")
}
