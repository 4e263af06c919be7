package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EtcdMember is one member of the cluster's etcd.
type EtcdMember struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// EtcdStatus is the local member's maintenance status.
type EtcdStatus struct {
	MemberID, Leader                      uint64
	Version, StorageVersion               string
	DBSize, DBSizeInUse                   int64
	RaftIndex, RaftTerm, RaftAppliedIndex uint64
	Errors                                []string
	IsLearner                             bool
}

// EtcdAlarm is one raised alarm (NOSPACE, CORRUPT).
type EtcdAlarm struct {
	MemberID uint64
	Alarm    string
}

// EtcdReport is what a member's client reads of etcd.
type EtcdReport struct {
	Members []EtcdMember
	Status  EtcdStatus
	Alarms  []EtcdAlarm
}

// u64 is a uint64 as etcd's gRPC gateway writes it: a JSON string.
type u64 uint64

func (u *u64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}

	v, err := strconv.ParseUint(s, 10, 64)
	*u = u64(v)

	return err
}

type etcdHeader struct {
	MemberID u64 `json:"member_id"`
}

// Etcd asks the running etcd for its members, its status and its alarms,
// through its gRPC gateway (/v3/cluster/member/list, /v3/maintenance/status,
// /v3/maintenance/alarm) with the API server's etcd client certificate:
// the answers talosctl's etcd commands relay.
func (cp *ControlPlane) Etcd(ctx context.Context) (EtcdReport, error) {
	if cp.etcdURL == "" {
		return EtcdReport{}, errors.New("etcd is not running")
	}

	var (
		members struct {
			Members []struct {
				ID         u64      `json:"ID"`
				Name       string   `json:"name"`
				PeerURLs   []string `json:"peerURLs"`
				ClientURLs []string `json:"clientURLs"`
				IsLearner  bool     `json:"isLearner"`
			} `json:"members"`
		}
		st struct {
			Header           etcdHeader `json:"header"`
			Version          string     `json:"version"`
			DBSize           u64        `json:"dbSize"`
			DBSizeInUse      u64        `json:"dbSizeInUse"`
			Leader           u64        `json:"leader"`
			RaftIndex        u64        `json:"raftIndex"`
			RaftTerm         u64        `json:"raftTerm"`
			RaftAppliedIndex u64        `json:"raftAppliedIndex"`
			Errors           []string   `json:"errors"`
			IsLearner        bool       `json:"isLearner"`
			StorageVersion   string     `json:"storageVersion"`
		}
		alarms struct {
			Alarms []struct {
				MemberID u64    `json:"memberID"`
				Alarm    string `json:"alarm"`
			} `json:"alarms"`
		}
	)

	for _, q := range []struct {
		path string
		body string
		out  any
	}{
		{"/v3/cluster/member/list", `{"linearizable":true}`, &members},
		{"/v3/maintenance/status", `{}`, &st},
		{"/v3/maintenance/alarm", `{"action":"GET"}`, &alarms},
	} {
		if err := cp.etcdCall(ctx, q.path, q.body, q.out); err != nil {
			return EtcdReport{}, err
		}
	}

	r := EtcdReport{Status: EtcdStatus{
		MemberID: uint64(st.Header.MemberID), Leader: uint64(st.Leader), Version: st.Version, StorageVersion: st.StorageVersion,
		DBSize: int64(st.DBSize), DBSizeInUse: int64(st.DBSizeInUse), RaftIndex: uint64(st.RaftIndex), RaftTerm: uint64(st.RaftTerm),
		RaftAppliedIndex: uint64(st.RaftAppliedIndex), Errors: st.Errors, IsLearner: st.IsLearner,
	}}

	for _, m := range members.Members {
		r.Members = append(r.Members, EtcdMember{ID: uint64(m.ID), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
	}

	for _, a := range alarms.Alarms {
		r.Alarms = append(r.Alarms, EtcdAlarm{MemberID: uint64(a.MemberID), Alarm: a.Alarm})
	}

	return r, nil
}

func (cp *ControlPlane) etcdCall(ctx context.Context, path, body string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cp.etcdURL+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}

	req.Header.Set("Content-Type", "application/json")

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cp.etcdTLS}}
	defer client.CloseIdleConnections()

	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	defer resp.Body.Close() //nolint:errcheck

	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}

	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(data))
	}

	return json.Unmarshal(data, out)
}
