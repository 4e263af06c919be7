package board

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/siderolabs/crypto/x509"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
)

// Trustd issues a server certificate for a board whose config holds only
// the OS CA certificate (workers): on real clusters the control planes'
// trustd does it. It returns the CA with its key, or false.
type Trustd func(caCrt []byte) (*x509.PEMEncodedCertificateAndKey, bool)

// maintenanceTLS is a self-signed certificate and no client certificates,
// like apid in maintenance mode: clients connect with verification off.
func maintenanceTLS(spec Spec) (*tls.Config, error) {
	ca, err := x509.NewSelfSignedCertificateAuthority(x509.ECDSA(true), x509.Organization("talos"))
	if err != nil {
		return nil, err
	}

	kp, err := x509.NewKeyPair(ca, x509.IPAddresses([]net.IP{net.ParseIP(spec.Address)}), x509.CommonName("maintenance-service"),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}))
	if err != nil {
		return nil, err
	}

	return &tls.Config{Certificates: []tls.Certificate{*kp.Certificate}, MinVersion: tls.VersionTLS12}, nil
}

// secureTLS serves a certificate issued by the OS CA of the applied config
// and requires client certificates from the same CA.
func secureTLS(cfg coreconfig.Provider, addr string, trustd Trustd) (*tls.Config, error) {
	osCA := cfg.Machine().Security().IssuingCA()
	if osCA == nil || len(osCA.Crt) == 0 {
		return nil, errors.New("the config has no machine.ca")
	}

	if len(osCA.Key) == 0 {
		withKey, ok := trustd(osCA.Crt)
		if !ok {
			return nil, errors.New("no control plane of this cluster can issue a certificate yet (trustd unavailable)")
		}

		osCA = withKey
	}

	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(osCA)
	if err != nil {
		return nil, fmt.Errorf("OS CA: %w", err)
	}

	kp, err := x509.NewKeyPair(ca, x509.IPAddresses([]net.IP{net.ParseIP(addr)}), x509.CommonName(addr),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}))
	if err != nil {
		return nil, err
	}

	pool := stdx509.NewCertPool()
	pool.AddCert(ca.Crt)

	return &tls.Config{
		Certificates: []tls.Certificate{*kp.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
