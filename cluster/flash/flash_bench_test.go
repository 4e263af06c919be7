package flash

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ulikunitz/xz"
)

// BenchmarkFlash measures liftoff's flash against the by-hand way,
// `xz -dc image | dd of=… bs=4M conv=fsync`, on the same generated
// Talos-like image (mostly zeros, runs of noise; 64 MiB raw) written to a
// file in the same temporary directory. MB/s is raw image bytes per second.
// liftoff's time includes what dd does not do: zeroing the head first,
// writing it last, a second sync and the full read-back.
func BenchmarkFlash(b *testing.B) {
	xzPath, err1 := exec.LookPath("xz")
	ddPath, err2 := exec.LookPath("dd")

	if err1 != nil || err2 != nil {
		b.Skip("needs xz(1) and dd(1) to compare against")
	}

	dir := b.TempDir()
	raw := testImage(64 << 20)
	rawPath := writeFile(b, dir, "img.raw", raw)

	// xz(1) compresses (much faster than the Go encoder); both sides read
	// the same file.
	if out, err := exec.Command(xzPath, "-k", "-6", "-T1", rawPath).CombinedOutput(); err != nil {
		b.Fatalf("xz: %v %s", err, out)
	}

	img := rawPath + ".xz"
	target := filepath.Join(dir, "card")

	b.Run("liftoff", func(b *testing.B) { benchWrite(b, img, target, len(raw), Write) })

	// Without the read-back: the part dd also does.
	b.Run("liftoff-no-readback", func(b *testing.B) {
		benchWrite(b, img, target, len(raw), func(ctx context.Context, o *Open, t Target, _ func(Progress)) (Result, error) {
			return write(ctx, o, t, func(Progress) {})
		})
	})

	b.Run("xz-dc|dd", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))

		for b.Loop() {
			cmd := exec.Command("sh", "-c", `"$0" -dc "$1" | "$2" of="$3" bs=4M conv=fsync status=none`, xzPath, img, ddPath, target)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})

	// The Go decoder alone, to tell decoding from writing.
	b.Run("decode-only", func(b *testing.B) {
		data, err := os.ReadFile(img)
		if err != nil {
			b.Fatal(err)
		}

		b.SetBytes(int64(len(raw)))

		for b.Loop() {
			r, err := xz.NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}

			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchWrite(b *testing.B, img, target string, size int, write func(context.Context, *Open, Target, func(Progress)) (Result, error)) {
	b.SetBytes(int64(size))

	for b.Loop() {
		src, err := OpenImage(img)
		if err != nil {
			b.Fatal(err)
		}

		f, err := os.Create(target)
		if err != nil {
			b.Fatal(err)
		}

		if _, err := write(context.Background(), src, f, nil); err != nil {
			b.Fatal(err)
		}

		f.Close()   //nolint:errcheck
		src.Close() //nolint:errcheck
	}
}
