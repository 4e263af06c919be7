package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkStartup is the built binary from exec to exit: what a person
// waits for on every command. The binary carries Talos's machinery and
// client-go, so its init work and size are what this watches.
func BenchmarkStartup(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "liftoff")

	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}

	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}

	for _, c := range []struct {
		name string
		args []string
	}{
		{"version", []string{"--version"}},
		{"plan-validate", []string{"plan", "validate", "--plan", "../../examples/lab.yaml"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if out, err := exec.Command(bin, c.args...).CombinedOutput(); err != nil {
					b.Fatalf("liftoff %v: %v\n%s", c.args, err, out)
				}
			}

			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/run")
			b.ReportMetric(float64(fi.Size())/1e6, "MB-binary")
		})
	}
}
