package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The wire format of a batch: one Indexed Job whose pod of index i
// performs item i. Its items travel, one JSON value a line (JSON Lines),
// in EnvBatch or in the file EnvBatchFile names; the Job controller sets
// EnvCompletionIndex in each pod.
const (
	// EnvBatch holds a batch's items, one JSON encoding a line, in the
	// order of their indexes.
	EnvBatch = "KUBEQUEUE_BATCH"
	// EnvBatchFile names a file that holds a batch's items as EnvBatch
	// does, such as a key of a Secret mounted into the container. When it
	// is set, EnvBatch is not read.
	EnvBatchFile = "KUBEQUEUE_BATCH_FILE"
	// EnvCompletionIndex is the variable in which the Job controller gives
	// each pod of an Indexed Job its index.
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
	// BatchKey is the key of a batch's Secret that holds its items, and
	// the name of their file in SecretDir.
	BatchKey = "batch.jsonl"
)

// JoinItems returns the items, each one's JSON encoding as Encode gives
// it (on one line: encoding/json writes no raw newline), as one line each,
// in order.
func JoinItems(items []string) string {
	return strings.Join(items, "\n")
}

// Item returns item i of data, items joined by JoinItems, without
// decoding the others.
func Item(data string, i int) (string, error) {
	if i < 0 {
		return "", fmt.Errorf("item %d: an index is not negative", i)
	}
	rest := data
	for n := 0; n < i; n++ {
		nl := strings.IndexByte(rest, '\n')
		if nl < 0 {
			return "", fmt.Errorf("item %d: the batch has %d items", i, n+1)
		}
		rest = rest[nl+1:]
	}
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[:nl]
	}
	return rest, nil
}

// Index parses the value of EnvCompletionIndex.
func Index(s string) (int, error) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return 0, errors.New("not a non-negative integer")
	}
	return i, nil
}
