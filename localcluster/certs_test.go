package localcluster

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

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
