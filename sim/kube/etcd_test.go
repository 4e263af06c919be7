package kube

import (
	"net/url"
	"testing"
)

// talosctl etcd members/status/alarm list relay what etcd answers: the
// lab's etcd is asked through its gateway, as its members' clients ask.
func TestEtcdReport(t *testing.T) {
	needControlPlane(t)

	r, err := shared.Etcd(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	if len(r.Members) != 1 || r.Members[0].Name != "sim-test" || r.Members[0].ID == 0 {
		t.Fatalf("members: %+v", r.Members)
	}

	u, err := url.Parse(r.Members[0].PeerURLs[0])
	if err != nil || u.Hostname() != shared.opts.Address {
		t.Errorf("peer URL %v: want the control plane's address %s", r.Members[0].PeerURLs, shared.opts.Address)
	}

	if r.Status.MemberID != r.Members[0].ID || r.Status.Leader != r.Members[0].ID || r.Status.Version == "" || r.Status.DBSize == 0 || r.Status.RaftTerm == 0 {
		t.Errorf("status: %+v", r.Status)
	}

	if len(r.Alarms) != 0 {
		t.Errorf("alarms on a healthy etcd: %+v", r.Alarms)
	}
}
