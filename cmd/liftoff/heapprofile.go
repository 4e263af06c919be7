//go:build heapprofile

package main

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// A heap profile on demand, only in a binary built with -tags heapprofile
// (the memory benchmark's): SIGUSR1 writes one to $LIFTOFF_HEAPPROFILE,
// and the same as text with runtime.MemStats to $LIFTOFF_HEAPPROFILE.txt.
// The released binary has neither the handler nor a debug listener.
func init() {
	path := os.Getenv("LIFTOFF_HEAPPROFILE")
	if path == "" {
		return
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)

	go func() {
		for range sig {
			runtime.GC()
			write(path+".txt", 1)
			write(path, 0)
		}
	}()
}

// write writes the heap profile aside and renames it, so the file
// appears whole.
func write(path string, debug int) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return
	}

	err = pprof.Lookup("heap").WriteTo(f, debug)
	if cerr := f.Close(); err == nil && cerr == nil {
		_ = os.Rename(path+".tmp", path)
	}
}
