package localkubelet

import (
	"fmt"
	"os"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// EnvRoot is the variable through which a container finds the directory it
// would see as / in a real container: its volume mounts and its termination
// message file are there. A container that mounts a volume at /etc/config
// reads $KUBEQUEUE_LOCAL_ROOT/etc/config.
const EnvRoot = "KUBEQUEUE_LOCAL_ROOT"

// hostEnv are the variables a container inherits from the kubelet's
// environment unless it sets them itself; a real container gets them from
// its image.
var hostEnv = []string{"PATH", "HOME", "TMPDIR", "LANG"}

// envMap returns the container's env, as virtual-kubelet resolved it.
func envMap(c *corev1.Container) map[string]string {
	vars := make(map[string]string, len(c.Env)+len(hostEnv)+2)
	for _, e := range c.Env {
		vars[e.Name] = e.Value
	}
	return vars
}

// An imageError is an image the local kubelet cannot run: it is not mapped
// to an executable and the container sets no command.
type imageError struct{ image string }

func (e *imageError) Error() string {
	return fmt.Sprintf("image %q is not mapped to a local executable and the container sets no command: the local kubelet pulls no images (map the image to an executable, or set command)", e.image)
}

// command returns the argv and environment of container c of pod, as the
// kubelet and a container runtime would build them:
//
//   - command, when set, replaces the image's entrypoint and is looked up in
//     the container's PATH (a relative path with a slash, in its working
//     directory); otherwise the image's entrypoint is the
//     executable the image is mapped to;
//   - args follow; $(VAR) in command and args is expanded from the
//     container's env.
func (p *provider) command(pod *corev1.Pod, c *corev1.Container, root, workDir string) (argv, env []string, err error) {
	vars := envMap(c)
	expanded := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expand(s, vars)
		}
		return out
	}
	args := expanded(c.Args)
	if len(c.Command) > 0 {
		argv = append(expanded(c.Command), args...)
	} else {
		exe, ok := p.images.lookup(c.Image)
		if !ok {
			return nil, nil, &imageError{image: c.Image}
		}
		argv = append([]string{exe}, args...)
	}

	env = make([]string, 0, len(vars)+len(hostEnv)+2)
	for _, name := range hostEnv {
		if _, set := vars[name]; !set {
			if v, ok := os.LookupEnv(name); ok {
				vars[name] = v
			}
		}
	}
	if _, set := vars["HOSTNAME"]; !set {
		vars["HOSTNAME"] = pod.Name
	}
	vars[EnvRoot] = root
	for name, v := range vars {
		env = append(env, name+"="+v)
	}
	slices.Sort(env)

	path, err := lookPath(argv[0], vars["PATH"], workDir)
	if err != nil {
		return nil, nil, fmt.Errorf("exec: %q: %w", argv[0], err)
	}
	argv[0] = path
	return argv, env, nil
}
