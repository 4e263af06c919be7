package board

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serviceEventLocked writes a service's event where Talos does: machined
// logs every one as "[talos] service[ID](State): message" (its service
// runner's event log), and a service that starts prints its own first line.
func (b *Board) serviceEventLocked(id, state, msg string, started bool) {
	if id != "machined" {
		b.logLocked("machined", fmt.Sprintf("[talos] service[%s](%s): %s", id, state, msg))
	}

	if !started {
		return
	}

	if line, ok := firstLines[id]; ok {
		b.logLocked(id, line)
	}
}

// firstLines are what each service prints as it starts.
var firstLines = map[string]string{
	"apid":       "apid: serving the Talos API on [::]:50000 (mutual TLS; maintenance mode serves TLS without client certificates)",
	"trustd":     "trustd: serving on [::]:50001",
	"containerd": `level=info msg="containerd successfully booted in 0.052s"`,
	"cri":        `level=info msg="containerd successfully booted in 0.061s"`, // the CRI's own containerd
	"udevd":      "udevd: starting version 257.9",
	"machined":   "[talos] machined: started",
	"etcd":       `{"level":"info","msg":"serving client traffic securely","address":"[::]:2379"}`,
}

// unsupported answers a call the simulated lab does not serve the way
// Talos answers a call it does not support (codes.Unimplemented, e.g.
// "API is not implemented in agent mode"), instead of gRPC's bare
// "method X not implemented", so nothing hangs and the reason is plain.
func unsupported(method string, err error) error {
	if status.Code(err) != codes.Unimplemented || !strings.HasSuffix(status.Convert(err).Message(), "not implemented") {
		return err
	}

	name := method[strings.LastIndex(method, "/")+1:]

	return status.Errorf(codes.Unimplemented, "%s API is not implemented in the simulated lab (liftoff sim); see docs/architecture.md for what it serves", name)
}

func unsupportedUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)

		return resp, unsupported(info.FullMethod, err)
	}
}

func unsupportedStream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return unsupported(info.FullMethod, handler(srv, ss))
	}
}
