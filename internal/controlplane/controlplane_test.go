package controlplane

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// goMod is what the tests need from a go.mod file.
type goMod struct {
	require map[string]string // module path -> version
	replace []goModReplace
	tools   []string
}

type goModReplace struct {
	old, new, version string
}

// parseGoMod reads the require, replace and tool directives of a go.mod file, in
// their single-line and block forms.
func parseGoMod(t *testing.T, path string) goMod {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	mod := goMod{require: map[string]string{}}
	block := ""
	for line := range strings.Lines(string(data)) {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if block != "" && f[0] == ")" {
			block = ""
			continue
		}
		if block == "" && len(f) == 2 && f[1] == "(" {
			block = f[0]
			continue
		}
		verb := block
		if verb == "" {
			verb, f = f[0], f[1:]
		}
		switch verb {
		case "require":
			require.Len(t, f, 2, "require line %q in %s", line, path)
			mod.require[f[0]] = f[1]
		case "tool":
			require.Len(t, f, 1, "tool line %q in %s", line, path)
			mod.tools = append(mod.tools, f[0])
		case "replace":
			i := slices.Index(f, "=>")
			require.Positive(t, i, "replace line %q in %s", line, path)
			r := goModReplace{old: f[0], new: f[i+1]}
			if len(f) > i+2 {
				r.version = f[i+2]
			}
			mod.replace = append(mod.replace, r)
		}
	}
	return mod
}

func TestVersions_ToolsModules(t *testing.T) {
	t.Parallel()
	tools, err := ToolsDir()
	require.NoError(t, err)

	tests := []struct {
		name    string
		module  string // directory under tools/controlplane
		path    string // the module it must require
		version string
	}{
		{name: "Kubernetes", module: "kubernetes", path: "k8s.io/kubernetes", version: KubernetesVersion},
		{name: "Etcd", module: "etcd", path: "go.etcd.io/etcd/server/v3", version: EtcdVersion},
		{name: "Kwok", module: "kwok", path: "sigs.k8s.io/kwok", version: KwokVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mod := parseGoMod(t, filepath.Join(tools, tt.module, "go.mod"))
			got, ok := mod.require[tt.path]
			require.True(t, ok, "tools/controlplane/%s/go.mod does not require %s", tt.module, tt.path)
			require.Equal(t, tt.version, got, "tools/controlplane/%s/go.mod requires %s %s", tt.module, tt.path, got)
		})
	}
}

// TestVersions_ToolDirectives keeps the packages the build compiles in step
// with the tool directives of each tools module, so `go tool` in that
// module runs the same programs.
func TestVersions_ToolDirectives(t *testing.T) {
	t.Parallel()
	tools, err := ToolsDir()
	require.NoError(t, err)
	for _, s := range buildSteps {
		t.Run(s.module, func(t *testing.T) {
			t.Parallel()
			mod := parseGoMod(t, filepath.Join(tools, s.module, "go.mod"))
			require.ElementsMatch(t, s.packages, mod.tools)
		})
	}
}

// stagingVersion is the version of the k8s.io staging modules (client-go,
// api, ...) released with KubernetesVersion: v1.X.Y becomes v0.X.Y.
func stagingVersion(t *testing.T) string {
	t.Helper()
	rest, ok := strings.CutPrefix(KubernetesVersion, "v1.")
	require.True(t, ok, "KubernetesVersion %s is not v1.x.y", KubernetesVersion)
	return "v0." + rest
}

func TestVersions_StagingReplaces(t *testing.T) {
	t.Parallel()
	tools, err := ToolsDir()
	require.NoError(t, err)
	want := stagingVersion(t)
	require.Equal(t, "v0.37.2", want)

	mod := parseGoMod(t, filepath.Join(tools, "kubernetes", "go.mod"))
	var staging []string
	for _, r := range mod.replace {
		if !strings.HasPrefix(r.old, "k8s.io/") {
			continue
		}
		staging = append(staging, r.old)
		require.Equal(t, r.old, r.new, "replace %s => %s %s", r.old, r.new, r.version)
		require.Equal(t, want, r.version, "replace %s => %s %s", r.old, r.new, r.version)
	}
	require.Contains(t, staging, "k8s.io/client-go")
	require.Contains(t, staging, "k8s.io/api")
	require.Contains(t, staging, "k8s.io/apimachinery")
}

func TestVersions_MainModule(t *testing.T) {
	t.Parallel()
	want := stagingVersion(t)
	mod := parseGoMod(t, filepath.Join("..", "..", "go.mod"))
	for _, path := range []string{"k8s.io/client-go", "k8s.io/api", "k8s.io/apimachinery"} {
		require.Equal(t, want, mod.require[path], "go.mod requires %s %q", path, mod.require[path])
	}
}

func TestVersions_LDFlags(t *testing.T) {
	t.Parallel()
	parts := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")
	require.Len(t, parts, 3)
	require.Contains(t, kubernetesLDFlags, "version.gitVersion="+KubernetesVersion+" ")
	require.Contains(t, kubernetesLDFlags, "version.gitMajor="+parts[0]+" ")
	require.Contains(t, kubernetesLDFlags, "version.gitMinor="+parts[1]+" ")
}

// copyTools copies the go.mod and go.sum of each tools module into a new
// directory and returns it.
func copyTools(t *testing.T) string {
	t.Helper()
	tools, err := ToolsDir()
	require.NoError(t, err)
	dst := t.TempDir()
	for _, s := range buildSteps {
		require.NoError(t, os.MkdirAll(filepath.Join(dst, s.module), 0o755))
		for _, f := range []string{"go.mod", "go.sum"} {
			b, err := os.ReadFile(filepath.Join(tools, s.module, f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, s.module, f), b, 0o644))
		}
	}
	return dst
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	tools, err := ToolsDir()
	require.NoError(t, err)
	base, err := cacheKey(tools)
	require.NoError(t, err)

	t.Run("Stable", func(t *testing.T) {
		t.Parallel()
		again, err := cacheKey(tools)
		require.NoError(t, err)
		require.Equal(t, base, again)
		copied, err := cacheKey(copyTools(t))
		require.NoError(t, err)
		require.Equal(t, base, copied, "the key depends on the files' content, not their location")
	})

	t.Run("Versions", func(t *testing.T) {
		t.Parallel()
		want := regexp.MustCompile("^kubernetes-" + regexp.QuoteMeta(KubernetesVersion) +
			"-etcd-" + regexp.QuoteMeta(EtcdVersion) +
			"-kwok-" + regexp.QuoteMeta(KwokVersion) + "-[0-9a-f]{12}$")
		require.Regexp(t, want, base)
	})

	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		dir := copyTools(t)
		require.NoError(t, os.Remove(filepath.Join(dir, "etcd", "go.sum")))
		_, err := cacheKey(dir)
		require.ErrorIs(t, err, os.ErrNotExist)
	})

	changes := []struct {
		name   string
		module string
		file   string
	}{
		{name: "EtcdGoMod", module: "etcd", file: "go.mod"},
		{name: "EtcdGoSum", module: "etcd", file: "go.sum"},
		{name: "KwokGoMod", module: "kwok", file: "go.mod"},
		{name: "KwokGoSum", module: "kwok", file: "go.sum"},
		{name: "KubernetesGoMod", module: "kubernetes", file: "go.mod"},
		{name: "KubernetesGoSum", module: "kubernetes", file: "go.sum"},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyTools(t)
			path := filepath.Join(dir, tt.module, tt.file)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, append(b, "example.com/x v1.0.0 h1:AAAA=\n"...), 0o644))
			changed, err := cacheKey(dir)
			require.NoError(t, err)
			require.NotEqual(t, base, changed)
			require.Equal(t, base[:len(base)-12], changed[:len(changed)-12], "only the hash differs")
		})
	}
}

// emptyCache points the user cache directory at a new empty directory, and
// unsets EnvBinDir, for the rest of the test.
func emptyCache(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("os.UserCacheDir follows XDG_CACHE_HOME on Linux only")
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv(EnvBinDir, "")
	return cache
}

func TestCacheDir(t *testing.T) {
	cache := emptyCache(t)
	tools, err := ToolsDir()
	require.NoError(t, err)
	key, err := cacheKey(tools)
	require.NoError(t, err)

	gotTools, dir, err := cacheDir()
	require.NoError(t, err)
	require.Equal(t, tools, gotTools)
	require.Equal(t, filepath.Join(cache, "kubequeue", "controlplane", key), dir)

	// Nothing is built in the empty cache: BinDir says how to build.
	_, err = BinDir()
	require.ErrorIs(t, err, ErrNotBuilt)
	require.ErrorContains(t, err, "make controlplane")
	require.ErrorContains(t, err, dir)
	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Empty(t, entries, "BinDir must not write to the cache")
}

// The tests that set EnvBinDir cannot run in parallel (t.Setenv).
func TestBinDir_EnvBinDir(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		missing []string // nil: the directory is complete
	}{
		{name: "Empty", files: nil, missing: binaryFiles},
		{
			name:    "SomeMissing",
			files:   []string{binEtcd, binKwok},
			missing: []string{binAPIServer, binControllerManager, binScheduler, fileKwokStages},
		},
		{name: "StagesMissing", files: binaryFiles[:len(binaryFiles)-1], missing: []string{fileKwokStages}},
		{name: "Complete", files: append(slices.Clone(binaryFiles), binKubelet)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o755))
			}
			t.Setenv(EnvBinDir, dir)

			got, err := BinDir()
			var progress bytes.Buffer
			ensured, ensureErr := Ensure(t.Context(), &progress)
			require.Empty(t, progress.String(), "Ensure must not build when %s is set", EnvBinDir)
			entries, rerr := os.ReadDir(dir)
			require.NoError(t, rerr)
			require.Len(t, entries, len(tt.files), "nothing is written to %s", EnvBinDir)

			if tt.missing == nil {
				require.NoError(t, err)
				require.Equal(t, dir, got)
				require.NoError(t, ensureErr)
				require.Equal(t, dir, ensured)
				return
			}
			want := fmt.Sprintf("%s=%s lacks %s", EnvBinDir, dir, strings.Join(tt.missing, ", "))
			require.ErrorContains(t, err, want)
			require.ErrorContains(t, ensureErr, want)
			require.Empty(t, got)
			require.Empty(t, ensured)
		})
	}
}

func TestMissingFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.Equal(t, binaryFiles, missingFiles(dir))
	require.Equal(t, binaryFiles, missingFiles(filepath.Join(dir, "absent")))
	for _, f := range binaryFiles {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	require.Empty(t, missingFiles(dir))
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := certutil.ParseCertsPEM(certPEM)
	require.NoError(t, err)
	require.Len(t, certs, 1)
	return certs[0]
}

func TestAuthority_Serving(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test-ca")
	require.NoError(t, err)
	caCert := parseCert(t, ca.certPEM)
	require.True(t, caCert.IsCA)
	require.Equal(t, "test-ca", caCert.Subject.CommonName)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)

	pair, err := ca.serving("kube-apiserver", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	require.NoError(t, err)
	_, err = tls.X509KeyPair(pair.certPEM, pair.keyPEM)
	require.NoError(t, err, "the key matches the certificate")
	cert := parseCert(t, pair.certPEM)
	require.Equal(t, "kube-apiserver", cert.Subject.CommonName)
	require.False(t, cert.IsCA)
	require.True(t, cert.NotAfter.After(time.Now().Add(24*time.Hour)))

	tests := []struct {
		name    string
		host    string
		usage   x509.ExtKeyUsage
		wantErr bool
	}{
		{name: "IP", host: "127.0.0.1", usage: x509.ExtKeyUsageServerAuth},
		{name: "DNS", host: "localhost", usage: x509.ExtKeyUsageServerAuth},
		{name: "OtherIP", host: "127.0.0.2", usage: x509.ExtKeyUsageServerAuth, wantErr: true},
		{name: "OtherDNS", host: "example.com", usage: x509.ExtKeyUsageServerAuth, wantErr: true},
		{name: "ClientAuth", host: "127.0.0.1", usage: x509.ExtKeyUsageClientAuth, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := cert.Verify(x509.VerifyOptions{
				Roots:     roots,
				DNSName:   tt.host,
				KeyUsages: []x509.ExtKeyUsage{tt.usage},
			})
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
		})
	}

	t.Run("OtherCA", func(t *testing.T) {
		t.Parallel()
		other, err := newAuthority("other-ca")
		require.NoError(t, err)
		pool := x509.NewCertPool()
		pool.AddCert(other.cert)
		_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"})
		require.Error(t, err)
	})
}

func TestAuthority_Client(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test-ca")
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, ca.certPEM))

	tests := []struct {
		name   string
		user   string
		groups []string
	}{
		{name: "Admin", user: "kubequeue-admin", groups: []string{"system:masters"}},
		{name: "TwoGroups", user: "alice", groups: []string{"dev", "ops"}},
		{name: "NoGroups", user: "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pair, err := ca.client(tt.user, tt.groups)
			require.NoError(t, err)
			_, err = tls.X509KeyPair(pair.certPEM, pair.keyPEM)
			require.NoError(t, err)
			cert := parseCert(t, pair.certPEM)
			require.Equal(t, tt.user, cert.Subject.CommonName)
			require.Equal(t, tt.groups, cert.Subject.Organization)
			_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			require.NoError(t, err)
			_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			require.Error(t, err, "a client certificate must not serve")
		})
	}
}

func TestNewServiceAccountKey(t *testing.T) {
	t.Parallel()
	a, err := newServiceAccountKey()
	require.NoError(t, err)
	key, err := keyutil.ParsePrivateKeyPEM(a)
	require.NoError(t, err)
	require.IsType(t, &ecdsa.PrivateKey{}, key)
	b, err := newServiceAccountKey()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
}

func TestFreePorts(t *testing.T) {
	t.Parallel()
	const n = 5
	ports, err := freePorts(n)
	require.NoError(t, err)
	require.Len(t, ports, n)
	hi := ephemeralLow()
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d drawn twice in %v", p, ports)
		seen[p] = true
		require.GreaterOrEqual(t, p, 1024)
		require.Less(t, p, hi, "port %d is in the ephemeral range from %d", p, hi)
	}

	// A port held by a listener is not free. (Whether a drawn port is still
	// free a moment later depends on the other processes of the machine,
	// such as a control plane starting in another test package; Start
	// retries on a conflict.)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	require.False(t, portFree(l.Addr().(*net.TCPAddr).Port))
}

func TestDrawPorts(t *testing.T) {
	t.Parallel()
	// Draws 0, 1, 1, 2, 3, 4 from [100, 110): 101 is busy, 101 repeats.
	draws := []int{0, 1, 1, 2, 3, 4}
	next := func(int) int { d := draws[0]; draws = draws[1:]; return d }
	busy := map[int]bool{101: true}
	ports, err := drawPorts(3, 100, 110, next, func(p int) bool { return !busy[p] })
	require.NoError(t, err)
	require.Equal(t, []int{100, 102, 103}, ports)

	_, err = drawPorts(1, 100, 110, func(n int) int { return 5 }, func(int) bool { return false })
	require.ErrorContains(t, err, "no free port found in [100, 110)")
}

func TestTailFile(t *testing.T) {
	t.Parallel()
	var big strings.Builder
	for i := range 10000 { // 10 bytes a line: about 98 KiB
		fmt.Fprintf(&big, "line %04d\n", i)
	}
	require.Greater(t, big.Len(), 64<<10)
	// One line longer than what tailFile reads, then two short ones: the
	// fragment of the long line must not come back as a line.
	longLine := strings.Repeat("x", 80<<10) + "\nshort 1\nshort 2\n"

	tests := []struct {
		name    string
		content *string // nil: no file
		n       int
		want    string
	}{
		{name: "FewerLines", content: ptr("a\nb\n"), n: 5, want: "a\nb"},
		{name: "ExactlyN", content: ptr("a\nb\nc\n"), n: 3, want: "a\nb\nc"},
		{name: "MoreLines", content: ptr("a\nb\nc\nd\ne\n"), n: 2, want: "d\ne"},
		{name: "NoFinalNewline", content: ptr("a\nb\nc"), n: 2, want: "b\nc"},
		{name: "TrailingNewlines", content: ptr("a\nb\nc\n\n\n"), n: 2, want: "b\nc"},
		{name: "EmptyLineKept", content: ptr("a\n\nb\n"), n: 2, want: "\nb"},
		{name: "OneLine", content: ptr("only\n"), n: 1, want: "only"},
		{name: "Empty", content: ptr(""), n: 3, want: ""},
		{name: "BiggerThan64KiB", content: ptr(big.String()), n: 3, want: "line 9997\nline 9998\nline 9999"},
		{name: "MissingFile", content: nil, n: 3},
		{name: "ZeroLines", content: ptr("a\nb\n"), n: 0, want: ""},
		{name: "NegativeLines", content: ptr("a\nb\n"), n: -1, want: ""},
		{name: "PartialFirstLineDropped", content: ptr(longLine), n: 5, want: "short 1\nshort 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "x.log")
			if tt.content == nil {
				got := tailFile(path, tt.n)
				require.True(t, strings.HasPrefix(got, "(") && strings.HasSuffix(got, ")"), "got %q", got)
				require.Contains(t, got, path)
				require.Contains(t, got, "no such file")
				return
			}
			require.NoError(t, os.WriteFile(path, []byte(*tt.content), 0o644))
			require.Equal(t, tt.want, tailFile(path, tt.n))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process supervision is tested on Linux")
	}
}

// startShell runs script with /bin/sh under startProcess, logging to a new
// directory, and stops it when the test ends.
func startShell(t *testing.T, name, script string) *process {
	t.Helper()
	p, err := startProcess(name, "/bin/sh", []string{"-c", script}, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { p.stop(time.Second) })
	return p
}

// running reports whether pid is a live process: a zombie, dead and waiting
// for its parent (here init) to reap it, does not count.
func running(pid int) bool {
	if !processAlive(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	return s[i+2] != 'Z'
}

// waitUntil polls cond every 10ms for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProcess_Stop(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)

	t.Run("NoStrayChildren", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "child.pid")
		p := startShell(t, "parent", "sleep 300 & echo $! > "+pidFile+"; wait")
		var child int
		require.True(t, waitUntil(2*time.Second, func() bool {
			b, err := os.ReadFile(pidFile)
			if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
				return false
			}
			child, err = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil
		}), "the shell did not write its child's pid")
		shell := p.cmd.Process.Pid
		require.True(t, running(shell))
		require.True(t, running(child))
		require.NoError(t, p.exited())

		start := time.Now()
		p.stop(2 * time.Second)
		require.Less(t, time.Since(start), time.Second, "SIGTERM is enough, no need to wait for the grace period")
		require.False(t, processAlive(shell), "stop returns once the shell is reaped")
		require.True(t, waitUntil(2*time.Second, func() bool { return !running(child) }),
			"the shell's child %d still runs after stop", child)
		require.ErrorContains(t, p.exited(), "signal: terminated")
	})

	t.Run("IgnoresSIGTERM", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "stubborn", `trap "" TERM; echo ready; sleep 300`)
		require.True(t, waitUntil(2*time.Second, func() bool {
			return strings.Contains(tailFile(p.logPath, 1), "ready")
		}), "the trap was not set")

		const grace = 300 * time.Millisecond
		start := time.Now()
		p.stop(grace)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, grace, "SIGTERM is ignored, so only SIGKILL after the grace period ends it")
		require.Less(t, took, grace+2*time.Second)
		require.False(t, processAlive(p.cmd.Process.Pid))
		require.ErrorContains(t, p.exited(), "signal: killed")
	})

	t.Run("AlreadyExited", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "quick", "exit 0")
		<-p.done
		start := time.Now()
		p.stop(2 * time.Second)
		require.Less(t, time.Since(start), time.Second)
	})
}

// envParentDeathHelper makes the test binary act as a process that starts
// a component and waits to be killed (see TestProcess_ParentDeath).
const envParentDeathHelper = "KUBEQUEUE_TEST_PARENT_DEATH_PIDFILE"

func init() {
	pidFile := os.Getenv(envParentDeathHelper)
	if pidFile == "" {
		return
	}
	p, err := startProcess("sleeper", "/bin/sleep", []string{"300"}, filepath.Dir(pidFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.cmd.Process.Pid)), 0o644); err != nil {
		os.Exit(2)
	}
	select {} // until killed
}

// TestProcess_ParentDeath kills, with SIGKILL, a process that started a
// component (as a test timeout or kill -9 would): the kernel must end the
// component too, since nothing in the dead process can.
func TestProcess_ParentDeath(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)
	pidFile := filepath.Join(t.TempDir(), "sleeper.pid")
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), envParentDeathHelper+"="+pidFile)
	require.NoError(t, parent.Start())
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })

	var pid int
	require.True(t, waitUntil(10*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 {
			return false
		}
		pid, err = strconv.Atoi(string(b))
		return err == nil
	}), "the helper never started its component")
	require.True(t, running(pid))

	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()
	require.True(t, waitUntil(5*time.Second, func() bool { return !running(pid) }),
		"the component (pid %d) outlived the process that started it", pid)
}

func TestProcess_Exited(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)

	t.Run("Running", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "sleeper", "sleep 300")
		require.NoError(t, p.exited())
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, p.exited())
	})

	t.Run("ExitsOnItsOwn", func(t *testing.T) {
		t.Parallel()
		p := startShell(t, "boomer", "echo starting; echo boom >&2; exit 3")
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			require.FailNow(t, "the process did not exit")
		}
		err := p.exited()
		require.Error(t, err)
		require.ErrorContains(t, err, "boomer exited")
		require.ErrorContains(t, err, "exit status 3")
		require.ErrorContains(t, err, p.logPath, "the error says where the log is")
		require.Equal(t, "starting\nboom", tailFile(p.logPath, 20), "stdout and stderr go to the log")
	})
}

func TestStartProcess_Errors(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)

	t.Run("NoBinary", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, err := startProcess("ghost", filepath.Join(dir, "ghost"), nil, dir)
		require.ErrorContains(t, err, "start ghost")
		require.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("NoLogDir", func(t *testing.T) {
		t.Parallel()
		_, err := startProcess("sh", "/bin/sh", []string{"-c", "exit 0"}, filepath.Join(t.TempDir(), "absent"))
		require.ErrorContains(t, err, "sh log")
	})
}

func TestRemoveStaleDirs(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("processAlive is always false without Unix")
	}
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.ProcessState.Pid()
	require.False(t, processAlive(dead))
	self := os.Getpid()

	root := t.TempDir()
	tests := []struct {
		name string
		dir  string
		kept bool
	}{
		{name: "DeadPid", dir: fmt.Sprintf("kubequeue-etcd-%d-x", dead)},
		{name: "DeadPidOtherSuffix", dir: fmt.Sprintf("kubequeue-etcd-%d-123456", dead)},
		{name: "OwnPid", dir: fmt.Sprintf("kubequeue-etcd-%d-x", self), kept: true},
		{name: "Unrelated", dir: "unrelated", kept: true},
		{name: "OtherPrefix", dir: fmt.Sprintf("kubequeue-controlplane-%d-x", dead), kept: true},
		{name: "NotAPid", dir: "kubequeue-etcd-abc-x", kept: true},
	}
	for _, tt := range tests {
		require.NoError(t, os.MkdirAll(filepath.Join(root, tt.dir, "member"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, tt.dir, "member", "db"), []byte("data"), 0o644))
	}

	removeStaleDirs(root, "kubequeue-etcd-")

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := os.Stat(filepath.Join(root, tt.dir))
			if tt.kept {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

func TestWriteKubeconfig(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test-ca")
	require.NoError(t, err)
	cp := &ControlPlane{ca: ca, host: "https://127.0.0.1:6443"}

	tests := []struct {
		name      string
		user      string
		groups    []string
		namespace string
	}{
		{name: "Default", user: "kubequeue-admin", groups: []string{"system:masters"}, namespace: "default"},
		{name: "OtherNamespace", user: "alice", groups: []string{"dev"}, namespace: "jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := cp.UserConfig(tt.user, tt.groups...)
			require.NoError(t, err)
			require.Equal(t, cp.host, cfg.Host)
			require.Equal(t, tt.user, parseCert(t, cfg.CertData).Subject.CommonName)

			path := filepath.Join(t.TempDir(), "kubeconfig")
			require.NoError(t, WriteKubeconfig(path, cfg, tt.namespace))

			loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{})
			got, err := loader.ClientConfig()
			require.NoError(t, err)
			require.Equal(t, cfg.Host, got.Host)
			require.Equal(t, cfg.CAData, got.CAData)
			require.Equal(t, cfg.CertData, got.CertData)
			require.Equal(t, cfg.KeyData, got.KeyData)
			ns, _, err := loader.Namespace()
			require.NoError(t, err)
			require.Equal(t, tt.namespace, ns)

			_, err = rest.TransportFor(got)
			require.NoError(t, err, "the loaded configuration builds a TLS transport")
		})
	}

	t.Run("PathIsADirectory", func(t *testing.T) {
		t.Parallel()
		cfg, err := cp.UserConfig("bob")
		require.NoError(t, err)
		err = WriteKubeconfig(t.TempDir(), cfg, "default")
		require.ErrorContains(t, err, "controlplane: write kubeconfig")
	})
}

func TestControlPlane_UserConfig(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test-ca")
	require.NoError(t, err)
	cp := &ControlPlane{ca: ca, host: "https://127.0.0.1:6443"}
	_, err = cp.UserConfig("")
	require.ErrorContains(t, err, "empty user name")

	cfg, err := cp.UserConfig("carol", "a", "b")
	require.NoError(t, err)
	cert := parseCert(t, cfg.CertData)
	require.Equal(t, "carol", cert.Subject.CommonName)
	require.Equal(t, []string{"a", "b"}, cert.Subject.Organization)
	require.Equal(t, ca.certPEM, cfg.CAData)
}

// fakeProcess is a process that has not exited and never will.
func fakeProcess() *process {
	return &process{name: "fake", done: make(chan struct{})}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()

	t.Run("SucceedsAfterFailures", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := waitFor(t.Context(), "the thing", fakeProcess(), func(ctx context.Context) error {
			calls++
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("check called without a deadline")
			}
			if calls < 4 {
				return fmt.Errorf("not yet (%d)", calls)
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 4, calls)
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := waitFor(ctx, "the thing", fakeProcess(), func(context.Context) error {
			return errors.New("still broken")
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "waiting for the thing")
		require.ErrorContains(t, err, "still broken")
		require.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("ProcessExits", func(t *testing.T) {
		t.Parallel()
		skipUnlessLinux(t)
		p := startShell(t, "dying", "sleep 0.2; echo goodbye; exit 1")
		start := time.Now()
		err := waitFor(t.Context(), "the thing", p, func(context.Context) error {
			return errors.New("never ready")
		})
		require.ErrorContains(t, err, "dying exited")
		require.ErrorContains(t, err, "exit status 1")
		require.ErrorContains(t, err, p.logPath)
		require.Equal(t, "goodbye", tailFile(p.logPath, 20))
		require.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("AlreadyExited", func(t *testing.T) {
		t.Parallel()
		p := fakeProcess()
		p.logPath = filepath.Join(t.TempDir(), "fake.log")
		p.err = errors.New("exit status 2")
		close(p.done)
		called := false
		err := waitFor(t.Context(), "the thing", p, func(context.Context) error {
			called = true
			return nil
		})
		require.ErrorContains(t, err, "fake exited (exit status 2)")
		require.False(t, called, "the process is checked before the check")
	})
}

func TestHTTPCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("[-]etcd failed"))
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name string
		path string
		want string // empty: no error
	}{
		{name: "OK", path: "/ok"},
		{name: "NotReady", path: "/readyz", want: "503 Service Unavailable: [-]etcd failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := httpCheck(srv.Client(), srv.URL+tt.path)(t.Context())
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestLockFile(t *testing.T) {
	t.Parallel()
	skipUnlessLinux(t)
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := lockFile(t.Context(), path, func() { t.Error("waiting called for a free lock") })
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	waited := 0
	_, err = lockFile(ctx, path, func() { waited++ })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, waited)

	unlock()
	unlock2, err := lockFile(t.Context(), path, func() { t.Error("waiting called after unlock") })
	require.NoError(t, err)
	unlock2()
}
