package localkubelet

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"VAR": "value", "EMPTY": "", "DOLLAR": "$"}
	// The cases follow the kubelet's own expansion tests
	// (third_party/forked/golang/expansion in kubernetes/kubernetes).
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(VAR)", "value"},
		{"a $(VAR) b", "a value b"},
		{"$(VAR)$(VAR)", "valuevalue"},
		{"$(EMPTY)", ""},
		{"$(DOLLAR)(VAR)", "$(VAR)"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(VAR)", "$(VAR)"},
		{"$$$(VAR)", "$value"},
		{"$$$$(VAR)", "$$(VAR)"},
		{"costs $$5", "costs $5"},
		{"costs $5", "costs $5"},
		{"$(VAR", "$(VAR"},
		{"$(", "$("},
		{"$", "$"},
		{"end$", "end$"},
		{"$()", "$()"},
		{"$(VAR)$", "value$"},
		{`"$(VAR)"`, `"value"`},
		{"\\u0024(VAR)", "\\u0024(VAR)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, expand(tt.in, env), "expand(%q)", tt.in)
	}
}
