package localcluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// sha256File returns the SHA-256 of the file at path, in hex.
func sha256File(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// mirrorLayout lays out release files as the upstream sites publish them,
// from the binaries in bin (etcd, kube-apiserver, ...), and returns what a
// mirror serves: <host>/<path> to a local file. It writes the files that
// are not binaries (checksums, etcd's archive, kwok's release description)
// into dir.
func mirrorLayout(t testing.TB, bin, dir string) map[string]string {
	t.Helper()
	arch := runtime.GOARCH
	files := map[string]string{}
	write := func(hostPath string, data []byte) {
		path := filepath.Join(dir, strings.ReplaceAll(hostPath, "/", "_"))
		require.NoError(t, os.WriteFile(path, data, 0o644))
		files[hostPath] = path
	}

	for _, name := range []string{binAPIServer, binControllerManager, binScheduler} {
		hostPath := fmt.Sprintf("dl.k8s.io/release/%s/bin/linux/%s/%s", KubernetesVersion, arch, name)
		files[hostPath] = filepath.Join(bin, name)
		write(hostPath+".sha256", []byte(sha256File(t, filepath.Join(bin, name))))
	}

	// etcd's archive holds a directory with etcd, etcdctl, etcdutl and docs.
	base := "etcd-" + EtcdVersion + "-linux-" + arch
	archive := filepath.Join(dir, base+".tar.gz")
	f, err := os.Create(archive)
	require.NoError(t, err)
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	require.NoError(t, err)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: base + "/", Typeflag: tar.TypeDir, Mode: 0o755}))
	for _, m := range []struct{ name, src string }{{"README.md", ""}, {binEtcd, filepath.Join(bin, binEtcd)}, {"etcdctl", ""}} {
		var data []byte
		if m.src != "" {
			data, err = os.ReadFile(m.src)
			require.NoError(t, err)
		} else {
			data = []byte("not etcd\n")
		}
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: base + "/" + m.name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data))}))
		_, err = tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	release := "github.com/etcd-io/etcd/releases/download/" + EtcdVersion + "/"
	files[release+base+".tar.gz"] = archive
	write(release+"SHA256SUMS", fmt.Appendf(nil, "%s  etcd-%s-darwin-arm64.zip\n%s  %s.tar.gz\n",
		strings.Repeat("0", 64), EtcdVersion, sha256File(t, archive), base))

	kwok := "kwok-linux-" + arch
	files["github.com/kubernetes-sigs/kwok/releases/download/"+KwokVersion+"/"+kwok] = filepath.Join(bin, binKwok)
	desc, err := json.Marshal(map[string]any{
		"tag_name": KwokVersion,
		"assets": []map[string]string{
			{"name": "kwokctl-linux-" + arch, "digest": "sha256:" + strings.Repeat("1", 64)},
			{"name": kwok, "digest": "sha256:" + sha256File(t, filepath.Join(bin, binKwok))},
		},
	})
	require.NoError(t, err)
	write("api.github.com/repos/kubernetes-sigs/kwok/releases/tags/"+KwokVersion, desc)
	return files
}

// A mirror serves release files over HTTP and counts the requests.
type mirror struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string]string // <host>/<path> -> local file
	requests []string
}

func newMirror(t testing.TB, files map[string]string) *mirror {
	t.Helper()
	m := &mirror{files: files}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hostPath := strings.TrimPrefix(r.URL.Path, "/")
		m.mu.Lock()
		m.requests = append(m.requests, hostPath)
		path, ok := m.files[hostPath]
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, path)
	}))
	t.Cleanup(m.Close)
	return m
}

// set replaces what the mirror serves at hostPath.
func (m *mirror) set(t testing.TB, hostPath string, data []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "replaced")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[hostPath] = path
}

// fakeBinaries writes a small distinct file for each binary into a new
// directory.
func fakeBinaries(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range binaries {
		require.NoError(t, os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\necho "+b+"\n"), 0o755))
	}
	return dir
}

func skipUnlessDownloads(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("release binaries are downloaded on Linux only")
	}
}

func TestInstall_FromMirror(t *testing.T) {
	skipUnlessDownloads(t)
	noBinDir(t)
	f := &fakeBuild{}
	swapBuild(t, f)
	bin := fakeBinaries(t)
	m := newMirror(t, mirrorLayout(t, bin, t.TempDir()))
	cache := t.TempDir()
	var progress bytes.Buffer
	dir, err := Install(t.Context(), Options{CacheDir: cache, ReleaseURL: m.URL + "/", Log: &progress})
	require.NoError(t, err)
	require.Empty(t, f.built, "nothing is built from source: %s", progress.String())
	for _, b := range binaries {
		want, err := os.ReadFile(filepath.Join(bin, b))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, b))
		require.NoError(t, err, b)
		require.Equal(t, string(want), string(got), b)
		fi, err := os.Stat(filepath.Join(dir, b))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), b)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, append([]string{installedFile}, binaries...), names, "the etcd archive is not kept")
	installed, err := os.ReadFile(filepath.Join(dir, installedFile))
	require.NoError(t, err)
	require.Contains(t, string(installed), "kube-apiserver: downloaded from "+m.URL+"/dl.k8s.io/release/"+KubernetesVersion+"/bin/linux/"+runtime.GOARCH+"/kube-apiserver, SHA-256 "+sha256File(t, filepath.Join(bin, binAPIServer)))
	require.Contains(t, string(installed), "etcd: extracted from "+m.URL+"/github.com/etcd-io/etcd/releases/download/")
	require.Contains(t, string(installed), "kwok: downloaded from "+m.URL+"/github.com/kubernetes-sigs/kwok/releases/download/")
	require.Contains(t, progress.String(), "SHA-256 checked")
}

// TestInstall_BadChecksum serves a binary that does not match its
// published SHA-256: it is refused, never installed, and that component
// alone is built from source; if that fails too, Install says why both
// failed.
func TestInstall_BadChecksum(t *testing.T) {
	skipUnlessDownloads(t)
	noBinDir(t)
	tamper := []struct {
		name     string
		hostPath func(m map[string]string) string
		module   string
		want     string
	}{
		{
			name:   "Kubernetes",
			module: "kubernetes",
			hostPath: func(map[string]string) string {
				return fmt.Sprintf("dl.k8s.io/release/%s/bin/linux/%s/kube-scheduler", KubernetesVersion, runtime.GOARCH)
			},
			want: "/kube-scheduler: SHA-256 ",
		},
		{
			name:   "Etcd",
			module: "etcd",
			hostPath: func(map[string]string) string {
				return "github.com/etcd-io/etcd/releases/download/" + EtcdVersion + "/etcd-" + EtcdVersion + "-linux-" + runtime.GOARCH + ".tar.gz"
			},
			want: ".tar.gz: SHA-256 ",
		},
		{
			name:   "Kwok",
			module: "kwok",
			hostPath: func(map[string]string) string {
				return "github.com/kubernetes-sigs/kwok/releases/download/" + KwokVersion + "/kwok-linux-" + runtime.GOARCH
			},
			want: "/kwok-linux-" + runtime.GOARCH + ": SHA-256 ",
		},
	}
	for _, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			bin := fakeBinaries(t)
			layout := mirrorLayout(t, bin, t.TempDir())
			m := newMirror(t, layout)
			m.set(t, tt.hostPath(layout), []byte("#!/bin/sh\necho tampered\n"))

			f := &fakeBuild{}
			swapBuild(t, f)
			var progress bytes.Buffer
			cache := t.TempDir()
			dir, err := Install(t.Context(), Options{CacheDir: cache, ReleaseURL: m.URL, Log: &progress})
			require.NoError(t, err)
			require.Equal(t, []string{tt.module}, f.built, "only the refused component is built")
			require.Contains(t, progress.String(), tt.want)
			require.Contains(t, progress.String(), "not the published")
			require.Contains(t, progress.String(), "refused")
			for _, b := range binaries {
				got, err := os.ReadFile(filepath.Join(dir, b))
				require.NoError(t, err)
				require.NotContains(t, string(got), "tampered", "%s is the refused download", b)
			}

			f2 := &fakeBuild{err: fmt.Errorf("offline")}
			swapBuild(t, f2)
			_, err = Install(t.Context(), Options{CacheDir: t.TempDir(), ReleaseURL: m.URL})
			require.ErrorContains(t, err, "not the published")
			require.ErrorContains(t, err, "build from source: offline")
		})
	}
}

func TestInstall_MirrorErrors(t *testing.T) {
	skipUnlessDownloads(t)
	noBinDir(t)
	arch := runtime.GOARCH
	tests := []struct {
		name     string
		hostPath string
		data     *string // nil: not served
		module   string
		want     string
	}{
		{
			name:     "NoChecksumFile",
			hostPath: fmt.Sprintf("dl.k8s.io/release/%s/bin/linux/%s/kube-apiserver.sha256", KubernetesVersion, arch),
			module:   "kubernetes",
			want:     "kube-apiserver.sha256: 404 Not Found",
		},
		{
			name:     "ChecksumNotHex",
			hostPath: fmt.Sprintf("dl.k8s.io/release/%s/bin/linux/%s/kube-apiserver.sha256", KubernetesVersion, arch),
			data:     ptr("<html>moved</html>"),
			module:   "kubernetes",
			want:     `"<html>moved</html>" is not a SHA-256`,
		},
		{
			name:     "EtcdNotListed",
			hostPath: "github.com/etcd-io/etcd/releases/download/" + EtcdVersion + "/SHA256SUMS",
			data:     ptr(strings.Repeat("0", 64) + "  something-else.tar.gz\n"),
			module:   "etcd",
			want:     "SHA256SUMS lists no etcd-" + EtcdVersion + "-linux-" + arch + ".tar.gz",
		},
		{
			name:     "KwokNoDigest",
			hostPath: "api.github.com/repos/kubernetes-sigs/kwok/releases/tags/" + KwokVersion,
			data:     ptr(`{"assets":[{"name":"kwok-linux-` + arch + `"}]}`),
			module:   "kwok",
			want:     "publishes no SHA-256 digest for kwok-linux-" + arch,
		},
		{
			name:     "KwokNotJSON",
			hostPath: "api.github.com/repos/kubernetes-sigs/kwok/releases/tags/" + KwokVersion,
			data:     ptr(`rate limited`),
			module:   "kwok",
			want:     "invalid character",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layout := mirrorLayout(t, fakeBinaries(t), t.TempDir())
			if tt.data == nil {
				delete(layout, tt.hostPath)
			}
			m := newMirror(t, layout)
			if tt.data != nil {
				m.set(t, tt.hostPath, []byte(*tt.data))
			}
			f := &fakeBuild{}
			swapBuild(t, f)
			var progress bytes.Buffer
			_, err := Install(t.Context(), Options{CacheDir: t.TempDir(), ReleaseURL: m.URL, Log: &progress})
			require.NoError(t, err)
			require.Equal(t, []string{tt.module}, f.built)
			require.Contains(t, progress.String(), tt.want)
		})
	}
}

func TestInstall_Unreachable(t *testing.T) {
	skipUnlessDownloads(t)
	noBinDir(t)
	f := &fakeBuild{}
	swapBuild(t, f)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	var progress bytes.Buffer
	_, err := Install(t.Context(), Options{CacheDir: t.TempDir(), ReleaseURL: url, Log: &progress})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"etcd", "kwok", "kubernetes"}, f.built)
	require.Contains(t, progress.String(), "connection refused")
}

func TestReleaseBase(t *testing.T) {
	tests := []struct {
		name, opt, env, want, wantErr string
	}{
		{name: "Upstream", want: ""},
		{name: "Off", opt: "off", want: "off"},
		{name: "EnvOff", env: "off", want: "off"},
		{name: "Mirror", opt: "https://mirror.example.com/k8s/", want: "https://mirror.example.com/k8s"},
		{name: "EnvMirror", env: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{name: "OptionWins", opt: "https://a.example.com", env: "off", want: "https://a.example.com"},
		{name: "NoScheme", opt: "mirror.example.com", wantErr: `Options.ReleaseURL "mirror.example.com" is not an http or https URL, nor "off"`},
		{name: "EnvFTP", env: "ftp://mirror.example.com", wantErr: EnvReleaseURL + ` "ftp://mirror.example.com" is not an http or https URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvReleaseURL, tt.env)
			got, err := releaseBase(Options{ReleaseURL: tt.opt})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("InstallRefuses", func(t *testing.T) {
		noBinDir(t)
		_, err := Install(t.Context(), Options{CacheDir: t.TempDir(), ReleaseURL: "mirror"})
		require.ErrorContains(t, err, "is not an http or https URL")
	})
}

func TestDownloader_URL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "https://dl.k8s.io/release/x", (&downloader{}).url("dl.k8s.io/release/x"))
	require.Equal(t, "http://m:1/p/dl.k8s.io/release/x", (&downloader{base: "http://m:1/p"}).url("dl.k8s.io/release/x"))
}

func TestDownloader_Limits(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write(bytes.Repeat([]byte("x"), 100))
	}))
	t.Cleanup(srv.Close)
	d := &downloader{client: srv.Client(), progress: io.Discard}
	err := d.get(t.Context(), srv.URL+"/sized", 10, io.Discard)
	require.ErrorContains(t, err, "100 bytes, more than 10")
	err = d.get(t.Context(), srv.URL+"/chunked", 10, io.Discard)
	require.ErrorContains(t, err, "more than 10 bytes")
	require.NoError(t, d.get(t.Context(), srv.URL+"/sized", 100, io.Discard))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = d.get(ctx, srv.URL+"/sized", 100, io.Discard)
	require.ErrorIs(t, err, context.Canceled)
}

func TestExtract(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "d/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "d/bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}))
	_, err := tw.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(archive, buf.Bytes(), 0o644))

	out := filepath.Join(dir, "out")
	require.NoError(t, extract(archive, "d/bin", out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "abc", string(b))
	fi, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())

	require.ErrorContains(t, extract(archive, "d/link", filepath.Join(dir, "l")), "d/link in the archive is not a regular file")
	require.ErrorContains(t, extract(archive, "d/none", filepath.Join(dir, "n")), "no d/none in the archive")
	require.Error(t, extract(out, "d/bin", filepath.Join(dir, "x")), "not gzip")
}

func TestSumFor(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	listing := []byte(strings.Repeat("0", 64) + "  a.tar.gz\n" + sum + " *b.tar.gz\nbad line\n")
	got, err := sumFor(listing, "b.tar.gz", "SUMS")
	require.NoError(t, err)
	require.Equal(t, sum, got)
	_, err = sumFor(listing, "c.tar.gz", "SUMS")
	require.EqualError(t, err, "SUMS lists no c.tar.gz")
	_, err = sumFor([]byte("xyz  c.tar.gz\n"), "c.tar.gz", "SUMS")
	require.EqualError(t, err, `SUMS: "xyz" is not a SHA-256`)
}
