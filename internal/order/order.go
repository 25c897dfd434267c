// Package order holds the order in which kubequeue lists a Job's pods and
// the test kit lists Jobs: by creation time, then by name.
package order

import (
	"cmp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ByCreation compares a and b by creation time, in whole seconds as the API
// server keeps it, then by name.
func ByCreation(a, b metav1.Object) int {
	return cmp.Or(
		a.GetCreationTimestamp().Truncate(time.Second).Compare(b.GetCreationTimestamp().Truncate(time.Second)),
		cmp.Compare(a.GetName(), b.GetName()),
	)
}
