package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"
)

// libraryLog sends client-go's (klog) and gRPC's log lines to w while the
// dashboard owns the terminal: written to stderr they are drawn over the
// screen (seen with 200 boards and a loaded API server: "very short
// watch" lines across the dashboard). gRPC's info lines are dropped, as
// its default logger does.
func libraryLog(w io.Writer) {
	klog.LogToStderr(false)
	klog.SetOutput(w)
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, w, w))
}

// openLog opens (appends to) a session's log in dir: liftoff up's
// liftoff.log for the libraries' lines, liftoff sim's sim.log.
func openLog(dir, name string) (*os.File, error) {
	path := filepath.Join(dir, name)

	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("the session's log %s: %w", path, err)
	}

	return f, nil
}
