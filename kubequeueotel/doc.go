// Package kubequeueotel traces kubequeue Jobs with OpenTelemetry, from the
// Enqueue that creates a Job to the perform that runs it in the Job's pod,
// in one trace.
//
// [EnqueueMiddleware] starts a span of kind producer around the creation
// of each Job ([kubequeue.WithEnqueueMiddleware]) and writes its W3C trace
// context into the Job: in the annotations [AnnotationTraceparent] and
// [AnnotationTracestate], for whoever looks at the Job, and in the worker
// container's environment as TRACEPARENT and TRACESTATE, the variables
// OpenTelemetry's specification names for a trace context handed to a
// process. [PerformMiddleware], in the runtime of the Job's container
// ([kubequeue.WithPerformMiddleware]), reads them and runs perform in a span
// of kind consumer whose parent is the enqueue span:
//
//	queue, err := kubequeue.New(client, kubequeue.WithEnqueueMiddleware(kubequeueotel.EnqueueMiddleware()))
//
//	func main() {
//		kubequeue.NewRuntime(workers, kubequeue.WithPerformMiddleware(kubequeueotel.PerformMiddleware())).Main()
//	}
//
// The variables hold the values themselves rather than refer to the
// annotations through the downward API: the downward API reads the pod's
// annotations, not the Job's, so the trace context would have to be
// written twice; and a literal value is also what [kubequeue.PerformJob]
// and kubequeuetest see, so a test that performs a Job in-process continues
// its trace too. A TRACEPARENT the worker's own options set is replaced.
//
// Spans follow OpenTelemetry's semantic conventions for messaging where they
// apply: the enqueue span is named "send <worker>", the perform span
// "process <worker>", with messaging.system "kubequeue",
// messaging.destination.name the worker, messaging.message.id the Job's
// name, and the Kubernetes attributes k8s.namespace.name, k8s.job.name and
// k8s.pod.name. A failed call records its error and sets the span's status
// to Error; the perform span has kubequeue.exit_code, the container's exit
// code. Jobs of [kubequeue.Queue.Schedule] have no enqueue span: their
// perform span starts a trace of its own.
//
// The tracer comes from the global TracerProvider ([otel.GetTracerProvider])
// unless [WithTracerProvider] gives one. The runtime's process ends with
// os.Exit once perform returns, so a program that exports spans in batches
// must flush them first: give its provider a synchronous exporter, or wrap
// [kubequeue.Runtime.Run] and shut the provider down before exiting.
package kubequeueotel
