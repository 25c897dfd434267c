package kubequeue

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ListOptions selects the Jobs [Queue.List] returns. The zero value lists
// every kubequeue Job of the queue's default namespace.
type ListOptions struct {
	// Namespace is the namespace to list; empty means the queue's default
	// namespace. AllNamespaces overrides it.
	Namespace string
	// AllNamespaces lists the Jobs of every namespace.
	AllNamespaces bool
	// Worker, if not empty, keeps the Jobs of that worker only.
	Worker string
	// Selector, if not nil, keeps the Jobs whose labels it matches, such as
	// labels.SelectorFromSet(labels.Set{"team": "a"}).
	Selector labels.Selector
	// Limit is the most Jobs returned; zero means all of them.
	Limit int
	// Continue is the Continue of the previous page; empty means the first
	// page.
	Continue string
}

// JobList is a page of [Queue.List].
type JobList struct {
	// Items are the Jobs' summaries, newest first.
	Items []Status
	// Continue, when not empty, is passed in ListOptions.Continue to get
	// the next page.
	Continue string
}

// listPageSize is the number of Jobs List asks the API server for at once.
const listPageSize = 500

// List returns the kubequeue Jobs that opts selects, newest first (by
// creation time, then namespace and name). Since the API server cannot sort,
// each call reads every selected Job (in pages of 500) and returns Limit of
// them; the Continue token marks where a page ended, so Jobs created after
// the first page never shift later pages. A Status from List is built from
// the Job alone: its ExitCode, TerminationMessage and Result are empty, and
// a Job in Kueue's queue is [StateQueued] with no Reason, never
// [StatePreempted] (use [Queue.Status] for them).
func (q *Queue) List(ctx context.Context, opts ListOptions) (JobList, error) {
	p := &problems{sentinel: ErrInvalidOption}
	ns := cmp.Or(opts.Namespace, q.namespace)
	if opts.AllNamespaces {
		ns = metav1.NamespaceAll
	} else {
		p.addAll("ListOptions.Namespace", ns, validation.IsDNS1123Label(ns))
	}
	sel := labels.Set{LabelManagedBy: managedBy}
	if opts.Worker != "" {
		p.addAll("ListOptions.Worker", opts.Worker, validation.IsValidLabelValue(opts.Worker))
		sel[LabelWorker] = opts.Worker
	}
	if opts.Limit < 0 {
		p.add("ListOptions.Limit", strconv.Itoa(opts.Limit), "must not be negative")
	}
	after, err := parseCursor(opts.Continue)
	if err != nil {
		p.add("ListOptions.Continue", opts.Continue, err.Error())
	}
	selector := labels.SelectorFromSet(sel)
	selectable := true
	if opts.Selector != nil {
		var reqs labels.Requirements
		reqs, selectable = opts.Selector.Requirements()
		selector = selector.Add(reqs...)
	}
	if err := p.err(); err != nil {
		return JobList{}, err
	}
	if !selectable {
		return JobList{}, nil // labels.Nothing() selects no Job
	}

	var jobs []batchv1.Job
	lo := metav1.ListOptions{LabelSelector: selector.String(), Limit: listPageSize}
	for {
		page, err := q.client.BatchV1().Jobs(ns).List(ctx, lo)
		if err != nil {
			return JobList{}, fmt.Errorf("kubequeue: list jobs in %q with %s: %w", ns, lo.LabelSelector, err)
		}
		jobs = append(jobs, page.Items...)
		if lo.Continue = page.Continue; lo.Continue == "" {
			break
		}
	}
	slices.SortFunc(jobs, func(a, b batchv1.Job) int { return compareNewest(cursorOf(&a), cursorOf(&b)) })

	var out JobList
	for i := range jobs {
		if after != nil && compareNewest(cursorOf(&jobs[i]), *after) <= 0 {
			continue
		}
		if opts.Limit > 0 && len(out.Items) == opts.Limit {
			out.Continue = cursorOf(&jobs[i-1]).String()
			break
		}
		out.Items = append(out.Items, jobStatus(&jobs[i], nil))
	}
	return out, nil
}

// cursor is a Job's place in List's order. Continue tokens encode the last
// cursor of a page.
type cursor struct {
	Created   time.Time `json:"c"`
	Namespace string    `json:"ns"`
	Name      string    `json:"n"`
}

func cursorOf(job *batchv1.Job) cursor {
	return cursor{Created: job.CreationTimestamp.Time, Namespace: job.Namespace, Name: job.Name}
}

// compareNewest orders cursors newest first, then by namespace and name.
func compareNewest(a, b cursor) int {
	if c := b.Created.Compare(a.Created); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// String encodes the cursor as a Continue token.
func (c cursor) String() string {
	data, _ := json.Marshal(c) // a time and two strings always encode
	return base64.RawURLEncoding.EncodeToString(data)
}

// parseCursor decodes a Continue token; "" is nil, the first page.
func parseCursor(token string) (*cursor, error) {
	if token == "" {
		return nil, nil
	}
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, errors.New("not a token returned by List")
	}
	var c cursor
	if err := json.Unmarshal(data, &c); err != nil || c.Name == "" {
		return nil, errors.New("not a token returned by List")
	}
	return &c, nil
}
