package localkubelet

import (
	"bytes"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubelet's limits on termination messages.
const (
	// maxTerminationMessage is the most read from terminationMessagePath:
	// its last 4096 bytes.
	maxTerminationMessage = 4096
	// With FallbackToLogsOnError, a failed container's message is the last
	// 80 lines of its log, at most 2048 bytes.
	maxFallbackLines = 80
	maxFallbackBytes = 2048
)

const localIP = "127.0.0.1"

// podLocked returns the pod with its current status. With live, the pod's
// metadata and spec are the informer's current copy, so that the status
// write that follows does not bring back stale labels or finalizers.
func (r *podRun) podLocked(live bool) *corev1.Pod {
	var pod *corev1.Pod
	if live {
		if cur, err := r.p.pods.Pods(r.spec.Namespace).Get(r.spec.Name); err == nil && cur.UID == r.uid {
			pod = cur.DeepCopy()
		}
	}
	if pod == nil {
		pod = r.spec.DeepCopy()
	}
	st := &pod.Status
	st.Phase = r.phaseLocked()
	st.Reason, st.Message = r.reason, r.message
	st.StartTime = r.startTime
	if r.startTime != nil {
		st.HostIP, st.HostIPs = localIP, []corev1.HostIP{{IP: localIP}}
		st.PodIP, st.PodIPs = localIP, []corev1.PodIP{{IP: localIP}}
	}
	st.ContainerStatuses = st.ContainerStatuses[:0]
	allReady := true
	for _, c := range r.containers {
		running := c.state.Running != nil
		allReady = allReady && running
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name:                 c.spec.Name,
			State:                c.state,
			LastTerminationState: c.lastState,
			Ready:                running,
			Started:              &running,
			RestartCount:         c.restarts,
			Image:                c.spec.Image,
			ImageID:              c.spec.Image,
			ContainerID:          c.id,
		})
	}
	ended := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	started := r.startTime != nil
	r.setCondition(st, corev1.PodReadyToStartContainers, started && !ended, "")
	r.setCondition(st, corev1.PodInitialized, started, "")
	readyReason := ""
	if ended {
		readyReason = "PodCompleted"
	} else if !allReady {
		readyReason = "ContainersNotReady"
	}
	r.setCondition(st, corev1.ContainersReady, allReady && !ended, readyReason)
	r.setCondition(st, corev1.PodReady, allReady && !ended, readyReason)
	return pod
}

// setCondition sets one of the conditions the kubelet owns, keeping its
// transition time while its status does not change, and leaves the others
// (PodScheduled, DisruptionTarget, ...) as they are.
func (r *podRun) setCondition(st *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason string) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	c, seen := r.conditions[t]
	if !seen || c.Status != status || c.Reason != reason {
		c = corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: metav1.Now()}
		r.conditions[t] = c
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// phaseLocked derives the pod's phase from its containers, as the kubelet
// does for a pod without init containers.
func (r *podRun) phaseLocked() corev1.PodPhase {
	if r.startTime == nil {
		return corev1.PodPending
	}
	running, waiting, failed := 0, 0, 0
	for _, c := range r.containers {
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Terminated != nil:
			if c.state.Terminated.ExitCode != 0 {
				failed++
			}
		default:
			// Waiting after a restart counts as running, as for the kubelet.
			if c.restarts > 0 {
				running++
			} else {
				waiting++
			}
		}
	}
	switch {
	case running > 0:
		return corev1.PodRunning
	case waiting > 0:
		return corev1.PodPending
	case failed > 0 || r.reason != "":
		return corev1.PodFailed
	default:
		return corev1.PodSucceeded
	}
}

func terminationMessagePath(c *corev1.Container) string {
	if c.TerminationMessagePath != "" {
		return c.TerminationMessagePath
	}
	return corev1.TerminationMessagePathDefault
}

// terminationMessage returns a finished container's message: the last 4096
// bytes of its termination message file, or, with FallbackToLogsOnError and
// a non-zero exit code, the end of its log when the file is empty.
func terminationMessage(msgPath string, c *corev1.Container, code int32, logPath string) string {
	if msg := readEnd(msgPath, maxTerminationMessage); len(msg) > 0 {
		return string(msg)
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || code == 0 {
		return ""
	}
	var out bytes.Buffer
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines [][]byte
	data, _ := io.ReadAll(f)
	for line := range bytes.Lines(data) {
		if rec, ok := parseRecord(bytes.TrimSuffix(line, []byte{'\n'})); ok {
			lines = append(lines, rec.text)
		}
	}
	if len(lines) > maxFallbackLines {
		lines = lines[len(lines)-maxFallbackLines:]
	}
	for _, l := range lines {
		out.Write(l)
	}
	b := out.Bytes()
	if len(b) > maxFallbackBytes {
		b = b[len(b)-maxFallbackBytes:]
	}
	return strings.ToValidUTF8(string(b), "")
}

// readEnd returns the last n bytes of the file at path.
func readEnd(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil
	}
	return b
}
