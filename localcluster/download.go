package localcluster

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// releasesOff, as the release URL, turns downloads off.
const releasesOff = "off"

// Download limits: a file larger than maxDownload, or a checksum file or
// release description larger than maxSmallDownload, is refused; a download
// that receives nothing for stallTimeout is abandoned.
const (
	maxDownload      = 1 << 30
	maxSmallDownload = 1 << 20
	stallTimeout     = time.Minute
)

// errStalled ends a download that has received nothing for stallTimeout.
var errStalled = errors.New("no data received for " + stallTimeout.String())

// releaseBase returns the base URL release binaries are downloaded from:
// a mirror's, without a trailing slash, "" for the upstream sites, or
// releasesOff.
func releaseBase(opts Options) (string, error) {
	base, from := opts.ReleaseURL, "Options.ReleaseURL"
	if base == "" {
		base, from = os.Getenv(EnvReleaseURL), EnvReleaseURL
	}
	if base == "" || base == releasesOff {
		return base, nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("localcluster: %s %q is not an http or https URL, nor %q", from, base, releasesOff)
	}
	return strings.TrimSuffix(base, "/"), nil
}

// A downloader fetches release files from the upstream sites or a mirror.
type downloader struct {
	base     string // "" for the upstream sites
	client   *http.Client
	progress io.Writer
}

// downloadComponent downloads c's release binaries into dir, checking each
// against its published SHA-256, and returns a line per binary for the
// INSTALLED file. It removes whatever it wrote on failure.
func downloadComponent(ctx context.Context, c componentSpec, base, dir string, progress io.Writer) ([]string, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("release binaries are downloaded on Linux only, not %s", runtime.GOOS)
	}
	d := &downloader{base: base, progress: progress, client: &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     true,
	}}}
	defer d.client.CloseIdleConnections()
	lines, err := c.download(ctx, d, dir)
	if err != nil {
		for _, b := range c.binaries {
			_ = os.Remove(filepath.Join(dir, b))
		}
		return nil, err
	}
	return lines, nil
}

// url returns where the file at hostPath (host and path of its upstream
// URL) is downloaded from.
func (d *downloader) url(hostPath string) string {
	if d.base == "" {
		return "https://" + hostPath
	}
	return d.base + "/" + hostPath
}

// get copies the body of a GET of u to w, at most limit bytes.
func (d *downloader) get(ctx context.Context, u string, limit int64, w io.Writer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kubequeue-localcluster")
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errStalled) {
			return fmt.Errorf("GET %s: %w", u, errStalled)
		}
		return err // it names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if resp.ContentLength > limit {
		return fmt.Errorf("GET %s: %d bytes, more than %d", u, resp.ContentLength, limit)
	}
	n, err := io.Copy(w, &progressReader{r: io.LimitReader(resp.Body, limit+1), stall: stall})
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, stalled(ctx, err))
	}
	if n > limit {
		return fmt.Errorf("GET %s: more than %d bytes", u, limit)
	}
	return nil
}

// stalled returns errStalled in place of err when that is why ctx ended.
func stalled(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errStalled) {
		return errStalled
	}
	return err
}

// progressReader postpones its stall timer each time it reads something.
type progressReader struct {
	r     io.Reader
	stall *time.Timer
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.stall.Reset(stallTimeout)
	}
	return n, err
}

// getSmall returns the body of a GET of u, a checksum file or a release
// description.
func (d *downloader) getSmall(ctx context.Context, u string) ([]byte, error) {
	var b bytes.Buffer
	if err := d.get(ctx, u, maxSmallDownload, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fetch downloads u to path, mode 0755, and checks that its SHA-256 is
// want (hex). A file that does not match is removed.
func (d *downloader) fetch(ctx context.Context, u, path, want string) error {
	start := time.Now()
	fmt.Fprintf(d.progress, "localcluster: downloading %s\n", u)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	h := sha256.New()
	err = d.get(ctx, u, maxDownload, io.MultiWriter(f, h))
	err = errors.Join(err, f.Close())
	if err == nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			err = fmt.Errorf("%s: SHA-256 %s, not the published %s: refused", u, got, want)
		}
	}
	if err != nil {
		_ = os.Remove(path)
		return err
	}
	size := 0.0
	if fi, err := os.Stat(path); err == nil {
		size = float64(fi.Size()) / (1 << 20)
	}
	fmt.Fprintf(d.progress, "localcluster:   %s: %.0f MiB in %s, SHA-256 checked\n", filepath.Base(path), size, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// checkSum returns s, trimmed, if it is a SHA-256 in hex.
func checkSum(s, from string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%s: %q is not a SHA-256", from, s)
	}
	return s, nil
}

// downloadKubernetes downloads kube-apiserver, kube-controller-manager and
// kube-scheduler from dl.k8s.io, each checked against its .sha256 file.
func downloadKubernetes(ctx context.Context, d *downloader, dir string) ([]string, error) {
	names := []string{binAPIServer, binControllerManager, binScheduler}
	lines := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			u := d.url(fmt.Sprintf("dl.k8s.io/release/%s/bin/linux/%s/%s", KubernetesVersion, runtime.GOARCH, name))
			sumFile, err := d.getSmall(ctx, u+".sha256")
			if err != nil {
				errs[i] = err
				return
			}
			fields := strings.Fields(string(sumFile))
			if len(fields) == 0 {
				errs[i] = fmt.Errorf("%s.sha256 is empty", u)
				return
			}
			sum, err := checkSum(fields[0], u+".sha256")
			if err != nil {
				errs[i] = err
				return
			}
			if errs[i] = d.fetch(ctx, u, filepath.Join(dir, name), sum); errs[i] == nil {
				lines[i] = fmt.Sprintf("%s: downloaded from %s, SHA-256 %s", name, u, sum)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first is enough: all are built from source then
		}
	}
	return lines, nil
}

// downloadEtcd downloads etcd's release archive from GitHub, checked against
// the release's SHA256SUMS, and extracts etcd from it.
func downloadEtcd(ctx context.Context, d *downloader, dir string) ([]string, error) {
	release := "github.com/etcd-io/etcd/releases/download/" + EtcdVersion + "/"
	archive := "etcd-" + EtcdVersion + "-linux-" + runtime.GOARCH + ".tar.gz"
	sumsURL := d.url(release + "SHA256SUMS")
	sums, err := d.getSmall(ctx, sumsURL)
	if err != nil {
		return nil, err
	}
	sum, err := sumFor(sums, archive, sumsURL)
	if err != nil {
		return nil, err
	}
	u := d.url(release + archive)
	tarball := filepath.Join(dir, archive)
	if err := d.fetch(ctx, u, tarball, sum); err != nil {
		return nil, err
	}
	defer os.Remove(tarball)
	member := strings.TrimSuffix(archive, ".tar.gz") + "/" + binEtcd
	if err := extract(tarball, member, filepath.Join(dir, binEtcd)); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return []string{fmt.Sprintf("%s: extracted from %s, SHA-256 %s", binEtcd, u, sum)}, nil
}

// sumFor returns the SHA-256 that a sha256sum listing gives for name.
func sumFor(listing []byte, name, from string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(listing))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == name {
			return checkSum(f[0], from)
		}
	}
	return "", fmt.Errorf("%s lists no %s", from, name)
}

// extract writes the regular file member of the gzipped tar archive to
// path, mode 0755.
func extract(archive, member, path string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("no %s in the archive", member)
		}
		if err != nil {
			return err
		}
		if h.Name != member && h.Name != "./"+member {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s in the archive is not a regular file", member)
		}
		out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, io.LimitReader(tr, maxDownload))
		if err = errors.Join(err, out.Close()); err != nil {
			_ = os.Remove(path)
		}
		return err
	}
}

// downloadKwok downloads kwok's release binary from GitHub, checked against
// the digest GitHub publishes for the release asset.
func downloadKwok(ctx context.Context, d *downloader, dir string) ([]string, error) {
	asset := "kwok-linux-" + runtime.GOARCH
	releaseURL := d.url("api.github.com/repos/kubernetes-sigs/kwok/releases/tags/" + KwokVersion)
	body, err := d.getSmall(ctx, releaseURL)
	if err != nil {
		return nil, err
	}
	var release struct {
		Assets []struct {
			Name   string `json:"name"`
			Digest string `json:"digest"`
		} `json:"assets"`
	}
	if err := json.Unmarshal(body, &release); err != nil {
		return nil, fmt.Errorf("%s: %w", releaseURL, err)
	}
	digest := ""
	for _, a := range release.Assets {
		if a.Name == asset {
			digest = a.Digest
		}
	}
	hexSum, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return nil, fmt.Errorf("%s publishes no SHA-256 digest for %s", releaseURL, asset)
	}
	sum, err := checkSum(hexSum, releaseURL)
	if err != nil {
		return nil, err
	}
	u := d.url("github.com/kubernetes-sigs/kwok/releases/download/" + KwokVersion + "/" + asset)
	if err := d.fetch(ctx, u, filepath.Join(dir, binKwok), sum); err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("%s: downloaded from %s, SHA-256 %s", binKwok, u, sum)}, nil
}
