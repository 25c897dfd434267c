package kubequeue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
)

// retry runs op, and again after errors that say to try again or leave the
// outcome unknown (see outcome), with capped exponential back-off and
// jitter, at most q.tries times, within ctx. It makes no try once ctx has
// ended.
//
// Within an EnqueueMany, which puts a sharedBackoff in ctx, every try
// first waits for it, and a try the API server pushes back on (see
// pushedBack) makes the others wait as long as it does.
func (q *Queue) retry(ctx context.Context, op func() error) error {
	delay := retryInitial
	shared := sharedBackoffOf(ctx)
	count, _ := ctx.Value(retryCountKey{}).(*int)
	var err error
	for try := 1; ; try++ {
		if ctx.Err() != nil {
			if err == nil {
				return ctxErr(ctx)
			}
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		if shared != nil && shared.wait(ctx, q.sleep) != nil {
			if err == nil {
				return ctxErr(ctx)
			}
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		err = op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		if _, transient := outcome(err); try >= q.tries || !transient {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(delay))) + delay/2 // jitter: 0.5 to 1.5 times
		if s, ok := apierrors.SuggestsClientDelay(err); ok {
			wait = max(wait, time.Duration(s)*time.Second)
		}
		delay = min(2*delay, retryMax)
		if shared != nil && pushedBack(err) {
			shared.pause(wait)
		}
		if q.sleep(ctx, wait) != nil {
			return fmt.Errorf("%w (after: %w)", ctxErr(ctx), err)
		}
		if count != nil {
			*count++
		}
	}
}

// retryCountKey is the context key of the counter of tries made again.
type retryCountKey struct{}

// withRetryCount returns ctx with count, which retry increments each time
// it tries a request again: for EnqueueRequest.Retries. One goroutine at a
// time may use it.
func withRetryCount(ctx context.Context, count *int) context.Context {
	return context.WithValue(ctx, retryCountKey{}, count)
}

// pushedBack reports whether err is the API server asking its clients to
// slow down: 429 Too Many Requests (the answer of API Priority and
// Fairness to a request it will not queue), a 5xx, or an answer with a
// Retry-After.
func pushedBack(err error) bool {
	if _, ok := apierrors.SuggestsClientDelay(err); ok {
		return true
	}
	var status apierrors.APIStatus
	return errors.As(err, &status) && (apierrors.IsTooManyRequests(err) || status.Status().Code >= 500)
}

// sharedBackoff makes the requests of one EnqueueMany wait together: when
// the API server pushes back on one of them, the others wait too, rather
// than each finding out with a request of its own.
type sharedBackoff struct {
	mu    sync.Mutex
	until time.Time // no request before
}

// pause makes every request wait until d from now, unless they wait
// longer already.
func (b *sharedBackoff) pause(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := time.Now().Add(d); t.After(b.until) {
		b.until = t
	}
}

// wait waits, with sleep, until the pause ends, or ctx does.
func (b *sharedBackoff) wait(ctx context.Context, sleep func(context.Context, time.Duration) error) error {
	b.mu.Lock()
	d := time.Until(b.until)
	b.mu.Unlock()
	if d <= 0 {
		return nil
	}
	return sleep(ctx, d)
}

type sharedBackoffKey struct{}

// withSharedBackoff returns ctx carrying b, which retry then follows.
func withSharedBackoff(ctx context.Context, b *sharedBackoff) context.Context {
	return context.WithValue(ctx, sharedBackoffKey{}, b)
}

// sharedBackoffOf returns the sharedBackoff ctx carries, or nil.
func sharedBackoffOf(ctx context.Context) *sharedBackoff {
	b, _ := ctx.Value(sharedBackoffKey{}).(*sharedBackoff)
	return b
}

// Errors by which a try asks retry for another.
var (
	// errNameFreed reports that the Job that took a name was deleted
	// before it could be read: the create is tried again.
	errNameFreed = errors.New("kubequeue: the job that had the name was deleted meanwhile")
	// errChanged reports that a Job changed between a look and a delete
	// conditional on it: the delete is tried again.
	errChanged = errors.New("kubequeue: the job changed meanwhile")
)

// Back-off between tries: from retryInitial, doubling up to retryMax, each
// with jitter.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
)

// outcome classifies a request that failed with err: maybe reports whether
// the API server may have acted on it, and transient whether another try
// can succeed. An answer of the API server tells both; an error from before
// the request could be sent (a refused dial, a failed DNS lookup or TLS
// handshake, a request that could not be built) means it was not acted on;
// any other error (a lost connection, a broken pipe, EOF, a reset, a
// timeout, the caller's context ending) may have come after the request
// was written, so its outcome is unknown, and it is tried again.
func outcome(err error) (maybe, transient bool) {
	if errors.Is(err, errNameFreed) || errors.Is(err, errChanged) {
		return false, true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		switch {
		case apierrors.IsTooManyRequests(err):
			return false, true // refused before it was handled
		case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsInternalError(err),
			apierrors.IsServiceUnavailable(err), code >= 500:
			return true, true
		case code != 0 || status.Status().Reason != metav1.StatusReasonUnknown:
			return false, false // a definite answer
		}
		return true, true
	}
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		construct *rest.RequestConstructionError
		op        *net.OpError
		dns       *net.DNSError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &header), errors.As(err, &construct):
		return false, false // cannot be sent, and never will
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &dns), utilnet.IsConnectionRefused(err):
		return false, true // not sent: the API server may come back
	}
	return true, true
}

// retryable reports whether a request that failed with err may succeed
// when tried again, while ctx lasts.
func retryable(ctx context.Context, err error) bool {
	_, transient := outcome(err)
	return transient && ctx.Err() == nil
}

// uidChanged reports whether err refuses a write for changing the immutable
// metadata.uid: the object is not the one the UID named.
func uidChanged(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Field == "metadata.uid" {
			return true
		}
	}
	return false
}
