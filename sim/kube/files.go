package kube

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// files are the paths the children read; certificate pairs are stored as
// <base>.crt and <base>.key.
type files struct {
	ca, caKey, aggregatorCA, etcdCA, saKey   string
	etcdServer, etcdPeer, etcdClient         string
	apiserver, apiserverEtcd, kubeletClient  string
	frontProxy, adminCert                    string
	controllerManager, scheduler, encryption string
	egressConfig, egressSocket               string
	kubeProxyConfig                          []byte
}

// writeFiles issues every certificate from the bundle's CAs, the way Talos
// does on a control-plane node, and writes the children's configuration.
func (cp *ControlPlane) writeFiles(ports []int) (*files, error) {
	o := cp.opts
	pki := filepath.Join(cp.dir, "pki")

	if err := os.MkdirAll(pki, 0o700); err != nil {
		return nil, err
	}

	k8s, err := loadAuthority("Kubernetes", o.Secrets.Certs.K8s)
	if err != nil {
		return nil, err
	}

	agg, err := loadAuthority("Kubernetes aggregator", o.Secrets.Certs.K8sAggregator)
	if err != nil {
		return nil, err
	}

	etcd, err := loadAuthority("etcd", o.Secrets.Certs.Etcd)
	if err != nil {
		return nil, err
	}

	if o.Secrets.Certs.K8sServiceAccount == nil {
		return nil, fmt.Errorf("secrets bundle has no service account key")
	}

	cp.ca = k8s

	p := func(name string) string { return filepath.Join(pki, name) }
	f := &files{
		ca: p("ca.crt"), caKey: p("ca.key"), aggregatorCA: p("aggregator-ca.crt"), etcdCA: p("etcd-ca.crt"), saKey: p("service-account.key"),
		etcdServer: p("etcd-server"), etcdPeer: p("etcd-peer"), etcdClient: p("etcd-client"),
		apiserver: p("apiserver"), apiserverEtcd: p("apiserver-etcd-client"), kubeletClient: p("apiserver-kubelet-client"),
		frontProxy: p("front-proxy-client"), adminCert: p("admin"),
		controllerManager: filepath.Join(cp.dir, "controller-manager.kubeconfig"),
		scheduler:         filepath.Join(cp.dir, "scheduler.kubeconfig"),
		encryption:        filepath.Join(cp.dir, "encryption.yaml"),
		egressConfig:      filepath.Join(cp.dir, "egress.yaml"),
		egressSocket:      filepath.Join(cp.dir, "egress.sock"),
	}

	write := func(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

	for path, b := range map[string][]byte{
		f.ca: k8s.crtPEM, f.caKey: o.Secrets.Certs.K8s.Key, f.aggregatorCA: agg.crtPEM, f.etcdCA: etcd.crtPEM,
		f.saKey: o.Secrets.Certs.K8sServiceAccount.Key,
	} {
		if err := write(path, b); err != nil {
			return nil, err
		}
	}

	addr := net.ParseIP(o.Address)
	loop := net.ParseIP("127.0.0.1")
	svc := netip.MustParsePrefix(o.ServiceCIDR).Masked().Addr().Next()

	pairs := []struct {
		ca   *authority
		base string
		leaf leaf
	}{
		{etcd, f.etcdServer, leaf{cn: "etcd", ips: []net.IP{addr, loop}, dns: []string{"localhost"}, server: true, client: true}},
		{etcd, f.etcdPeer, leaf{cn: "etcd-peer", ips: []net.IP{addr, loop}, dns: []string{"localhost"}, server: true, client: true}},
		{etcd, f.etcdClient, leaf{cn: "liftoff-etcd-healthcheck", client: true}},
		{etcd, f.apiserverEtcd, leaf{cn: "kube-apiserver-etcd-client", client: true}},
		{k8s, f.apiserver, leaf{cn: "kube-apiserver", server: true, ips: []net.IP{addr, loop, net.IP(svc.AsSlice())}, dns: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + o.DNSDomain,
		}}},
		{k8s, f.kubeletClient, leaf{cn: "apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true}},
		{agg, f.frontProxy, leaf{cn: "front-proxy-client", client: true}},
		{k8s, f.adminCert, leaf{cn: "admin", orgs: []string{"system:masters"}, client: true}},
	}

	for _, pr := range pairs {
		crt, key, err := pr.ca.issue(pr.leaf)
		if err != nil {
			return nil, err
		}

		if err := write(pr.base+".crt", crt); err != nil {
			return nil, err
		}

		if err := write(pr.base+".key", key); err != nil {
			return nil, err
		}
	}

	adminCrt, _ := fileio.ReadFile(f.adminCert+".crt", fileio.Own)
	adminKey, _ := fileio.ReadFile(f.adminCert+".key", fileio.Own)
	cp.admin = kubeconfig(o.ClusterName, cp.endpoint, "admin", k8s.crtPEM, adminCrt, adminKey)

	for path, cn := range map[string]string{f.controllerManager: "system:kube-controller-manager", f.scheduler: "system:kube-scheduler"} {
		crt, key, err := k8s.issue(leaf{cn: cn, client: true})
		if err != nil {
			return nil, err
		}

		if err := write(path, kubeconfig(o.ClusterName, cp.endpoint, cn, k8s.crtPEM, crt, key)); err != nil {
			return nil, err
		}
	}

	// The Service proxy acts as kube-proxy, bound to system:node-proxier.
	crt, key, err := k8s.issue(leaf{cn: "system:kube-proxy", client: true})
	if err != nil {
		return nil, err
	}

	f.kubeProxyConfig = kubeconfig(o.ClusterName, cp.endpoint, "system:kube-proxy", k8s.crtPEM, crt, key)

	if err := write(f.encryption, encryptionConfig(o.Secrets.Secrets.SecretboxEncryptionSecret, o.Secrets.Secrets.AESCBCEncryptionSecret)); err != nil {
		return nil, err
	}

	egress := fmt.Appendf(nil, `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, f.egressSocket)

	return f, write(f.egressConfig, egress)
}

// encryptionConfig encrypts Secrets at rest with the bundle's key, as Talos
// does: secretbox when the bundle has it, AES-CBC for older bundles.
func encryptionConfig(secretbox, aescbc string) []byte {
	provider := "identity: {}"

	switch {
	case secretbox != "":
		provider = "secretbox:\n      keys:\n      - name: key2\n        secret: " + secretbox
	case aescbc != "":
		provider = "aescbc:\n      keys:\n      - name: key1\n        secret: " + aescbc
	}

	return fmt.Appendf(nil, `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources:
  - secrets
  providers:
  - %s
  - identity: {}
`, provider)
}
