package main

import (
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"
)

// client-go's and gRPC's lines go to the session's log, never over the
// dashboard.
func TestLibraryLinesGoToTheLog(t *testing.T) {
	var b strings.Builder

	log := &lockedWriter{w: &b}
	libraryLog(log)
	t.Cleanup(func() { klog.LogToStderr(true) })

	klog.Warning("very short watch: k8s.io/client-go/tools/watch")
	klog.Flush()
	grpclog.Error("addrConn.createTransport failed")
	grpclog.Info("chatter nobody needs")

	log.mu.Lock()
	got := b.String()
	log.mu.Unlock()
	if !strings.Contains(got, "very short watch") || !strings.Contains(got, "createTransport failed") {
		t.Fatalf("the log has:\n%s", got)
	}

	if strings.Contains(got, "chatter") {
		t.Fatalf("gRPC's info lines are kept:\n%s", got)
	}
}
