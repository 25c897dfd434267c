package kubequeue

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// LogOptions selects the lines [Queue.Logs] yields. The zero value yields
// every line that every attempt has written so far.
type LogOptions struct {
	// Attempt, if not zero, yields the lines of that attempt only: 1 is the
	// Job's first pod, 2 the pod that retried it, and so on.
	Attempt int
	// Follow streams lines as they are written, attempt after attempt,
	// until the Job finishes (or, with Attempt, until that attempt ends).
	Follow bool
	// Since, if not zero, yields only lines written in the last Since.
	Since time.Duration
	// SinceTime, if not zero, yields only lines written at or after it.
	// Since and SinceTime exclude each other.
	SinceTime time.Time
	// TailLines, if not zero, yields only the last TailLines lines of each
	// attempt (of those written when Logs reaches it).
	TailLines int
	// Timestamps asks the kubelet for the time of each line, in
	// [LogLine.Time].
	Timestamps bool
	// Index, if not nil, yields the lines of that item of a batch only
	// (see [Queue.EnqueueBatch]): the pods of its index, whose attempts
	// Attempt counts, and Follow follows until the item has succeeded or
	// failed. Without it, a batch's lines come item by item, in the order
	// of their indexes, each item's attempt by attempt. It is an error
	// for a Job that is not a batch, or an index the batch does not have.
	Index *int
}

// LogLine is a line of a Job's log.
type LogLine struct {
	// Attempt is the attempt that wrote the line, from 1: the position of
	// its pod among the Job's pods that exist, oldest first, when the
	// sequence first sees it. Within one sequence a pod keeps its number
	// and no two pods share one; across calls, numbers shift when older
	// pods are gone (deleted by suspending the Job, or by pod garbage
	// collection).
	Attempt int
	// Index is, for a batch, the index of the item whose pod wrote the
	// line; attempts are counted per item. Zero for a single Job.
	Index int
	// Pod is the name of that pod.
	Pod string
	// Time is when the line was written, if LogOptions.Timestamps was set.
	Time time.Time
	// Text is the line, without its newline.
	Text string
}

// When following, Logs looks for the next attempt after logPollInterval,
// then less and less often, up to maxLogPollInterval, until it comes.
const (
	logPollInterval    = 200 * time.Millisecond
	maxLogPollInterval = 5 * time.Second
)

// Logs yields the lines the handle's Job wrote, attempt by attempt, each
// marked with its attempt and pod:
//
//	for line, err := range queue.Logs(ctx, handle, kubequeue.LogOptions{Follow: true}) {
//		if err != nil {
//			return err
//		}
//		fmt.Printf("[attempt %d] %s\n", line.Attempt, line.Text)
//	}
//
// The lines come from the worker container of the Job's pods, through the
// API server (pods/log), so they exist only as long as the pods do: until
// the Job is cancelled or deleted, which its TTL after finishing does
// ([DefaultTTLAfterFinished] unless [WithTTLAfterFinished] says otherwise).
// Attempts whose container has not started yet are skipped, or waited for
// when following. With restartPolicy OnFailure a retry restarts the
// container inside the same pod, and Logs yields only the pod's current
// run.
//
// An error ends the sequence: an invalid handle or options ([ErrInvalidHandle],
// [ErrInvalidOption]), a Job that does not exist ([ErrJobNotFound]), an API
// error, or ctx's error.
func (q *Queue) Logs(ctx context.Context, h Handle, opts LogOptions) iter.Seq2[LogLine, error] {
	return func(yield func(LogLine, error) bool) {
		if err := opts.validate(); err != nil {
			yield(LogLine{}, err)
			return
		}
		job, err := q.Get(ctx, h)
		if err != nil {
			yield(LogLine{}, err)
			return
		}
		if err := opts.validateFor(job); err != nil {
			yield(LogLine{}, err)
			return
		}
		l := &logStream{
			q: q, opts: opts, container: workerContainer(&job.Spec.Template.Spec), yield: yield,
			batch: isBatch(job), done: make(map[types.UID]bool), attempt: make(map[types.UID]int), last: make(map[int]int),
		}
		interval := logPollInterval
		for {
			pods, err := q.pods(ctx, job)
			if err != nil {
				yield(LogLine{}, err)
				return
			}
			pods = l.selectPods(pods)
			jobDone := finished(job) || (opts.Index != nil && indexDone(job, *opts.Index))
			streamed := len(l.done)
			more, ok := l.attempts(ctx, pods, jobDone)
			if !ok || !more || !opts.Follow || jobDone {
				return
			}
			// Between attempts (a back-off lasts up to minutes) look less
			// and less often; after progress, soon again.
			if len(l.done) > streamed {
				interval = logPollInterval
			} else {
				interval = min(2*interval, maxLogPollInterval)
			}
			select {
			case <-ctx.Done():
				yield(LogLine{}, fmt.Errorf("kubequeue: logs of job %s: %w", h, ctxErr(ctx)))
				return
			case <-time.After(interval):
			}
			if job, err = q.Get(ctx, h); err != nil {
				yield(LogLine{}, err)
				return
			}
		}
	}
}

func (o *LogOptions) validate() error {
	p := &problems{sentinel: ErrInvalidOption}
	if o.Attempt < 0 {
		p.add("LogOptions.Attempt", strconv.Itoa(o.Attempt), "must not be negative")
	}
	if o.Since < 0 {
		p.add("LogOptions.Since", o.Since.String(), "must not be negative")
	}
	if o.Since != 0 && !o.SinceTime.IsZero() {
		p.add("LogOptions.SinceTime", o.SinceTime.String(), "excludes Since")
	}
	if o.TailLines < 0 {
		p.add("LogOptions.TailLines", strconv.Itoa(o.TailLines), "must not be negative")
	}
	if o.Index != nil && *o.Index < 0 {
		p.add("LogOptions.Index", strconv.Itoa(*o.Index), "must not be negative")
	}
	return p.err()
}

// validateFor reports an Index that job does not have.
func (o *LogOptions) validateFor(job *batchv1.Job) error {
	if o.Index == nil {
		return nil
	}
	p := &problems{sentinel: ErrInvalidOption}
	switch {
	case !isBatch(job):
		p.add("LogOptions.Index", strconv.Itoa(*o.Index), fmt.Sprintf("job %s/%s is not a batch", job.Namespace, job.Name))
	case job.Spec.Completions == nil || int64(*o.Index) >= int64(*job.Spec.Completions):
		p.add("LogOptions.Index", strconv.Itoa(*o.Index), fmt.Sprintf("batch %s/%s has no such item", job.Namespace, job.Name))
	}
	return p.err()
}

// indexDone reports whether the item of index i of a batch's job has
// succeeded or failed.
func indexDone(job *batchv1.Job, i int) bool {
	done := false
	mark := func(j int) { done = done || j == i }
	eachIndex(job.Status.CompletedIndexes, i+1, mark)
	if job.Status.FailedIndexes != nil {
		eachIndex(*job.Status.FailedIndexes, i+1, mark)
	}
	return done
}

// logStream is the state of one Logs sequence.
type logStream struct {
	q         *Queue
	opts      LogOptions
	container string
	yield     func(LogLine, error) bool
	batch     bool               // the Job is a batch's
	done      map[types.UID]bool // pods whose lines were yielded or skipped
	attempt   map[types.UID]int  // the attempt number of each pod seen
	last      map[int]int        // the highest attempt number given, by item
}

// selectPods returns the pods whose lines the sequence yields, in order: all
// of a single Job's, in the order of attempts; a batch's by index, each
// index's in the order of attempts, or only those of LogOptions.Index.
func (l *logStream) selectPods(pods []corev1.Pod) []corev1.Pod {
	if !l.batch {
		return pods
	}
	out := pods[:0]
	for _, pod := range pods {
		if i, ok := podIndex(&pod); ok && (l.opts.Index == nil || i == *l.opts.Index) {
			out = append(out, pod)
		}
	}
	slices.SortStableFunc(out, func(a, b corev1.Pod) int {
		i, _ := podIndex(&a)
		j, _ := podIndex(&b)
		return cmp.Compare(i, j) // stable: each index's pods stay in the order of attempts
	})
	return out
}

// number returns the attempt number of a pod, the pos-th of its item
// (oldest first; a single Job is one item): its position, fixed when the
// sequence first sees the pod, and never one given to another pod of the
// item before.
func (l *logStream) number(pod *corev1.Pod, item, pos int) int {
	if n, ok := l.attempt[pod.UID]; ok {
		return n
	}
	n := max(pos, l.last[item]+1)
	l.attempt[pod.UID], l.last[item] = n, n
	return n
}

// attempts yields the lines of the pods not done yet, in the order selectPods
// gives. It stops at a pod whose container has not started when following
// a Job (or item) that is not finished. It reports whether more attempts
// may come, and false in ok once yield asked to stop or failed.
func (l *logStream) attempts(ctx context.Context, pods []corev1.Pod, jobDone bool) (more, ok bool) {
	pos := make(map[int]int) // the pods of each item so far
	for i := range pods {
		pod := &pods[i]
		item, _ := podIndex(pod)
		if !l.batch {
			item = 0
		}
		pos[item]++
		attempt := l.number(pod, item, pos[item])
		if l.done[pod.UID] || (l.opts.Attempt != 0 && attempt != l.opts.Attempt) {
			continue
		}
		if !containerStarted(pod, l.container) {
			if l.opts.Follow && !jobDone && !podDone(pod) {
				return true, true // wait for it
			}
			l.done[pod.UID] = true
			continue
		}
		if !l.stream(ctx, pod, item, attempt) {
			return false, false
		}
		l.done[pod.UID] = true
		if l.opts.Attempt != 0 && (!l.batch || l.opts.Index != nil) {
			return false, true // the one attempt asked for
		}
	}
	if l.batch && l.opts.Index == nil {
		return true, true // until the whole batch has finished
	}
	return l.opts.Attempt == 0 || len(pods) < l.opts.Attempt, true
}

// stream yields the lines of one pod, of item (a batch's) and attempt. It
// reports whether to go on.
func (l *logStream) stream(ctx context.Context, pod *corev1.Pod, item, attempt int) bool {
	po := &corev1.PodLogOptions{
		Container:  l.container,
		Follow:     l.opts.Follow && !podDone(pod),
		Timestamps: l.opts.Timestamps,
	}
	if l.opts.Since > 0 {
		s := int64(max(l.opts.Since.Round(time.Second), time.Second) / time.Second)
		po.SinceSeconds = &s
	}
	if !l.opts.SinceTime.IsZero() {
		po.SinceTime = &metav1.Time{Time: l.opts.SinceTime}
	}
	if l.opts.TailLines > 0 {
		n := int64(l.opts.TailLines)
		po.TailLines = &n
	}
	fail := func(err error) bool {
		return l.yield(LogLine{}, fmt.Errorf("kubequeue: logs of attempt %d of job %s/%s (pod %s): %w", attempt, pod.Namespace, pod.Labels[batchv1.JobNameLabel], pod.Name, err))
	}
	rc, err := l.q.client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, po).Stream(ctx)
	if apierrors.IsNotFound(err) || (apierrors.IsBadRequest(err) && podDone(pod)) {
		return true // the pod is gone, or ended without a log to read
	}
	if err != nil {
		fail(err)
		return false
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	for {
		text, err := r.ReadString('\n')
		if text != "" {
			line := LogLine{Attempt: attempt, Index: item, Pod: pod.Name, Text: strings.TrimSuffix(text, "\n")}
			if l.opts.Timestamps {
				line.Time, line.Text = splitTimestamp(line.Text)
			}
			if !l.yield(line, nil) {
				return false
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return true
		case err != nil && ctx.Err() != nil:
			fail(context.Cause(ctx))
			return false
		case err != nil:
			fail(err)
			return false
		}
	}
}

// splitTimestamp splits the RFC 3339 time the kubelet puts before a line
// with timestamps=true from the line.
func splitTimestamp(s string) (time.Time, string) {
	ts, text, ok := strings.Cut(s, " ")
	if !ok {
		ts, text = s, ""
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, s
	}
	return t, text
}

// containerStarted reports whether the pod's container has run, so that it
// has a log.
func containerStarted(pod *corev1.Pod, container string) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == container {
			// A container the runtime never created (ContainerStatusUnknown,
			// a create error) has a terminated state without an ID.
			ran := func(t *corev1.ContainerStateTerminated) bool { return t != nil && t.ContainerID != "" }
			return cs.State.Running != nil || ran(cs.State.Terminated) || ran(cs.LastTerminationState.Terminated)
		}
	}
	return false
}

// podDone reports whether the pod has ended or is being deleted.
func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.DeletionTimestamp != nil
}
