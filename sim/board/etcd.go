package board

import (
	"context"
	"fmt"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/liftoff-lab/liftoff/sim/kube"
)

// The etcd calls answer from the lab's real etcd (Lab.Etcd), with Talos
// v1.13.3's checks and wording (v1alpha1_server.go EtcdMemberList,
// EtcdStatus, EtcdAlarmList; machinehelper.CheckControlplane).

// etcdOf checks the board may answer an etcd call and reads etcd.
func (m *machineService) etcdOf(ctx context.Context, api string) (kube.EtcdReport, error) {
	b := m.b

	b.mu.Lock()
	booted, cp, running := b.bootedLocked(), b.isControlPlane(), b.services["etcd"] != nil && b.services["etcd"].state == "Running"
	b.mu.Unlock()

	switch {
	case !booted:
		return kube.EtcdReport{}, status.Errorf(codes.Unimplemented, "machine type is not set, cannot use %s API", api)
	case !cp:
		return kube.EtcdReport{}, status.Errorf(codes.Unimplemented, "%s is only available on control plane nodes", api)
	case !running || b.opts.Lab == nil:
		// Talos's etcd client dials the local member and times out.
		return kube.EtcdReport{}, status.Error(codes.Unavailable, "etcdserver: no leader: etcd is not running on this node (bootstrap it first)")
	}

	e, err := b.opts.Lab.Etcd(ctx, b)
	if err != nil {
		return kube.EtcdReport{}, status.Error(codes.Unavailable, err.Error())
	}

	return e, nil
}

func (m *machineService) EtcdMemberList(ctx context.Context, _ *machineapi.EtcdMemberListRequest) (*machineapi.EtcdMemberListResponse, error) {
	e, err := m.etcdOf(ctx, "member list")
	if err != nil {
		return nil, err
	}

	out := &machineapi.EtcdMembers{}

	for _, mb := range e.Members {
		out.LegacyMembers = append(out.LegacyMembers, mb.Name)
		out.Members = append(out.Members, &machineapi.EtcdMember{Id: mb.ID, Hostname: mb.Name, PeerUrls: mb.PeerURLs, ClientUrls: mb.ClientURLs, IsLearner: mb.IsLearner})
	}

	return &machineapi.EtcdMemberListResponse{Messages: []*machineapi.EtcdMembers{out}}, nil
}

func (m *machineService) EtcdStatus(ctx context.Context, _ *emptypb.Empty) (*machineapi.EtcdStatusResponse, error) {
	e, err := m.etcdOf(ctx, "etcd status")
	if err != nil {
		return nil, err
	}

	s := e.Status

	return &machineapi.EtcdStatusResponse{Messages: []*machineapi.EtcdStatus{{MemberStatus: &machineapi.EtcdMemberStatus{
		MemberId: s.MemberID, ProtocolVersion: s.Version, StorageVersion: s.StorageVersion, DbSize: s.DBSize, DbSizeInUse: s.DBSizeInUse,
		Leader: s.Leader, RaftIndex: s.RaftIndex, RaftTerm: s.RaftTerm, RaftAppliedIndex: s.RaftAppliedIndex, Errors: s.Errors, IsLearner: s.IsLearner,
	}}}}, nil
}

func (m *machineService) EtcdAlarmList(ctx context.Context, _ *emptypb.Empty) (*machineapi.EtcdAlarmListResponse, error) {
	e, err := m.etcdOf(ctx, "etcd alarm list")
	if err != nil {
		return nil, err
	}

	out := &machineapi.EtcdAlarm{}

	for _, a := range e.Alarms {
		v, ok := machineapi.EtcdMemberAlarm_AlarmType_value[a.Alarm]
		if !ok {
			return nil, fmt.Errorf("failed to list etcd alarms: unknown alarm %q", a.Alarm)
		}

		out.MemberAlarms = append(out.MemberAlarms, &machineapi.EtcdMemberAlarm{MemberId: a.MemberID, Alarm: machineapi.EtcdMemberAlarm_AlarmType(v)})
	}

	return &machineapi.EtcdAlarmListResponse{Messages: []*machineapi.EtcdAlarm{out}}, nil
}
