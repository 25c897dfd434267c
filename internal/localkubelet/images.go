package localkubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// images maps image references to local executables. It is read from a JSON
// object ({"registry.example.com/app:v1": "/path/to/app"}) each time a
// container starts, so the harness can add images while the kubelet runs.
type images struct {
	file string
}

// lookup returns the executable mapped to ref.
func (im images) lookup(ref string) (string, bool, error) {
	if im.file == "" {
		return "", false, nil
	}
	b, err := os.ReadFile(im.file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read image map: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return "", false, fmt.Errorf("image map %s: %w", im.file, err)
	}
	exe, ok := m[ref]
	return exe, ok, nil
}
