package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubequeue/kubequeue/localcluster"
)

func TestRun_Usage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "NoCommand", args: nil},
		{name: "UnknownCommand", args: []string{"down"}, want: `unknown command "down"`},
		{name: "ImageWithoutPath", args: []string{"up", "-image", "app:v1"}, want: `want ref=/path/to/executable, got "app:v1"`},
		{name: "ImageWithoutRef", args: []string{"up", "-image", "=/bin/true"}, want: "want ref=/path/to/executable"},
		{name: "ImageOnInstall", args: []string{"install", "-image", "app:v1=/bin/true"}, want: "flag provided but not defined: -image"},
		{name: "KueueOnUp", args: []string{"up", "-kueue"}, want: "flag provided but not defined: -kueue"},
		{name: "ExtraArguments", args: []string{"up", "now"}, want: `unexpected arguments ["now"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			require.ErrorIs(t, err, errUsage)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, stdout.String())
		})
	}
}

// TestRun_Install checks that install prints the binary directory, here one
// that KUBEQUEUE_LOCALCLUSTER_BIN names, and reports what it lacks.
func TestRun_Install(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(localcluster.EnvBinDir, dir)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"install"}, &stdout, &stderr)
	require.ErrorContains(t, err, localcluster.EnvBinDir+"="+dir+" lacks etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")
	require.Empty(t, stdout.String())

	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, b), nil, 0o755))
	}
	require.NoError(t, run(t.Context(), []string{"install", "-releases", "off"}, &stdout, &stderr))
	require.Equal(t, dir+"\n", stdout.String())
}

// TestRun_UpRefusesBadImage checks that up refuses an image whose
// executable does not exist before it starts anything, and that a relative
// path is taken from the working directory.
func TestRun_UpRefusesBadImage(t *testing.T) {
	t.Setenv(localcluster.EnvBinDir, t.TempDir())
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"up", "-image", "app:v1=./no-such-app"}, &stdout, &stderr)
	wd, werr := os.Getwd()
	require.NoError(t, werr)
	require.ErrorContains(t, err, `image app:v1: "`+filepath.Join(wd, "no-such-app")+`" is not an executable file`)
	require.Empty(t, stdout.String())
}
