package kubequeuetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	fakerest "k8s.io/client-go/rest/fake"
	k8stesting "k8s.io/client-go/testing"
)

// NewClientset returns client-go's fake clientset holding objects, made to
// act more as an API server does:
//
//   - A created object gets a UID, unless it has one, and a creation time
//     in whole seconds, as the API server stores it, unless it has one.
//     Objects created within the same second keep the order they were
//     created in for [Jobs], [Enqueued] and [PerformEnqueued].
//   - A delete whose UID precondition names another UID than the object's
//     is refused with a Conflict (409), and a dry-run delete deletes
//     nothing. A watch sees a deletion as the API server shows a graceful
//     or foreground one: an update that sets metadata.deletionTimestamp,
//     then the deletion.
//   - A merge, strategic merge or JSON patch that sets metadata.uid to
//     another UID than the object's is refused as Invalid (422), with the
//     cause metadata.uid, as the API server refuses to change an immutable
//     field.
//   - A watch from a resourceVersion also gets the deletions made since
//     then, so that an informer misses no deletion made between its list
//     and its watch (client-go's fake clientset replays only objects added
//     or changed since). If an object deleted since then has been created
//     again, the watch is refused with 410 Gone, as the API server refuses
//     a watch from a resourceVersion it no longer holds, and an informer
//     lists again.
//
// It still does not validate or default objects, run admission, generate
// names, select by label or field on watches, keep metadata.resourceVersion
// or metadata.generation in objects (so resourceVersion preconditions are
// not checked), finalize (a foreground deletion deletes at once, without
// the dependents), collect garbage, or run controllers: nothing runs the
// Jobs it holds (see [SetSucceeded] and [SetFailed]). pods/log answers
// client-go's "fake logs"; a queue from [NewQueue] reads the log that
// [WithLog] gives a pod instead. Objects changed through Tracker() bypass
// all of the above: their deletions are not replayed to watches.
func NewClientset(objects ...runtime.Object) *fake.Clientset {
	client := fake.NewClientset(objects...)
	s := &apiServer{tracker: client.Tracker()}
	client.PrependReactor("create", "*", s.create)
	client.PrependReactor("delete", "*", s.delete)
	client.PrependReactor("patch", "*", s.patch)
	client.PrependWatchReactor("*", s.watch)
	return client
}

// apiServer holds what the reactors of NewClientset need beyond the fake's
// tracker. The fake runs one reactor at a time; mu guards against other
// callers all the same.
type apiServer struct {
	tracker k8stesting.ObjectTracker
	seq     atomic.Int64
	mu      sync.Mutex
	deleted []tombstone
}

// tombstone is an object deleted through the clientset.
type tombstone struct {
	gvr             schema.GroupVersionResource
	namespace, name string
	obj             runtime.Object // its last state
	rv              int64          // the resourceVersion of its deletion
}

// uidPrefix begins the UIDs that NewClientset gives; the rest is the
// creation's sequence number, in 12 digits.
const uidPrefix = "00000000-0000-4000-8000-"

// createdSeq returns the sequence number of the creation of an object
// whose UID NewClientset gave, and whether it is one.
func createdSeq(uid types.UID) (int64, bool) {
	rest, ok := strings.CutPrefix(string(uid), uidPrefix)
	if !ok || len(rest) != 12 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil
}

// create gives a created object a UID and a creation time.
func (s *apiServer) create(action k8stesting.Action) (bool, runtime.Object, error) {
	create, ok := action.(k8stesting.CreateAction)
	if !ok || action.GetSubresource() != "" {
		return false, nil, nil
	}
	if m, ok := create.GetObject().(metav1.Object); ok {
		n := s.seq.Add(1)
		if m.GetUID() == "" {
			m.SetUID(types.UID(fmt.Sprintf("%s%012d", uidPrefix, n)))
		}
		if ts := m.GetCreationTimestamp(); ts.IsZero() {
			// The API server keeps whole seconds (metav1.Time); an object
			// patched on the fake, which encodes it as JSON, would lose
			// the rest.
			m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
		}
	}
	return false, nil, nil
}

// delete deletes an object as the API server does: it checks the UID
// precondition, and records the deletion, with a resourceVersion of its
// own, for watches that start from an earlier one.
func (s *apiServer) delete(action k8stesting.Action) (bool, runtime.Object, error) {
	del, ok := action.(k8stesting.DeleteActionImpl)
	if !ok || del.GetSubresource() != "" {
		return false, nil, nil
	}
	gvr, ns, name := del.GetResource(), del.GetNamespace(), del.GetName()
	obj, err := s.tracker.Get(gvr, ns, name)
	if err != nil {
		return true, nil, err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false, nil, nil
	}
	opts := del.GetDeleteOptions()
	if p := opts.Preconditions; p != nil && p.UID != nil && *p.UID != m.GetUID() {
		return true, nil, apierrors.NewConflict(gvr.GroupResource(), name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if len(opts.DryRun) > 0 {
		return true, obj, nil
	}
	// The fake's tracker gives a deletion no resourceVersion: writing the
	// object once more first, with a deletion timestamp as the API server
	// writes for a graceful or foreground deletion, gives it one, so that a
	// list made after the deletion and a list made before it tell apart.
	if m.GetDeletionTimestamp() == nil {
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		m.SetDeletionTimestamp(&now)
		m.SetDeletionGracePeriodSeconds(new(int64))
	}
	if err := s.tracker.Update(gvr, obj, ns); err != nil {
		return true, nil, err
	}
	rv, err := s.resourceVersion(gvr, obj, ns)
	if err != nil {
		return true, nil, err
	}
	if err := s.tracker.Delete(gvr, ns, name); err != nil {
		return true, nil, err
	}
	s.mu.Lock()
	s.deleted = append(s.deleted, tombstone{gvr: gvr, namespace: ns, name: name, obj: obj, rv: rv})
	s.mu.Unlock()
	return true, obj, nil
}

// resourceVersion returns the resourceVersion that a list of obj's
// resource returns now.
func (s *apiServer) resourceVersion(gvr schema.GroupVersionResource, obj runtime.Object, ns string) (int64, error) {
	gvks, _, err := scheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return 0, err
	}
	list, err := s.tracker.List(gvr, gvks[0], ns)
	if err != nil {
		return 0, err
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(lm.GetResourceVersion(), 10, 64)
}

// patch refuses a patch that changes metadata.uid, as the API server does.
func (s *apiServer) patch(action k8stesting.Action) (bool, runtime.Object, error) {
	p, ok := action.(k8stesting.PatchActionImpl)
	if !ok {
		return false, nil, nil
	}
	uid, ok := patchedUID(p.GetPatchType(), p.GetPatch())
	if !ok {
		return false, nil, nil
	}
	obj, err := s.tracker.Get(p.GetResource(), p.GetNamespace(), p.GetName())
	if err != nil {
		return false, nil, nil // the fake's own reactor answers NotFound
	}
	m, err := meta.Accessor(obj)
	if err != nil || m.GetUID() == types.UID(uid) {
		return false, nil, nil
	}
	gk := schema.GroupKind{Group: p.GetResource().Group}
	if gvks, _, err := scheme.Scheme.ObjectKinds(obj); err == nil {
		gk = gvks[0].GroupKind()
	}
	return true, nil, apierrors.NewInvalid(gk, p.GetName(), field.ErrorList{
		field.Invalid(field.NewPath("metadata", "uid"), uid, "field is immutable"),
	})
}

// patchedUID returns the metadata.uid that a patch sets, if it sets one.
func patchedUID(pt types.PatchType, data []byte) (string, bool) {
	switch pt {
	case types.MergePatchType, types.StrategicMergePatchType:
		var p struct {
			Metadata struct {
				UID *string `json:"uid"`
			} `json:"metadata"`
		}
		if json.Unmarshal(data, &p) != nil || p.Metadata.UID == nil {
			return "", false
		}
		return *p.Metadata.UID, true
	case types.JSONPatchType:
		var ops []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		}
		if json.Unmarshal(data, &ops) != nil {
			return "", false
		}
		for _, op := range ops {
			if uid, ok := op.Value.(string); ok && op.Path == "/metadata/uid" && (op.Op == "add" || op.Op == "replace") {
				return uid, true
			}
		}
	}
	return "", false
}

// watch starts a watch from a resourceVersion with the deletions made
// since then, after the objects added or changed since then that the
// fake's tracker replays.
func (s *apiServer) watch(action k8stesting.Action) (bool, watch.Interface, error) {
	wa, ok := action.(k8stesting.WatchActionImpl)
	if !ok {
		return false, nil, nil
	}
	from, err := strconv.ParseInt(wa.ListOptions.ResourceVersion, 10, 64)
	if err != nil || from == 0 {
		return false, nil, nil // from now: nothing to replay
	}
	gvr, ns := wa.GetResource(), wa.GetNamespace()
	var gone []tombstone
	s.mu.Lock()
	for _, t := range s.deleted {
		if t.gvr == gvr && t.rv > from && (ns == metav1.NamespaceAll || t.namespace == ns) {
			gone = append(gone, t)
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return false, nil, nil
	}
	for _, t := range gone {
		if _, err := s.tracker.Get(gvr, t.namespace, t.name); err == nil {
			// Created again since: its deletion would follow its
			// creation, which the tracker replays.
			return true, nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", from))
		}
	}
	w, err := s.tracker.Watch(gvr, ns, wa.ListOptions)
	if err != nil {
		return true, nil, err
	}
	fw, ok := w.(*watch.RaceFreeFakeWatcher)
	if !ok {
		w.Stop()
		return true, nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", from))
	}
	for _, t := range gone {
		fw.Delete(t.obj.DeepCopyObject())
	}
	return true, fw, nil
}

// annotationLog is the annotation of a pod made by SetSucceeded or
// SetFailed that holds the log given with WithLog.
const annotationLog = "test.kubequeue.io/log"

// logsClient is a fake clientset whose pods/log answers, for a pod with
// annotationLog, that log instead of "fake logs".
type logsClient struct{ *fake.Clientset }

func (c logsClient) CoreV1() corev1client.CoreV1Interface {
	return logsCore{c.Clientset.CoreV1(), c.Clientset}
}

type logsCore struct {
	corev1client.CoreV1Interface
	fake *fake.Clientset
}

func (c logsCore) Pods(namespace string) corev1client.PodInterface {
	return logsPods{c.CoreV1Interface.Pods(namespace), c.fake, namespace}
}

type logsPods struct {
	corev1client.PodInterface
	fake      *fake.Clientset
	namespace string
}

// GetLogs does what the fake's GetLogs does (it records the action, and a
// reactor on "get" "pods/log" that returns a *runtime.Unknown decides the
// answer), but answers the pod's log by default.
func (p logsPods) GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request {
	obj, err := p.fake.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), p.namespace, name)
	pod, ok := obj.(*corev1.Pod)
	if err != nil || !ok || pod.Annotations[annotationLog] == "" {
		return p.PodInterface.GetLogs(name, opts)
	}
	action := k8stesting.GenericActionImpl{}
	action.Verb = "get"
	action.Namespace = p.namespace
	action.Resource = corev1.SchemeGroupVersion.WithResource("pods")
	action.Subresource = "log"
	action.Value = opts
	logs := []byte(pod.Annotations[annotationLog])
	got, err := p.fake.Invokes(action, &runtime.Unknown{Raw: logs})
	if err == nil {
		if u, ok := got.(*runtime.Unknown); ok && u != nil {
			logs = u.Raw
		} else {
			err = fmt.Errorf("kubequeuetest: a reactor on pods/log returned %T, not *runtime.Unknown", got)
		}
	}
	fc := &fakerest.RESTClient{
		Client: fakerest.CreateHTTPClient(func(*http.Request) (*http.Response, error) {
			if err != nil {
				return nil, err
			}
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(logs))}, nil
		}),
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		GroupVersion:         corev1.SchemeGroupVersion,
		VersionedAPIPath:     fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/log", p.namespace, name),
	}
	return fc.Request()
}
