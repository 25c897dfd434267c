package localkubelet

import "sync"

// Images maps image references to local executables. It is safe for
// concurrent use: the harness may add images while the kubelet runs, and a
// container's image is looked up each time it starts.
type Images struct {
	mu sync.RWMutex
	m  map[string]string
}

// Set maps ref to exe, replacing any previous mapping of ref.
func (im *Images) Set(ref, exe string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.m == nil {
		im.m = map[string]string{}
	}
	im.m[ref] = exe
}

// lookup returns the executable mapped to ref.
func (im *Images) lookup(ref string) (string, bool) {
	if im == nil {
		return "", false
	}
	im.mu.RLock()
	defer im.mu.RUnlock()
	exe, ok := im.m[ref]
	return exe, ok
}
