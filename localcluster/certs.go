package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// certValidity bounds every certificate the harness issues; a cluster
// lives for a test run.
const certValidity = 7 * 24 * time.Hour

// An authority is a throwaway certificate authority: it signs the API
// server's serving certificate and every client certificate, which the API
// server trusts through --client-ca-file.
type authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("localcluster: generate CA key: %w", err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: name}, key)
	if err != nil {
		return nil, fmt.Errorf("localcluster: self-sign CA: %w", err)
	}
	return &authority{cert: cert, key: key, certPEM: encodeCert(cert.Raw)}, nil
}

// A keyPair is a PEM certificate and its PEM private key.
type keyPair struct {
	certPEM, keyPEM []byte
}

// serving issues a TLS server certificate for the given IPs and DNS names.
func (a *authority) serving(name string, ips []net.IP, dnsNames []string) (keyPair, error) {
	return a.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    dnsNames,
	})
}

// client issues a client certificate; the API server takes the common name as
// the user name and each organization as a group.
func (a *authority) client(user string, groups []string) (keyPair, error) {
	return a.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (a *authority) issue(tmpl *x509.Certificate) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("localcluster: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return keyPair{}, fmt.Errorf("localcluster: serial number: %w", err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Minute)
	tmpl.NotAfter = now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return keyPair{}, fmt.Errorf("localcluster: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return keyPair{}, fmt.Errorf("localcluster: encode key: %w", err)
	}
	return keyPair{certPEM: encodeCert(der), keyPEM: keyPEM}, nil
}

// newServiceAccountKey returns the private key the API server signs
// service-account tokens with; the API server also reads the public half
// from it to verify them.
func newServiceAccountKey() ([]byte, error) {
	key, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("localcluster: generate service-account key: %w", err)
	}
	return key, nil
}

func encodeCert(der []byte) []byte {
	b, _ := certutil.EncodeCertificates(&x509.Certificate{Raw: der})
	return b
}
