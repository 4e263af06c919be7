package main

import (
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/grpclog"
	"k8s.io/klog/v2"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()

	return l.b.String()
}

// client-go's and gRPC's lines go to the session's log, never over the
// dashboard.
func TestLibraryLinesGoToTheLog(t *testing.T) {
	var log lockedBuf

	libraryLog(&log)
	t.Cleanup(func() { klog.LogToStderr(true) })

	klog.Warning("very short watch: k8s.io/client-go/tools/watch")
	klog.Flush()
	grpclog.Error("addrConn.createTransport failed")
	grpclog.Info("chatter nobody needs")

	got := log.String()
	if !strings.Contains(got, "very short watch") || !strings.Contains(got, "createTransport failed") {
		t.Fatalf("the log has:\n%s", got)
	}

	if strings.Contains(got, "chatter") {
		t.Fatalf("gRPC's info lines are kept:\n%s", got)
	}
}
