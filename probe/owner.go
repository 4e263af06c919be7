package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
)

// ErrForeign says a board runs a config from other secrets: its Talos API
// certificate is not issued by the talosconfig's CA.
var ErrForeign = errors.New("the board belongs to another cluster")

// Foreign reads the certificate a board's Talos API serves and checks it
// against the talosconfig's CA, as talosctl's TLS client checks it: an
// error wrapping ErrForeign names whose CA issued it instead. nil means the
// certificate is ours (or the board serves maintenance mode's).
func Foreign(ctx context.Context, endpoint string, tc *clientconfig.Config) error {
	if tc == nil {
		return nil
	}

	cctx, ok := tc.Contexts[tc.Context]
	if !ok || cctx.CA == "" {
		return nil
	}

	caPEM, err := base64.StdEncoding.DecodeString(cctx.CA)
	if err != nil {
		return fmt.Errorf("the talosconfig's CA: %w", err)
	}

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("the talosconfig's CA is not a PEM certificate")
	}

	var served []*x509.Certificate

	d := tls.Dialer{Config: &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the certificate is checked below, by hand
		VerifyConnection: func(cs tls.ConnectionState) error {
			served = cs.PeerCertificates

			return nil
		},
	}}

	conn, err := d.DialContext(ctx, "tcp", endpoint)
	if conn != nil {
		conn.Close() //nolint:errcheck
	}

	if len(served) == 0 {
		if err == nil {
			err = errors.New("no certificate served")
		}

		return fmt.Errorf("reading %s's certificate: %w", endpoint, err)
	}

	leaf := served[0]

	inter := x509.NewCertPool()
	for _, c := range served[1:] {
		inter.AddCert(c)
	}

	if _, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); verr == nil {
		return nil
	}

	// Maintenance mode serves a self-signed certificate for any CA: not
	// another cluster's.
	if leaf.Subject.CommonName == "maintenance-service" || isSelfSigned(leaf) {
		return nil
	}

	ours := ""
	if blk := firstCert(caPEM); blk != nil {
		ours = keyID(blk.SubjectKeyId)
	}

	host, _, _ := net.SplitHostPort(endpoint)

	return fmt.Errorf("%w: %s's Talos API certificate is issued by a CA that is not this cluster's (issuer %q, authority key %s; this cluster's CA key %s)",
		ErrForeign, host, leaf.Issuer.String(), keyID(leaf.AuthorityKeyId), ours)
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

func firstCert(pemData []byte) *x509.Certificate {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil
	}

	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}

	return c
}

// keyID is a key identifier as people compare them: the first 8 bytes.
func keyID(id []byte) string {
	if len(id) == 0 {
		return "(none)"
	}

	s := hex.EncodeToString(id[:min(8, len(id))])

	var b strings.Builder

	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}

		b.WriteString(s[i : i+2])
	}

	return b.String()
}
