package kubequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is what Status reads of a Kueue Workload
// (kueue.x-k8s.io/v1beta2), without depending on Kueue's Go module.
type workload struct {
	Metadata struct {
		Name              string      `json:"name"`
		CreationTimestamp metav1.Time `json:"creationTimestamp"`
	} `json:"metadata"`
	Status struct {
		Conditions []metav1.Condition `json:"conditions"`
	} `json:"status"`
}

// Kueue's Workload conditions and reasons that Status reads.
const (
	workloadQuotaReserved = "QuotaReserved"
	workloadEvicted       = "Evicted"
	workloadPreempted     = "Preempted"
	reasonPreempted       = "Preempted"
	// workloadJobUIDLabel holds, on a Workload, the UID of its Job.
	workloadJobUIDLabel = "kueue.x-k8s.io/job-uid"
)

// workloads returns the Kueue Workloads of job, read through the
// clientset's REST client: Kueue's API is not in client-go.
func (q *Queue) workloads(ctx context.Context, job *batchv1.Job) ([]workload, error) {
	rc := q.client.Discovery().RESTClient()
	if rc == nil || isNilPointer(rc) {
		return nil, errors.New("kubequeue: the client has no REST client")
	}
	body, err := rc.Get().
		AbsPath("/apis/kueue.x-k8s.io/v1beta2/namespaces", job.Namespace, "workloads").
		Param("labelSelector", labels.Set{workloadJobUIDLabel: string(job.UID)}.String()).
		SetHeader("Accept", "application/json").
		Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("kubequeue: list kueue workloads of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	var list struct {
		Items []workload `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("kubequeue: list kueue workloads of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return list.Items, nil
}

// kueueStatus refines st, of a Job in StateQueued, with its Workloads: the
// newest says why it waits, and whether Kueue preempted it. It is pure.
func kueueStatus(st *Status, wls []workload) {
	if len(wls) == 0 {
		return
	}
	wl := slices.MaxFunc(wls, func(a, b workload) int {
		return a.Metadata.CreationTimestamp.Compare(b.Metadata.CreationTimestamp.Time)
	})
	conds := wl.Status.Conditions
	if c := workloadCondition(conds, workloadEvicted); c != nil && c.Status == metav1.ConditionTrue && c.Reason == reasonPreempted {
		st.State, st.Reason, st.Message = StatePreempted, c.Reason, c.Message
		return
	}
	if c := workloadCondition(conds, workloadPreempted); c != nil && c.Status == metav1.ConditionTrue {
		st.State, st.Reason, st.Message = StatePreempted, reasonPreempted, c.Message
		return
	}
	if c := workloadCondition(conds, workloadQuotaReserved); c != nil {
		st.Reason, st.Message = c.Reason, c.Message
	}
}

// workloadCondition returns the condition of type t, or nil.
func workloadCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
