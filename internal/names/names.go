// Package names generates and validates the names kubequeue gives to Jobs
// and checks the image references it puts into them.
package names

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// SuffixLen is the number of random characters after the worker name in a
// generated Job name.
const SuffixLen = 10

// MaxJobNameLen is the longest Job name kubequeue accepts. A Job's name
// becomes the value of the job-name label on its pods, and label values
// are at most 63 characters.
const MaxJobNameLen = validation.LabelValueMaxLength

// MaxWorkerNameLen is the longest worker name: it leaves room for "-" and
// the suffix within MaxJobNameLen.
const MaxWorkerNameLen = MaxJobNameLen - 1 - SuffixLen

// alphabet holds the characters Kubernetes itself uses for generated name
// suffixes: lower-case consonants and digits without look-alikes, so that no
// suffix spells a word.
const alphabet = "bcdfghjklmnpqrstvwxz2456789"

// Generate returns worker + "-" + SuffixLen characters drawn from alphabet
// using the random numbers that next returns. It draws one number for the
// whole suffix.
func Generate(worker string, next func() uint64) string {
	b := make([]byte, 0, len(worker)+1+SuffixLen)
	b = append(b, worker...)
	b = append(b, '-')
	r := next()
	for range SuffixLen {
		b = append(b, alphabet[r%uint64(len(alphabet))])
		r /= uint64(len(alphabet))
	}
	return string(b)
}

// GenerateWithin returns what Generate does, with worker cut so that the
// name has at most maxLen characters (and no '-' before the suffix's).
func GenerateWithin(worker string, maxLen int, next func() uint64) string {
	return Generate(cut(worker, maxLen-1-SuffixLen), next)
}

// FromKeyWithin returns what FromKey does, cut as GenerateWithin cuts.
// The suffix is drawn from the whole worker name.
func FromKeyWithin(worker, key string, maxLen int) string {
	sum := sha256.Sum256([]byte(worker + "\x00" + key))
	return Generate(cut(worker, maxLen-1-SuffixLen), func() uint64 { return binary.BigEndian.Uint64(sum[:8]) })
}

// cut returns the first n characters of s, without trailing '-'.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:max(n, 0)], "-")
}

// FromKey returns the name Generate would give with a suffix drawn from the
// SHA-256 of worker and key instead of random numbers: the same worker and
// key always give the same name, and other keys, in all likelihood, others.
func FromKey(worker, key string) string {
	sum := sha256.Sum256([]byte(worker + "\x00" + key))
	return Generate(worker, func() uint64 { return binary.BigEndian.Uint64(sum[:8]) })
}

// KeyHash returns the hex SHA-256 of key, which kubequeue records instead of
// the key itself.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ValidateWorkerName reports why name cannot be a worker name, or nil.
// A worker name is a DNS-1123 label of at most MaxWorkerNameLen characters, so
// that every Job name generated from it is a valid label value too.
func ValidateWorkerName(name string) []string {
	if name == "" {
		return []string{"must not be empty"}
	}
	msgs := validation.IsDNS1123Label(name)
	if len(name) > MaxWorkerNameLen {
		msgs = append(msgs, fmt.Sprintf("must be no more than %d characters (%d), so that <name>-<%d-character suffix> fits the 63-character limit of a Job name", MaxWorkerNameLen, len(name), SuffixLen))
	}
	return msgs
}

// ValidateJobName reports why name cannot be the name of a Job created by
// kubequeue, or nil: it must be a DNS-1123 label (at most 63 characters).
func ValidateJobName(name string) []string {
	if name == "" {
		return []string{"must not be empty"}
	}
	return validation.IsDNS1123Label(name)
}

// The grammar of an image reference, as container registries define it:
// [domain[:port]/]path[:tag][@digest].
const (
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domain          = domainComponent + `(?:\.` + domainComponent + `)*(?::[0-9]+)?`
	pathComponent   = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
	tag             = `[\w][\w.-]{0,127}`
	digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
)

var imageRef = regexp.MustCompile(`^(?:` + domain + `/)?` + pathComponent + `(?:/` + pathComponent + `)*(?::` + tag + `)?(?:@` + digest + `)?$`)

// maxImageNameLen is the longest repository name registries accept.
const maxImageNameLen = 255

// ValidateImage reports why ref is not an image reference a container
// runtime can pull, or nil.
func ValidateImage(ref string) []string {
	switch {
	case ref == "":
		return []string{"must not be empty"}
	case strings.TrimSpace(ref) != ref || strings.ContainsAny(ref, " \t\r\n"):
		return []string{"must not contain whitespace"}
	case !imageRef.MatchString(ref):
		if imageRef.MatchString(strings.ToLower(ref)) {
			return []string{"repository name must be lower-case"}
		}
		return []string{"must be a reference like registry.example.com/team/app:v1.2.3 or app@sha256:<digest>"}
	}
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	if len(name) > maxImageNameLen {
		return []string{fmt.Sprintf("repository name must be no more than %d characters", maxImageNameLen)}
	}
	return nil
}
