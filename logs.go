package kubequeue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
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
		l := &logStream{
			q: q, opts: opts, container: workerContainer(&job.Spec.Template.Spec), yield: yield,
			done: make(map[types.UID]bool), attempt: make(map[types.UID]int),
		}
		interval := logPollInterval
		for {
			pods, err := q.pods(ctx, job)
			if err != nil {
				yield(LogLine{}, err)
				return
			}
			jobDone := finished(job)
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
	return p.err()
}

// logStream is the state of one Logs sequence.
type logStream struct {
	q         *Queue
	opts      LogOptions
	container string
	yield     func(LogLine, error) bool
	done      map[types.UID]bool // pods whose lines were yielded or skipped
	attempt   map[types.UID]int  // the attempt number of each pod seen
	last      int                // the highest attempt number given
}

// number returns the attempt number of the i-th of pods (oldest first): its
// position, fixed when the sequence first sees the pod, and never one
// given to another pod before.
func (l *logStream) number(pods []corev1.Pod, i int) int {
	uid := pods[i].UID
	if n, ok := l.attempt[uid]; ok {
		return n
	}
	n := max(i+1, l.last+1)
	l.attempt[uid], l.last = n, n
	return n
}

// attempts yields the lines of the pods not done yet, in order of
// attempts. It stops at a pod whose container has not started when
// following a Job that is not finished. It reports whether more attempts
// may come, and false in ok once yield asked to stop or failed.
func (l *logStream) attempts(ctx context.Context, pods []corev1.Pod, jobDone bool) (more, ok bool) {
	for i := range pods {
		pod := &pods[i]
		attempt := l.number(pods, i)
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
		if !l.stream(ctx, pod, attempt) {
			return false, false
		}
		l.done[pod.UID] = true
		if l.opts.Attempt != 0 {
			return false, true
		}
	}
	return l.opts.Attempt == 0 || len(pods) < l.opts.Attempt, true
}

// stream yields the lines of one pod. It reports whether to go on.
func (l *logStream) stream(ctx context.Context, pod *corev1.Pod, attempt int) bool {
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
			line := LogLine{Attempt: attempt, Pod: pod.Name, Text: strings.TrimSuffix(text, "\n")}
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
