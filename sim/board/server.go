package board

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	cosiv1alpha1 "github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/state"
	cosiserver "github.com/cosi-project/runtime/pkg/state/protobuf/server"
	"github.com/siderolabs/crypto/x509"
	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// metal is the runtime mode a board validates configs in; like Talos's
// mode wrapper, an installed board no longer requires install settings.
type metal struct{ installed bool }

func (metal) String() string          { return "metal" }
func (m metal) RequiresInstall() bool { return !m.installed }
func (metal) InContainer() bool       { return false }

// server is one boot's apid: a fresh listener and gRPC server, so a reboot
// really drops every connection.
type server struct {
	grpc *grpc.Server
	lis  net.Listener
	done sync.WaitGroup
}

// stop lets unary calls in flight (the Reboot that caused this) answer,
// then cuts the streams that would never end by themselves (watches, log
// follows), as a machine going down does.
func (s *server) stop() {
	graceful := make(chan struct{})

	go func() {
		s.grpc.GracefulStop()
		close(graceful)
	}()

	select {
	case <-graceful:
	case <-time.After(200 * time.Millisecond):
		s.grpc.Stop()
		<-graceful
	}

	s.lis.Close() //nolint:errcheck
	s.done.Wait()
}

// kill cuts every connection at once, as a link going down does: calls in
// flight get no answer.
func (s *server) kill() {
	s.grpc.Stop()
	s.lis.Close() //nolint:errcheck
	s.done.Wait()
}

// serveLocked starts the API for the current mode (maintenance or secure).
func (b *Board) serveLocked() error {
	// A board closed for good never listens again, whatever timer (a
	// reboot, an upgrade) comes due after Close.
	if b.ctx.Err() != nil {
		return errors.New("apid: the board is powered off")
	}

	var (
		tlsCfg *tls.Config
		err    error
	)

	if b.cfg == nil || !b.installed {
		tlsCfg, err = maintenanceTLS(b.opts.Spec)
	} else {
		trustd := b.opts.Trustd
		if trustd == nil {
			trustd = func([]byte) (*x509.PEMEncodedCertificateAndKey, bool) { return nil, false }
		}

		tlsCfg, err = secureTLS(b.cfg, b.address(), trustd)
	}

	if err != nil {
		return fmt.Errorf("apid: %w", err)
	}

	lis, err := b.opts.Listener("tcp", b.Endpoint())
	if err != nil {
		return fmt.Errorf("apid: listening on %s: %w", b.Endpoint(), err)
	}

	az := authz{maintenance: b.cfg == nil || !b.installed}
	unary, streams := []grpc.UnaryServerInterceptor{unsupportedUnary(), b.stall(), az.unary()}, []grpc.StreamServerInterceptor{unsupportedStream(), az.stream()}

	if !az.maintenance {
		// Maintenance mode answers locally; apid routes node metadata.
		unary, streams = append(unary, b.routeUnary()), append(streams, b.routeStream())
	}

	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)), grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(streams...))

	for _, s := range b.api {
		g.RegisterService(s.desc, s.impl)
	}

	srv := &server{grpc: g, lis: lis}
	srv.done.Go(func() { _ = g.Serve(lis) }) //nolint:errcheck // Serve ends with Stop

	b.server = srv

	return nil
}

// newAPIs are the services a board's apid serves: the machine service,
// the COSI state (read-only: nobody writes a board's state over the API)
// and the cluster service.
func (b *Board) newAPIs() []served {
	return []served{
		{&machineapi.MachineService_ServiceDesc, &machineService{b: b}},
		{&cosiv1alpha1.State_ServiceDesc, cosiserver.NewState(state.Filter(b.st, readOnly))},
		{&clusterapi.ClusterService_ServiceDesc, &clusterService{b: b}},
	}
}

func readOnly(_ context.Context, a state.Access) error {
	if a.Verb == state.Get || a.Verb == state.List || a.Verb == state.Watch {
		return nil
	}

	return status.Error(codes.PermissionDenied, "resources are read-only through the API")
}

// machineService is the Talos machine service.
type machineService struct {
	machineapi.UnimplementedMachineServiceServer

	b *Board
}

func (m *machineService) Version(ctx context.Context, _ *emptypb.Empty) (*machineapi.VersionResponse, error) {
	m.b.mu.Lock()
	tag := m.b.booted
	m.b.mu.Unlock()

	return &machineapi.VersionResponse{Messages: []*machineapi.Version{{
		Version:  &machineapi.VersionInfo{Tag: tag, Os: "linux", Arch: m.b.opts.Spec.Arch, GoVersion: runtime.Version(), Built: "simulated"},
		Platform: &machineapi.PlatformInfo{Name: "metal", Mode: "metal"},
	}}}, nil
}

// ApplyConfiguration answers as Talos v1.13 does: errors are Talos's own
// text (InvalidArgument), validation runs in metal mode with
// RequiresInstall until installed, and in maintenance AUTO and REBOOT mean
// NO_REBOOT — the board then installs and reboots by itself.
func (m *machineService) ApplyConfiguration(ctx context.Context, req *machineapi.ApplyConfigurationRequest) (*machineapi.ApplyConfigurationResponse, error) {
	b := m.b

	b.mu.Lock()
	inMaintenance, installed := b.cfg == nil, b.installed
	b.mu.Unlock()

	// Once a config is taken, the machine is no longer in maintenance:
	// only admins may apply, and maintenance callers are readers.
	if !inMaintenance && !callerRoles(ctx).Includes(role.Admin) {
		return nil, errNotAuthorized
	}

	cfg, err := configloader.NewFromBytes(req.GetData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	if !inMaintenance && cfg.RawV1Alpha1() == nil {
		return nil, status.Error(codes.InvalidArgument, "the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?")
	}

	warnings, err := cfg.Validate(metal{installed: installed})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	mode := req.GetMode()
	if inMaintenance && (mode == machineapi.ApplyConfigurationRequest_REBOOT || mode == machineapi.ApplyConfigurationRequest_AUTO) {
		mode = machineapi.ApplyConfigurationRequest_NO_REBOOT
	}

	details := "Applied configuration without a reboot"

	switch mode {
	case machineapi.ApplyConfigurationRequest_NO_REBOOT, machineapi.ApplyConfigurationRequest_TRY:
	case machineapi.ApplyConfigurationRequest_AUTO:
		// What a running simulated board can change live is all it knows.
		mode = machineapi.ApplyConfigurationRequest_NO_REBOOT
	case machineapi.ApplyConfigurationRequest_STAGED:
		details = "Staged configuration to be applied after the next reboot"
	case machineapi.ApplyConfigurationRequest_REBOOT:
		details = "Applied configuration with a reboot"
	default:
		return nil, status.Errorf(codes.InvalidArgument, "incorrect mode '%s' specified for the apply config call", mode)
	}

	if req.GetDryRun() {
		return applied(nil, mode, "Dry run summary:\n"+details+" (skipped in dry-run).\n"), nil
	}

	// TRY: applied live, rolled back after the timeout unless another
	// apply comes first (v1alpha1_server.go; Runtime.RollbackToConfigAfter
	// in v1alpha1_runtime.go; constants.ConfigTryTimeout is a minute).
	try := time.Duration(0)
	if mode == machineapi.ApplyConfigurationRequest_TRY && !inMaintenance {
		try = constants.ConfigTryTimeout
		if t := req.GetTryModeTimeout(); t != nil {
			try = t.AsDuration()
		}

		details += fmt.Sprintf("\nThe config is applied in 'try' mode and will be automatically reverted back in %s", try)
	}

	b.mu.Lock()
	b.rollback++ // any apply cancels a pending rollback (CancelConfigRollbackTimeout)
	if try > 0 && b.cfg != nil {
		gen, prev, prevBytes := b.rollback, b.cfg, b.cfgBytes
		b.afterLocked(try, func() {
			if b.rollback == gen {
				b.kmsg("[talos] rolling back the configuration")
				b.liveApplyLocked(prev, prevBytes)
			}
		})
	}
	b.mu.Unlock()

	resp, cut, err := m.take(cfg, req.GetData(), mode, warnings, details)
	if cut {
		return nil, m.cut(ctx)
	}

	return resp, err
}

// take applies a validated config; cut says a fault dropped the API
// instead of answering.
func (m *machineService) take(cfg coreconfig.Provider, data []byte, mode machineapi.ApplyConfigurationRequest_Mode, warnings []string, details string) (*machineapi.ApplyConfigurationResponse, bool, error) {
	b := m.b

	b.mu.Lock()
	defer b.mu.Unlock()

	switch {
	case b.cfg == nil:
		if b.stage != "maintenance" {
			return nil, false, status.Errorf(codes.Unavailable, "the machine is %s, not waiting for a config", b.stage)
		}

		if b.drops < b.opts.Faults.DropDuringApply {
			b.drops++
			b.dropAPILocked(b.dropFor())

			return nil, true, nil
		}

		b.acceptLocked(cfg, data)

		if b.opts.Faults.DropAfterApply && !b.droppedOnce {
			b.droppedOnce = true
			b.dropAPILocked(0)

			return nil, true, nil
		}
	case !b.installed:
		return nil, false, status.Error(codes.FailedPrecondition, "configuration was already applied and node is rebooting, cannot apply more configuration changes until next reboot")
	case mode == machineapi.ApplyConfigurationRequest_STAGED:
		b.staged, b.stagedBytes = cfg, data
	case mode == machineapi.ApplyConfigurationRequest_REBOOT:
		b.staged, b.stagedBytes = cfg, data
		b.kmsg("apply configuration: rebooting to apply it")
		b.afterLocked(0, func() { b.rebootLocked(b.opts.Timing.Reboot) })
	default:
		// Booting or running: the changes apply live.
		b.liveApplyLocked(cfg, data)
	}

	return applied(warnings, mode, details), false, nil
}

// cut is the end of a call whose connection a fault dropped: it returns
// once the transport is gone, so the caller sees a reset, not an answer.
func (m *machineService) cut(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-m.b.ctx.Done():
	}

	return status.Error(codes.Unavailable, "connection lost")
}

func (b *Board) dropFor() time.Duration {
	if d := b.opts.Faults.DropFor; d > 0 {
		return d
	}

	return 5 * time.Second
}

// dropAPILocked takes the API down at once, as a link going down does; it
// comes back after back (scaled) unless that is 0 or a reboot serves first.
func (b *Board) dropAPILocked(back time.Duration) {
	b.kmsg("end0: link is not ready: the API connection dropped")

	if srv := b.server; srv != nil {
		b.server = nil
		// The port closes now, so a quick comeback can listen again.
		srv.lis.Close() //nolint:errcheck
		go srv.kill()
	}

	if back <= 0 {
		return
	}

	b.afterLocked(back, func() {
		if b.server != nil {
			return
		}

		b.kmsg("end0: link is up")

		if err := b.serveLocked(); err != nil {
			b.kmsg("apid: %v", err)
		}
	})
}

// stall holds the first Faults.StallAPI unary calls unanswered until
// their caller gives up.
func (b *Board) stall() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		b.mu.Lock()
		stall := b.stalls < b.opts.Faults.StallAPI
		if stall {
			b.stalls++
			b.kmsg("apid: %s: stalled, no answer", info.FullMethod)
		}
		b.mu.Unlock()

		if !stall {
			return handler(ctx, req)
		}

		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-b.ctx.Done():
			return nil, status.Error(codes.Unavailable, "the board is off")
		}
	}
}

func applied(warnings []string, mode machineapi.ApplyConfigurationRequest_Mode, details string) *machineapi.ApplyConfigurationResponse {
	return &machineapi.ApplyConfigurationResponse{Messages: []*machineapi.ApplyConfiguration{{Warnings: warnings, Mode: mode, ModeDetails: details}}}
}

func (m *machineService) Bootstrap(ctx context.Context, _ *machineapi.BootstrapRequest) (*machineapi.BootstrapResponse, error) {
	b := m.b

	b.mu.Lock()
	defer b.mu.Unlock()

	switch {
	case !b.isControlPlane():
		return nil, status.Error(codes.FailedPrecondition, "bootstrap is not available on worker nodes")
	case b.bootstrap:
		return nil, status.Error(codes.AlreadyExists, "etcd data directory is not empty")
	case b.stage != "running" && b.stage != "booting":
		return nil, status.Errorf(codes.FailedPrecondition, "the machine is %s", b.stage)
	}

	b.doBootstrapLocked()

	return &machineapi.BootstrapResponse{Messages: []*machineapi.Bootstrap{{}}}, nil
}

// Kubeconfig streams a .tar.gz with one file, as Talos does.
func (m *machineService) Kubeconfig(_ *emptypb.Empty, stream grpc.ServerStreamingServer[common.Data]) error {
	if m.b.opts.Hooks.Kubeconfig == nil {
		return status.Error(codes.Unavailable, "the Kubernetes control plane is not running on this node")
	}

	kc, err := m.b.opts.Hooks.Kubeconfig()
	if err != nil {
		return status.Errorf(codes.Unavailable, "kubeconfig: %v", err)
	}

	var buf bytes.Buffer

	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)

	if err := tw.WriteHeader(&tar.Header{Name: "kubeconfig", Mode: 0o600, Size: int64(len(kc)), ModTime: time.Now()}); err != nil {
		return err
	}

	if _, err := tw.Write(kc); err != nil {
		return err
	}

	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return err
	}

	return stream.Send(&common.Data{Bytes: buf.Bytes()})
}

func (m *machineService) ServiceList(ctx context.Context, _ *emptypb.Empty) (*machineapi.ServiceListResponse, error) {
	b := m.b

	b.mu.Lock()
	defer b.mu.Unlock()

	var ids []string
	for id := range b.services {
		ids = append(ids, id)
	}

	slices.Sort(ids)

	out := &machineapi.ServiceList{}

	for _, id := range ids {
		s := b.services[id]
		info := &machineapi.ServiceInfo{Id: id, State: s.state, Events: &machineapi.ServiceEvents{},
			Health: &machineapi.ServiceHealth{Healthy: s.healthy, Unknown: s.unknown}}

		// Health's last message is the health check's (none without one);
		// what talosctl shows as LAST EVENT is the newest event.
		for _, e := range s.events {
			info.Events.Events = append(info.Events.Events, &machineapi.ServiceEvent{Msg: e.msg, State: e.state, Ts: timestamppb.New(e.at)})
		}

		out.Services = append(out.Services, info)
	}

	return &machineapi.ServiceListResponse{Messages: []*machineapi.ServiceList{out}}, nil
}

func (m *machineService) Logs(req *machineapi.LogsRequest, stream grpc.ServerStreamingServer[common.Data]) error {
	// As Talos's Logs: kubelet and the system namespace are service logs,
	// the rest containers.
	if req.GetNamespace() != constants.SystemContainerdNamespace && req.GetId() != "kubelet" {
		return m.containerLogs(req, stream)
	}

	return m.stream(stream, req.GetId(), int(req.GetTailLines()), req.GetFollow())
}

func (m *machineService) Dmesg(req *machineapi.DmesgRequest, stream grpc.ServerStreamingServer[common.Data]) error {
	tail := -1
	if req.GetTail() {
		tail = 50
	}

	return m.stream(stream, "dmesg", tail, req.GetFollow())
}

func (m *machineService) stream(stream grpc.ServerStreamingServer[common.Data], id string, tail int, follow bool) error {
	if tail == 0 {
		tail = -1
	}

	lines, ch := m.b.subscribe(id, tail)
	defer m.b.unsubscribe(ch)

	for _, l := range lines {
		if err := stream.Send(&common.Data{Bytes: []byte(l + "\n")}); err != nil {
			return err
		}
	}

	if !follow {
		return nil
	}

	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-m.b.ctx.Done():
			return nil
		case l := <-ch:
			if err := stream.Send(&common.Data{Bytes: []byte(l + "\n")}); err != nil {
				return err
			}
		}
	}
}

func (m *machineService) Reboot(ctx context.Context, _ *machineapi.RebootRequest) (*machineapi.RebootResponse, error) {
	m.b.mu.Lock()
	m.b.kmsg("reboot requested through the API")
	m.b.afterLocked(0, func() { m.b.rebootLocked(m.b.opts.Timing.Reboot) })
	m.b.mu.Unlock()

	return &machineapi.RebootResponse{Messages: []*machineapi.Reboot{{}}}, nil
}
