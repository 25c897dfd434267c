package order

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestByCreation(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	obj := func(name string, created time.Duration) metav1.Object {
		return &metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(epoch.Add(created))}
	}
	objs := []metav1.Object{
		obj("c", time.Minute),
		obj("b", 300*time.Millisecond), // the same second as a: by name
		obj("z", 0),
		obj("a", 900*time.Millisecond),
	}
	slices.SortStableFunc(objs, ByCreation)
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	require.Equal(t, []string{"a", "b", "z", "c"}, names)
}
