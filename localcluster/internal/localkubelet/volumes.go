package localkubelet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A volume's files are written once, before the pod's containers start, to
// <pod dir>/volumes/<name>; a container sees each of its volumeMounts at
// $KUBEQUEUE_LOCAL_ROOT/<mountPath>, a symbolic link to that directory (or to
// the subPath inside it). Secrets and ConfigMaps changed later are not
// written again.

// volumeError is a pod's volume that cannot be set up. With retry (what it
// needs may yet be created) the pod waits with its reason and message;
// otherwise the pod fails with them.
type volumeError struct {
	reason  string
	message string
	retry   bool
}

func (e *volumeError) Error() string { return e.message }

// writeVolumes writes the pod's volumes under dir and returns the host
// directory of each, by volume name.
func (p *provider) writeVolumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			paths[v.Name] = v.HostPath.Path
			continue
		}
		vdir := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return nil, err
		}
		paths[v.Name] = vdir
		var files []volumeFile
		var err error
		switch {
		case v.EmptyDir != nil:
		case v.Secret != nil:
			files, err = p.secretFiles(pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
		case v.ConfigMap != nil:
			files, err = p.configMapFiles(pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
		case v.DownwardAPI != nil:
			files, err = downwardAPIFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			files, err = p.projectedFiles(ctx, pod, v.Projected)
		default:
			return nil, &volumeError{reason: "UnsupportedVolume", message: fmt.Sprintf("volume %q: the local kubelet supports emptyDir, hostPath, secret, configMap, downwardAPI and projected volumes only", v.Name)}
		}
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := f.write(vdir); err != nil {
				return nil, fmt.Errorf("volume %q: %w", v.Name, err)
			}
		}
	}
	return paths, nil
}

// mountVolumes makes c's volumeMounts visible under root. env expands
// $(VAR) in subPathExpr.
func mountVolumes(c *corev1.Container, root string, volumes, env map[string]string) error {
	for _, m := range c.VolumeMounts {
		src, ok := volumes[m.Name]
		if !ok {
			return &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("volume mount %q: no volume of that name", m.Name)}
		}
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expand(m.SubPathExpr, env)
		}
		if sub != "" {
			if !filepath.IsLocal(sub) {
				return &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("volume mount %q: subPath %q is not a relative path inside the volume", m.Name, sub)}
			}
			src = filepath.Join(src, sub)
			// A subPath that is not there yet is a new directory, as the
			// kubelet makes it; one that exists may be a single file.
			if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return err
				}
			}
		}
		dst, err := inRoot(root, m.MountPath)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(src, dst); err != nil {
			return fmt.Errorf("volume mount %q at %s: %w", m.Name, m.MountPath, err)
		}
	}
	return nil
}

// inRoot returns the host path of the container path p under root.
func inRoot(root, p string) (string, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if rel == "" || !filepath.IsLocal(rel) {
		return "", &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("path %q cannot be placed in the container's root", p)}
	}
	return filepath.Join(root, rel), nil
}

// A volumeFile is one file of a volume.
type volumeFile struct {
	path string // relative to the volume's directory
	data []byte
	mode os.FileMode
}

func (f volumeFile) write(dir string) error {
	if !filepath.IsLocal(f.path) {
		return fmt.Errorf("item path %q is not local", f.path)
	}
	p := filepath.Join(dir, f.path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, f.data, f.mode); err != nil {
		return err
	}
	return os.Chmod(p, f.mode) // WriteFile's mode is subject to the umask
}

// keyFiles turns a Secret's or ConfigMap's data into files: every key, or
// only the given items.
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) ([]volumeFile, error) {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	if len(items) == 0 {
		files := make([]volumeFile, 0, len(data))
		for k, v := range data {
			files = append(files, volumeFile{path: k, data: v, mode: mode})
		}
		return files, nil
	}
	files := make([]volumeFile, 0, len(items))
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("%s %q has no key %q", kind, name, it.Key), retry: true}
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files = append(files, volumeFile{path: it.Path, data: v, mode: m})
	}
	return files, nil
}

func (p *provider) secretFiles(ns, name string, items []corev1.KeyToPath, optional *bool, mode *int32) ([]volumeFile, error) {
	s, err := p.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil, nil
	}
	if err != nil {
		return nil, &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("secret %q: %v", name, err), retry: true}
	}
	return keyFiles("secret", name, s.Data, items, mode)
}

func (p *provider) configMapFiles(ns, name string, items []corev1.KeyToPath, optional *bool, mode *int32) ([]volumeFile, error) {
	cm, err := p.configMaps.ConfigMaps(ns).Get(name)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil, nil
	}
	if err != nil {
		return nil, &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("configmap %q: %v", name, err), retry: true}
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", name, data, items, mode)
}

func downwardAPIFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32) ([]volumeFile, error) {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	files := make([]volumeFile, 0, len(items))
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("downward API file %q: the local kubelet supports fieldRef only", it.Path)}
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, err
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files = append(files, volumeFile{path: it.Path, data: []byte(v), mode: m})
	}
	return files, nil
}

// fieldValue returns the value of a downward API field of pod.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if k, ok := strings.CutPrefix(path, prefix+"['"); ok {
			if k, ok := strings.CutSuffix(k, "']"); ok {
				return m[k], nil
			}
		}
	}
	return "", &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("downward API field %q is not supported by the local kubelet", path)}
}

// formatMap renders labels or annotations as the kubelet does in a downward
// API file: key="value" lines, sorted.
func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func (p *provider) projectedFiles(ctx context.Context, pod *corev1.Pod, v *corev1.ProjectedVolumeSource) ([]volumeFile, error) {
	var files []volumeFile
	for _, src := range v.Sources {
		var fs []volumeFile
		var err error
		switch {
		case src.Secret != nil:
			fs, err = p.secretFiles(pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, v.DefaultMode)
		case src.ConfigMap != nil:
			fs, err = p.configMapFiles(pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, v.DefaultMode)
		case src.DownwardAPI != nil:
			fs, err = downwardAPIFiles(pod, src.DownwardAPI.Items, v.DefaultMode)
		case src.ServiceAccountToken != nil:
			fs, err = p.tokenFile(ctx, pod, src.ServiceAccountToken, v.DefaultMode)
		default:
			err = &volumeError{reason: "UnsupportedVolume", message: "projected volume: the local kubelet supports secret, configMap, downwardAPI and serviceAccountToken sources only"}
		}
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	return files, nil
}

// tokenFile requests a token for the pod's service account, bound to the
// pod, as the kubelet does for the volume that admission adds to every pod.
func (p *provider) tokenFile(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, defaultMode *int32) ([]volumeFile, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tok, err := p.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, &volumeError{reason: "CreateContainerConfigError", message: fmt.Sprintf("service account token for %q: %v", sa, err), retry: true}
	}
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	return []volumeFile{{path: src.Path, data: []byte(tok.Status.Token), mode: mode}}, nil
}
