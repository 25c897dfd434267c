package localkubelet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

func TestConfig_Check(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		return Config{
			RESTConfig: &rest.Config{Host: "https://127.0.0.1:6443"},
			NodeName:   "local",
			Addr:       "127.0.0.1:10250",
			CertFile:   "c", KeyFile: "k", ClientCAFile: "ca",
			Dir: "/tmp/x",
		}
	}
	tests := []struct {
		name         string
		change       func(*Config)
		wantLoopback bool   // the error is ErrNotLoopback
		want         string // part of the error; empty: valid
	}{
		{name: "Valid", change: func(*Config) {}},
		{name: "Localhost", change: func(c *Config) { c.RESTConfig.Host = "https://localhost:6443"; c.Addr = "localhost:1" }},
		{name: "IPv6Loopback", change: func(c *Config) { c.RESTConfig.Host = "https://[::1]:6443"; c.Addr = "[::1]:10250" }},
		{name: "HostWithoutScheme", change: func(c *Config) { c.RESTConfig.Host = "127.0.0.1:6443" }},
		{name: "RemoteAPIServer", change: func(c *Config) { c.RESTConfig.Host = "https://10.0.0.1:6443" }, wantLoopback: true, want: "API server https://10.0.0.1:6443"},
		{name: "NamedAPIServer", change: func(c *Config) { c.RESTConfig.Host = "https://cluster.example.com" }, wantLoopback: true, want: "cluster.example.com"},
		{name: "ListensEverywhere", change: func(c *Config) { c.Addr = ":10250" }, wantLoopback: true, want: "listen address :10250"},
		{name: "ListensOnAnotherAddress", change: func(c *Config) { c.Addr = "192.168.1.2:10250" }, wantLoopback: true, want: "listen address"},
		{name: "BadAddr", change: func(c *Config) { c.Addr = "10250" }, want: `listen address "10250"`},
		{name: "NoRESTConfig", change: func(c *Config) { c.RESTConfig = nil }, want: "no RESTConfig"},
		{name: "NoNodeName", change: func(c *Config) { c.NodeName = "" }, want: "no NodeName"},
		{name: "NoDir", change: func(c *Config) { c.Dir = "" }, want: "no Dir"},
		{name: "NoTLS", change: func(c *Config) { c.ClientCAFile = "" }, want: "ClientCAFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			tt.change(&cfg)
			err := cfg.check()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			if tt.wantLoopback {
				require.ErrorIs(t, err, ErrNotLoopback)
			} else {
				require.NotErrorIs(t, err, ErrNotLoopback)
			}
		})
	}
}

func TestConfig_RestartBackoff(t *testing.T) {
	t.Parallel()
	// The kubelet's CrashLoopBackOff starts at 10 s, and so does this one
	// unless told otherwise.
	require.Equal(t, 10*time.Second, DefaultRestartBackoff)
	require.Equal(t, 10*time.Second, Config{}.restartBackoff())
	require.Equal(t, 10*time.Second, Config{RestartBackoff: -time.Second}.restartBackoff())
	require.Equal(t, 20*time.Millisecond, Config{RestartBackoff: 20 * time.Millisecond}.restartBackoff())
}

func TestRestartDelay(t *testing.T) {
	t.Parallel()
	// Doubled after each restart, at most 5 minutes, as the kubelet does.
	var got []time.Duration
	for restarts := range int32(8) {
		got = append(got, restartDelay(DefaultRestartBackoff, restarts))
	}
	require.Equal(t, []time.Duration{
		10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second, 300 * time.Second,
	}, got)
}
