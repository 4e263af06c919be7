package board

import (
	"context"

	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// errNotAuthorized is Talos's answer to a caller without the role.
var errNotAuthorized = status.Error(codes.PermissionDenied, "not authorized")

// methodRoles are the roles Talos v1.13 accepts per method (machined's
// rules, internal/app/machined/pkg/system/services/machined.go) for the
// methods a board serves. ApplyConfiguration admits readers
// so maintenance mode works; the handler demands admin once installed.
var methodRoles = map[string]role.Set{
	"/machine.MachineService/ApplyConfiguration": role.MakeSet(role.Admin, role.Reader),
	"/machine.MachineService/Bootstrap":          role.MakeSet(role.Admin),
	"/machine.MachineService/Dmesg":              role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Kubeconfig":         role.MakeSet(role.Admin),
	"/machine.MachineService/Logs":               role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Reboot":             role.MakeSet(role.Admin, role.Operator),
	"/machine.MachineService/Reset":              role.MakeSet(role.Admin),
	"/machine.MachineService/ServiceList":        role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Upgrade":            role.MakeSet(role.Admin),
	"/machine.MachineService/Version":            role.MakeSet(role.Admin, role.Operator, role.Reader),

	// What talosctl's troubleshooting commands and dashboard call.
	"/machine.MachineService/CPUInfo":            role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/CPUFreqStats":       role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Containers":         role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/DiskStats":          role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/EtcdAlarmList":      role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/EtcdMemberList":     role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/EtcdStatus":         role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/Events":             role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Hostname":           role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/List":               role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/LoadAvg":            role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/LogsContainers":     role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Memory":             role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Mounts":             role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/NetworkDeviceStats": role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Netstat":            role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Processes":          role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Read":               role.MakeSet(role.Admin),
	"/machine.MachineService/Stats":              role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/SystemStat":         role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cluster.ClusterService/HealthCheck":        role.MakeSet(role.Admin, role.Operator, role.Reader),

	"/cosi.resource.State/Get":     role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/List":    role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/Watch":   role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/cosi.resource.State/Create":  role.MakeSet(role.Admin),
	"/cosi.resource.State/Update":  role.MakeSet(role.Admin),
	"/cosi.resource.State/Destroy": role.MakeSet(role.Admin),
}

// fallbackRoles cover methods without a rule (they answer Unimplemented
// to those who may call them).
var fallbackRoles = role.MakeSet(role.Admin)

type rolesKey struct{}

// authz is apid's role handling: in maintenance mode every caller is a
// reader (there are no client certificates); installed, roles come from
// the verified client certificate's Organization.
type authz struct {
	maintenance bool
}

func (a authz) roles(ctx context.Context) role.Set {
	if a.maintenance {
		return role.MakeSet(role.Reader)
	}

	p, ok := peer.FromContext(ctx)
	if !ok {
		return role.MakeSet()
	}

	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return role.MakeSet()
	}

	roles, _ := role.Parse(info.State.PeerCertificates[0].Subject.Organization)

	return roles
}

func (a authz) check(ctx context.Context, method string) (context.Context, error) {
	roles := a.roles(ctx)

	want, ok := methodRoles[method]
	if !ok {
		want = fallbackRoles
	}

	if !want.IncludesAny(roles) {
		return ctx, errNotAuthorized
	}

	return context.WithValue(ctx, rolesKey{}, roles), nil
}

func (a authz) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.check(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}

		return handler(ctx, req)
	}
}

func (a authz) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.check(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}

		return handler(srv, &rolesStream{ServerStream: ss, ctx: ctx})
	}
}

// rolesStream carries the caller's roles to stream handlers.
type rolesStream struct {
	grpc.ServerStream

	ctx context.Context //nolint:containedctx // gRPC's way to pass a stream context
}

func (s *rolesStream) Context() context.Context { return s.ctx }

// callerRoles are the roles the interceptor found for this call.
func callerRoles(ctx context.Context) role.Set {
	roles, _ := ctx.Value(rolesKey{}).(role.Set)

	return roles
}
