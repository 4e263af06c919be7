package flash

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// testImage is a raw image of n bytes: a recognisable first sector,
// compressible runs and noise, so every chunk differs.
func testImage(n int) []byte {
	raw := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data

	for i := 0; i < n; i += 4096 {
		if (i/4096)%64 == 0 {
			for j := i; j < min(i+4096, n); j++ {
				raw[j] = byte(r.Uint32())
			}
		}
	}

	copy(raw, "liftoff test image\n")

	return raw
}

func compress(t testing.TB, raw []byte) []byte {
	t.Helper()

	var buf bytes.Buffer

	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()

	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	return path
}

// openXZ compresses raw into dir and opens it as an image.
func openXZ(t *testing.T, dir string, raw []byte) *Open {
	t.Helper()

	img, err := OpenImage(writeFile(t, dir, "img.raw.xz", compress(t, raw)))
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { img.Close() }) //nolint:errcheck

	return img
}

func TestXZSize(t *testing.T) {
	raw := testImage(3<<20 + 123)
	xzData := compress(t, raw)

	if n, err := XZSize(bytes.NewReader(xzData), int64(len(xzData))); err != nil || n != int64(len(raw)) {
		t.Errorf("one stream: %d, %v; want %d", n, err, len(raw))
	}

	// Two streams with stream padding between, as xz(1) writes for
	// concatenated files.
	two := append(append(append([]byte{}, xzData...), 0, 0, 0, 0), compress(t, raw[:1000])...)
	if n, err := XZSize(bytes.NewReader(two), int64(len(two))); err != nil || n != int64(len(raw)+1000) {
		t.Errorf("two streams: %d, %v; want %d", n, err, len(raw)+1000)
	}

	if _, err := XZSize(bytes.NewReader(xzData[:len(xzData)-10]), int64(len(xzData)-10)); err == nil {
		t.Error("a truncated file had a size")
	}

	// xz(1) itself, where it is installed, agrees.
	if path, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command(path, "-c", "-1")
		cmd.Stdin = bytes.NewReader(raw)

		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}

		if n, err := XZSize(bytes.NewReader(out), int64(len(out))); err != nil || n != int64(len(raw)) {
			t.Errorf("xz(1)'s file: %d, %v; want %d", n, err, len(raw))
		}
	}
}

func TestWriteToFileVerifies(t *testing.T) {
	dir := t.TempDir()
	raw := testImage(9<<20 + 512)

	img := openXZ(t, dir, raw)

	if !img.XZ || img.Size != int64(len(raw)) {
		t.Fatalf("opened as xz=%v size=%d", img.XZ, img.Size)
	}

	out, err := os.Create(filepath.Join(dir, "card"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close() //nolint:errcheck

	var phases []string

	var last Progress

	res, err := Write(context.Background(), img, out, func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}

		if p.Phase == PhaseWrite {
			last = p
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	got, _ := os.ReadFile(out.Name())
	if !bytes.Equal(got, raw) {
		t.Fatalf("the file differs from the image (%d bytes, want %d)", len(got), len(raw))
	}

	if res.Written != int64(len(raw)) || strings.Join(phases, ",") != "write,verify" || last.Done != last.Total {
		t.Errorf("result %+v, phases %v, last write progress %+v", res, phases, last)
	}
}

// A target whose writes or reads can be made to fail or to change bytes.
type faulty struct {
	*os.File
	failAt  int64 // a write at or past this offset fails
	corrupt bool  // reads flip a byte
}

func (f *faulty) WriteAt(b []byte, off int64) (int, error) {
	if f.failAt > 0 && off >= f.failAt {
		return 0, errors.New("I/O error")
	}

	return f.File.WriteAt(b, off)
}

func (f *faulty) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(b, off)
	if f.corrupt && n > 100 {
		b[100] ^= 0xff
	}

	return n, err
}

func TestFailedWriteLeavesNoBootableHead(t *testing.T) {
	dir := t.TempDir()
	raw := testImage(12 << 20)

	img := openXZ(t, dir, raw)

	// The card held an old image: its first MiB was not zeros.
	old := bytes.Repeat([]byte{0xAA}, 16<<20)
	card := writeFile(t, dir, "card", old)

	f, err := os.OpenFile(card, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck

	_, err = Write(context.Background(), img, &faulty{File: f, failAt: 8 << 20}, nil)

	var we *WriteError
	if !errors.As(err, &we) || we.Cancelled || !we.Zeroed || we.Written == 0 {
		t.Fatalf("err = %v (%+v)", err, we)
	}

	if !strings.Contains(err.Error(), "not bootable") {
		t.Errorf("the error does not say the card will not boot: %v", err)
	}

	got, _ := os.ReadFile(card)
	if !bytes.Equal(got[:HeadSize], make([]byte, HeadSize)) {
		t.Error("the first MiB is not zeroed after a failed write")
	}

	if !bytes.Equal(got[HeadSize:2*HeadSize], raw[HeadSize:2*HeadSize]) {
		t.Error("the write did not get past the head before failing: the test proves nothing")
	}
}

func TestCancelledWriteIsReportedAsSuch(t *testing.T) {
	dir := t.TempDir()
	raw := testImage(16 << 20)

	img := openXZ(t, dir, raw)

	f, err := os.Create(filepath.Join(dir, "card"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Cancelled once the write is past its first chunks, as ctrl-c would.
	_, err = Write(ctx, img, f, func(p Progress) {
		if p.Phase == PhaseWrite && p.Done >= 8<<20 {
			cancel()
		}
	})

	var we *WriteError
	if !errors.As(err, &we) || !we.Cancelled || !errors.Is(err, context.Canceled) || !we.Zeroed {
		t.Fatalf("err = %v", err)
	}

	if !strings.HasPrefix(err.Error(), "cancelled after") || we.Written >= int64(len(raw)) {
		t.Errorf("err = %v (written %d of %d)", err, we.Written, len(raw))
	}

	head := make([]byte, HeadSize)
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}

	if !bytes.Equal(head, make([]byte, HeadSize)) {
		t.Error("a cancelled write left the image's head on the card")
	}
}

func TestVerifyCatchesABadReadBack(t *testing.T) {
	dir := t.TempDir()
	raw := testImage(2 << 20)

	img, err := OpenImage(writeFile(t, dir, "img.raw", raw))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close() //nolint:errcheck

	if img.XZ || img.Size != int64(len(raw)) {
		t.Fatalf("a raw image opened as xz=%v size=%d", img.XZ, img.Size)
	}

	f, err := os.Create(filepath.Join(dir, "card"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck

	_, err = Write(context.Background(), img, &faulty{File: f, corrupt: true}, nil)

	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("a corrupted read-back passed: %v", err)
	}
}
