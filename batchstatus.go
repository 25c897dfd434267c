package kubequeue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// ItemStatus is where one item of a batch stands (see
// [Queue.EnqueueBatch]), as [Status.Items] reports it.
type ItemStatus struct {
	// Index is the item's index in the batch: items[Index] of
	// EnqueueBatch, performed by the pods of that completion index.
	Index int `json:"index"`
	// State is [StateSucceeded] once the Job controller counts the index
	// completed, [StateFailed] once it counts it failed (a [Permanent]
	// error, or its retries used up), [StateRunning] while a pod of it
	// runs, and else [StatePending]: not started yet, or waiting to be
	// retried. An item of a batch that finished before it did (by
	// [WithMaxFailedItems], a deadline or a success policy) stays
	// pending.
	State State `json:"state"`
	// Failures is the number of the item's pods that failed, of those
	// that still exist.
	Failures int32 `json:"failures,omitempty"`
	// ExitCode is the exit code of the worker container's last failed run
	// of the item, zero if none failed. [ExitPermanent] means perform
	// returned a [Permanent] error.
	ExitCode int32 `json:"exitCode,omitempty"`
	// TerminationMessage is that run's termination message: the error
	// perform returned, or the end of its log.
	TerminationMessage string `json:"terminationMessage,omitempty"`
	// Result is what perform recorded for the item with [SetResult], as
	// JSON, once it succeeded and while its pod exists; nil otherwise.
	Result Result `json:"result,omitempty"`

	rawResult string // the succeeded run's termination message
}

// DecodeResult decodes the item's result (see [SetResult]) into v, which
// must be a pointer. It returns an error matching [ErrNoResult] when the
// item has none: it has not succeeded, perform recorded nothing, or the
// pod that held it is gone (or, from [Queue.List], was not read).
func (s ItemStatus) DecodeResult(v any) error {
	if len(s.Result) == 0 && s.rawResult != "" {
		return fmt.Errorf("kubequeue: result of item %d is not JSON (%d bytes; cut by the kubelet, or written by another program?)", s.Index, len(s.rawResult))
	}
	if len(s.Result) == 0 {
		return fmt.Errorf("%w: item %d is %s", ErrNoResult, s.Index, s.State)
	}
	if err := json.Unmarshal(s.Result, v); err != nil {
		return fmt.Errorf("kubequeue: decode result of item %d into %T: %w", s.Index, v, err)
	}
	return nil
}

// CountItems returns how many of a batch's items are in state st: 0 for a
// single Job.
func (s Status) CountItems(st State) int {
	n := 0
	for i := range s.Items {
		if s.Items[i].State == st {
			n++
		}
	}
	return n
}

// itemsIn returns the indexes of the items in state st.
func (s Status) itemsIn(st State) []int {
	var out []int
	for i := range s.Items {
		if s.Items[i].State == st {
			out = append(out, s.Items[i].Index)
		}
	}
	return out
}

// itemStatuses returns where each item of a batch's job stands: from the
// Job's completed and failed indexes, and from pods, the Job's pods, their
// exit codes, termination messages and results. It is pure.
func itemStatuses(job *batchv1.Job, pods []corev1.Pod) []ItemStatus {
	n := 0
	if job.Spec.Completions != nil {
		n = int(max(*job.Spec.Completions, 0))
	}
	items := make([]ItemStatus, n)
	for i := range items {
		items[i] = ItemStatus{Index: i, State: StatePending}
	}
	if job.Status.CompletedIndexes != "" {
		eachIndex(job.Status.CompletedIndexes, n, func(i int) { items[i].State = StateSucceeded })
	}
	if job.Status.FailedIndexes != nil {
		eachIndex(*job.Status.FailedIndexes, n, func(i int) { items[i].State = StateFailed })
	}
	container := workerContainer(&job.Spec.Template.Spec)
	byIndex := make(map[int][]corev1.Pod, min(len(pods), n))
	for _, pod := range pods {
		if i, ok := podIndex(&pod); ok && i < n {
			byIndex[i] = append(byIndex[i], pod)
		}
	}
	for i, ps := range byIndex {
		item := &items[i]
		for j := range ps {
			if ps[j].Status.Phase == corev1.PodFailed {
				item.Failures++
			}
		}
		if item.State == StatePending && running(ps, container) {
			item.State = StateRunning
		}
		if item.State == StateSucceeded {
			if c := lastTerminated(ps, container, false); c != nil && c.Message != "" {
				item.rawResult = c.Message
				if json.Valid([]byte(c.Message)) {
					item.Result = Result(c.Message)
				}
			}
		}
		if c := lastTerminated(ps, container, true); c != nil {
			item.ExitCode, item.TerminationMessage = c.ExitCode, c.Message
		}
	}
	return items
}

// podIndex returns the completion index of a pod of an Indexed Job, from
// the annotation the Job controller sets (or its label).
func podIndex(pod *corev1.Pod) (int, bool) {
	s, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		s, ok = pod.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

// eachIndex calls f with each index below n of list, in the form of the
// Job status's completedIndexes and failedIndexes: "1,3-5,7". Parts that
// are not indexes are skipped.
func eachIndex(list string, n int, f func(int)) {
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := first; i <= min(last, n-1); i++ {
			f(i)
		}
	}
}

// formatIndexes writes indexes, in increasing order, as "1, 3 to 5 and
// 7": at most limit runs of consecutive indexes, then how many more.
func formatIndexes(indexes []int, limit int) string {
	var parts []string
	i := 0
	for i < len(indexes) && len(parts) < limit {
		j := i
		for j+1 < len(indexes) && indexes[j+1] == indexes[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d to %d", indexes[i], indexes[j]))
		} else {
			parts = append(parts, strconv.Itoa(indexes[i]))
		}
		i = j + 1
	}
	if rest := len(indexes) - i; rest > 0 {
		parts = append(parts, fmt.Sprintf("%d more", rest))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
