package board

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
)

// apid routes a call the way Talos v1.13.3's apid director does
// (internal/app/apid/pkg/director/director.go): no node metadata answers
// locally; "node" goes one-to-one to that node; "nodes" fans out to each
// and joins the answers, every message stamped with its node in
// metadata.hostname (internal/app/apid/pkg/backend/apid.go, AppendInfo), a
// node that fails answering with metadata.error (BuildError). Peers are
// the other simulated boards, reached in process: a board that is down
// refuses the connection, one whose OS CA is not ours fails the TLS
// handshake, as apid's client would.

// oneToMany are the services apid fans out (director.go's list).
var oneToMany = []string{"/machine.MachineService/", "/cluster.ClusterService/", "/inspect.InspectService/", "/storage.StorageService/", "/time.TimeService/"}

// served is one registered service of a boot's apid: what a forwarded call
// is dispatched to.
type served struct {
	desc *grpc.ServiceDesc
	impl any
}

// route picks the targets of a call: nil means answer locally.
func route(ctx context.Context, method string) (targets []string, many bool, err error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return nil, false, nil
	}

	if _, from := md["proxyfrom"]; from {
		return nil, false, nil
	}

	nodes, node := md["nodes"], md["node"]

	switch {
	case len(nodes) > 0:
		for _, p := range oneToMany {
			if strings.HasPrefix(method, p) {
				return nodes, true, nil
			}
		}

		return nil, false, status.Errorf(codes.InvalidArgument, "one-2-many proxying is not supported for method %s", method)
	case len(node) > 1:
		return nil, false, status.Error(codes.InvalidArgument, "node metadata must be single-valued")
	case len(node) == 1:
		return node, false, nil
	}

	return nil, false, nil
}

// forwarded is the context a peer sees: the caller's roles, no routing
// metadata, marked as proxied.
func forwarded(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()
	delete(md, "node")
	delete(md, "nodes")
	md.Set("proxyfrom", "apid")

	return metadata.NewIncomingContext(ctx, md)
}

// peer is the board answering at target, checked the way apid's TLS
// client would find it.
func (b *Board) peer(target string) (*Board, error) {
	if target == "" || strings.Contains(target, ":") && net.ParseIP(target) == nil {
		return nil, status.Errorf(codes.Internal, "invalid target %q", target)
	}

	dialErr := func(why string) error {
		return status.Errorf(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp %s: %s\"", net.JoinHostPort(target, fmt.Sprint(b.opts.Port)), why)
	}

	var p *Board

	switch {
	case target == b.address():
		p = b
	case b.opts.Lab != nil:
		p = b.opts.Lab.Peer(target)
	}

	if p == nil {
		return nil, dialErr("connect: connection refused")
	}

	p.mu.Lock()
	up, secure, ca := p.server != nil, p.cfg != nil && p.installed, p.osCALocked()
	p.mu.Unlock()

	if !up {
		return nil, dialErr("connect: connection refused")
	}

	b.mu.Lock()
	ours := b.osCALocked()
	b.mu.Unlock()

	if !secure || ca != ours {
		return nil, status.Error(codes.Unavailable, "connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\"")
	}

	return p, nil
}

// osCALocked is the OS CA certificate of the running config ("" without).
func (b *Board) osCALocked() string {
	if b.cfg == nil || b.cfg.Machine() == nil || b.cfg.Machine().Security().IssuingCA() == nil {
		return ""
	}

	return string(b.cfg.Machine().Security().IssuingCA().Crt)
}

// lookup finds a method of this board's apid.
func (b *Board) lookup(method string) (impl any, unary *grpc.MethodDesc, stream *grpc.StreamDesc) {
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")

	for _, s := range b.api {
		if s.desc.ServiceName != service {
			continue
		}

		for i := range s.desc.Methods {
			if s.desc.Methods[i].MethodName == name {
				return s.impl, &s.desc.Methods[i], nil
			}
		}

		for i := range s.desc.Streams {
			if s.desc.Streams[i].StreamName == name {
				return s.impl, nil, &s.desc.Streams[i]
			}
		}
	}

	return nil, nil, nil
}

// invoke runs a unary call on this board as its own apid would, for a
// caller another board's apid forwarded.
func (b *Board) invoke(ctx context.Context, method string, req any) (any, error) {
	impl, m, _ := b.lookup(method)
	if m == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}

	ctx, err := b.authz().check(ctx, method)
	if err != nil {
		return nil, err
	}

	resp, err := m.Handler(impl, ctx, func(v any) error {
		proto.Merge(v.(proto.Message), req.(proto.Message)) //nolint:forcetypeassert // gRPC messages are protos

		return nil
	}, nil)

	return resp, unsupported(method, err)
}

// invokeStream runs a streaming call on this board over ss.
func (b *Board) invokeStream(ss grpc.ServerStream, method string) error {
	impl, _, s := b.lookup(method)
	if s == nil {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}

	ctx, err := b.authz().check(ss.Context(), method)
	if err != nil {
		return err
	}

	return unsupported(method, s.Handler(impl, &rolesStream{ServerStream: ss, ctx: ctx}))
}

func (b *Board) authz() authz {
	b.mu.Lock()
	defer b.mu.Unlock()

	return authz{maintenance: b.cfg == nil || !b.installed}
}

// routeUnary is apid's director for unary calls.
func (b *Board) routeUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		targets, many, err := route(ctx, info.FullMethod)
		if err != nil || targets == nil {
			if err != nil {
				return nil, err
			}

			return handler(ctx, req)
		}

		fctx := forwarded(ctx)

		if !many {
			p, err := b.peer(targets[0])
			if err != nil {
				return nil, err
			}

			return p.invoke(fctx, info.FullMethod, req)
		}

		out, err := newOutput(info.FullMethod)
		if err != nil {
			return nil, err
		}

		answers := make([]proto.Message, len(targets))

		var wg sync.WaitGroup

		for i, target := range targets {
			wg.Go(func() {
				p, err := b.peer(target)

				var resp any
				if err == nil {
					resp, err = p.invoke(fctx, info.FullMethod, req)
				}

				answers[i] = stamped(out, resp, target, err)
			})
		}

		wg.Wait()

		for _, a := range answers {
			proto.Merge(out, a)
		}

		return out, nil
	}
}

// routeStream is apid's director for streaming calls.
func (b *Board) routeStream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		targets, many, err := route(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}

		if targets == nil {
			return handler(srv, ss)
		}

		fctx := forwarded(ss.Context())

		if !many {
			p, err := b.peer(targets[0])
			if err != nil {
				return err
			}

			return p.invokeStream(&ctxStream{ServerStream: ss, ctx: fctx}, info.FullMethod)
		}

		// The request is read once and handed to every node.
		in, err := newInput(info.FullMethod)
		if err != nil {
			return err
		}

		if info.IsClientStream {
			return status.Errorf(codes.InvalidArgument, "one-2-many proxying is not supported for client streams (%s)", info.FullMethod)
		}

		if err := ss.RecvMsg(in); err != nil {
			return err
		}

		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)

		for _, target := range targets {
			wg.Go(func() {
				fan := &fanStream{ServerStream: ss, ctx: fctx, req: in, target: target, mu: &mu}

				p, err := b.peer(target)
				if err == nil {
					err = p.invokeStream(fan, info.FullMethod)
				}

				if err != nil && ss.Context().Err() == nil {
					msg, _ := newOutput(info.FullMethod)
					if msg != nil {
						setMetadata(msg, target, err)
						mu.Lock()
						_ = ss.SendMsg(msg) //nolint:errcheck // the caller may have gone
						mu.Unlock()
					}
				}
			})
		}

		wg.Wait()

		return nil
	}
}

// ctxStream is a stream seen with another context.
type ctxStream struct {
	grpc.ServerStream

	ctx context.Context //nolint:containedctx // gRPC's way to pass a stream context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// fanStream is one node's share of a one-to-many stream: it reads the
// shared request once and stamps each message it sends with its node.
type fanStream struct {
	grpc.ServerStream

	ctx    context.Context //nolint:containedctx // gRPC's way to pass a stream context
	req    proto.Message
	read   bool
	target string
	mu     *sync.Mutex
}

func (s *fanStream) Context() context.Context { return s.ctx }

func (s *fanStream) RecvMsg(m any) error {
	if s.read {
		return io.EOF
	}

	s.read = true
	proto.Merge(m.(proto.Message), s.req) //nolint:forcetypeassert // gRPC messages are protos

	return nil
}

func (s *fanStream) SendMsg(m any) error {
	msg := proto.Clone(m.(proto.Message)) //nolint:forcetypeassert // gRPC messages are protos
	setMetadata(msg, s.target, nil)

	s.mu.Lock()
	defer s.mu.Unlock()

	return s.ServerStream.SendMsg(msg)
}

// method is a gRPC method's descriptor, from the protobuf registry.
func method(full string) (protoreflect.MethodDescriptor, error) {
	service, name, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")

	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown service %s", service)
	}

	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown service %s", service)
	}

	m := sd.Methods().ByName(protoreflect.Name(name))
	if m == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", full)
	}

	return m, nil
}

func newMessage(d protoreflect.MessageDescriptor) (proto.Message, error) {
	t, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "message %s: %v", d.FullName(), err)
	}

	return t.New().Interface(), nil
}

func newOutput(full string) (proto.Message, error) {
	m, err := method(full)
	if err != nil {
		return nil, err
	}

	return newMessage(m.Output())
}

func newInput(full string) (proto.Message, error) {
	m, err := method(full)
	if err != nil {
		return nil, err
	}

	return newMessage(m.Input())
}

// stamped is one node's unary answer with every message stamped with the
// node, or, when it failed, one message saying so.
func stamped(like proto.Message, resp any, target string, err error) proto.Message {
	out := like.ProtoReflect().New().Interface()

	if err == nil {
		proto.Merge(out, resp.(proto.Message)) //nolint:forcetypeassert // gRPC messages are protos
	}

	list := out.ProtoReflect().Descriptor().Fields().ByName("messages")
	if list == nil || !list.IsList() || list.Message() == nil {
		return out
	}

	msgs := out.ProtoReflect().Mutable(list).List()

	if err != nil {
		msgs.Append(msgs.NewElement())
	}

	for i := range msgs.Len() {
		setMetadata(msgs.Get(i).Message().Interface(), target, err)
	}

	return out
}

// setMetadata fills a message's common.Metadata (field "metadata").
func setMetadata(msg proto.Message, target string, err error) {
	f := msg.ProtoReflect().Descriptor().Fields().ByName("metadata")
	if f == nil || f.Message() == nil || f.Message().FullName() != "common.Metadata" {
		return
	}

	md := &common.Metadata{Hostname: target}
	if err != nil {
		md.Error = err.Error()
		md.Status = status.Convert(err).Proto()
	}

	msg.ProtoReflect().Set(f, protoreflect.ValueOfMessage(md.ProtoReflect()))
}
