package kube

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	sx509 "github.com/siderolabs/crypto/x509"
)

// authority is one of the bundle's CAs, ready to sign leaves.
type authority struct {
	cert   *x509.Certificate
	key    crypto.Signer
	crtPEM []byte
}

func loadAuthority(name string, p *sx509.PEMEncodedCertificateAndKey) (*authority, error) {
	if p == nil {
		return nil, fmt.Errorf("secrets bundle has no %s CA", name)
	}

	cert, err := p.GetCert()
	if err != nil {
		return nil, fmt.Errorf("%s CA certificate: %w", name, err)
	}

	k, err := p.GetKey()
	if err != nil {
		return nil, fmt.Errorf("%s CA key: %w", name, err)
	}

	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s CA key %T cannot sign", name, k)
	}

	return &authority{cert: cert, key: signer, crtPEM: p.Crt}, nil
}

// leaf describes a certificate to issue.
type leaf struct {
	cn     string
	orgs   []string
	ips    []net.IP
	dns    []string
	server bool
	client bool
}

// issue signs a fresh P-256 key for l. Leaves live a year: the lab is
// rebuilt long before that.
func (a *authority) issue(l leaf) (crtPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}

	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}

	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.cn, Organization: l.orgs},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		IPAddresses:  l.ips,
		DNSNames:     l.dns,
	}

	if l.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}

	if l.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}

	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issuing %s: %w", l.cn, err)
	}

	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}

	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// kubeconfig is a single-context kubeconfig with embedded credentials.
func kubeconfig(cluster, server, user string, caPEM, crtPEM, keyPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString

	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[4]s
users:
- name: %[3]s@%[1]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[3]s@%[1]s
  context:
    cluster: %[1]s
    namespace: default
    user: %[3]s@%[1]s
current-context: %[3]s@%[1]s
`, cluster, server, user, b64(caPEM), b64(crtPEM), b64(keyPEM))
}
