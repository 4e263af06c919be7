package flash

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Target is what an image is written to: a device or a file.
type Target interface {
	io.WriterAt
	io.ReaderAt
	Sync() error
}

// Phases of a flash, for progress.
const (
	PhaseDownload = "download"
	PhaseCheck    = "check" // the cached image against its record
	PhaseWrite    = "write"
	PhaseVerify   = "verify"
)

// Progress is one report on a phase: bytes done of total (0 when not
// known), the rate so far and the time left at that rate.
type Progress struct {
	Phase string
	Done  int64
	Total int64
	Rate  float64 // bytes per second
	ETA   time.Duration
}

// HeadSize is the part of the image written last, after the card's
// start was zeroed first: the partition table and the boot partition's
// start. Until the whole image is on the card its first MiB is zeros, so a
// write that stops midway leaves a card no Pi boots — never a half-right
// one.
const HeadSize = 1 << 20

// chunk is one write: large enough for a card's erase blocks.
const chunk = 4 << 20

// Result is a finished flash: what was written and its digest, which the
// read-back matched.
type Result struct {
	Written int64
	SHA256  string // of the raw (decompressed) image
}

// WriteError is a flash that did not finish. The card's first MiB was
// zeroed (Zeroed) unless that failed too.
type WriteError struct {
	Written   int64
	Total     int64
	Cancelled bool
	Zeroed    bool
	Err       error
}

func (e *WriteError) Error() string {
	what := "the write failed"
	if e.Cancelled {
		what = "cancelled"
	}

	msg := fmt.Sprintf("%s after %s of %s: %v", what, Bytes(e.Written), Bytes(e.Total), e.Err)
	if e.Zeroed {
		return msg + " — the medium's first MiB is zeroed, so it is not bootable (not half-written); write it again"
	}

	return msg + " — zeroing its first MiB failed too: do not boot this medium; write it again"
}

func (e *WriteError) Unwrap() error { return e.Err }

// Open is a source image: xz-compressed or raw, with its raw size.
type Open struct {
	f    *fileio.File
	XZ   bool
	Size int64 // raw bytes
}

// OpenImage opens an image file (metal-arm64.raw.xz, or a raw image) and
// finds its raw size.
func OpenImage(path string) (*Open, error) {
	// A regular file only, bounded: fileio refuses a FIFO or a device.
	f, err := fileio.Open(path, fileio.DiskImage)
	if err != nil {
		return nil, err
	}

	fi, err := f.Stat()
	if err != nil {
		f.Close() //nolint:errcheck

		return nil, err
	}

	head := make([]byte, len(xzMagic))
	n, _ := f.ReadAt(head, 0)

	o := &Open{f: f, Size: fi.Size(), XZ: IsXZ(head[:n])}
	if o.XZ {
		if o.Size, err = XZSize(f, fi.Size()); err != nil {
			f.Close() //nolint:errcheck

			return nil, fmt.Errorf("image %s: %w", path, err)
		}
	}

	return o, nil
}

// Close closes the image.
func (o *Open) Close() error { return o.f.Close() }

// reader reads the image once, from its start (ReadAt above moved nothing).
func (o *Open) reader() (io.Reader, error) {
	if !o.XZ {
		return o.f, nil
	}

	return xz.NewReader(bufio.NewReaderSize(o.f, 1<<20))
}

// Write streams the image to dst, decompressing as it goes: the first MiB
// of dst zeroed and synced, the rest of the image, a sync, the image's
// first MiB last, a sync; then every byte read back and compared by
// SHA-256. Cancelling ctx stops it between chunks; any stop before the
// head is written leaves dst's first MiB zeroed (WriteError).
func Write(ctx context.Context, img *Open, dst Target, report func(Progress)) (Result, error) {
	if report == nil {
		report = func(Progress) {}
	}

	res, err := write(ctx, img, dst, report)
	if err != nil {
		return res, err
	}

	return res, Verify(ctx, dst, res, report)
}

// write is Write up to the read-back.
func write(ctx context.Context, img *Open, dst Target, report func(Progress)) (Result, error) {

	src, err := img.reader()
	if err != nil {
		return Result{}, err
	}

	zeros := make([]byte, HeadSize)
	if _, err := dst.WriteAt(zeros, 0); err != nil {
		return Result{}, fmt.Errorf("writing: %w — nothing of the image was written", err)
	}

	if err := dst.Sync(); err != nil {
		return Result{}, fmt.Errorf("syncing: %w — nothing of the image was written", err)
	}

	fail := func(written int64, err error) (Result, error) {
		we := &WriteError{Written: written, Total: img.Size, Cancelled: errors.Is(err, context.Canceled), Err: err}
		if _, zerr := dst.WriteAt(zeros, 0); zerr == nil {
			we.Zeroed = dst.Sync() == nil
		}

		return Result{}, we
	}

	sum := sha256.New()
	m := newMeter(PhaseWrite, img.Size, report)
	head := make([]byte, 0, HeadSize)

	var off int64

	err = decode(ctx, src, func(b []byte) error {
		sum.Write(b)

		// The head waits in memory until the rest is on the medium.
		if n := min(HeadSize-len(head), len(b)); n > 0 && off < HeadSize {
			head = append(head, b[:n]...)
			off += int64(n)
			b = b[n:]
		}

		if len(b) > 0 {
			if _, err := dst.WriteAt(b, off); err != nil {
				return err
			}

			off += int64(len(b))
		}

		m.at(off)

		return ctx.Err()
	})
	if err == nil && off != img.Size {
		err = fmt.Errorf("the image decompressed to %s, its index says %s: the file is damaged", Bytes(off), Bytes(img.Size))
	}

	if err == nil {
		err = dst.Sync()
	}

	if err == nil {
		_, err = dst.WriteAt(head, 0)
	}

	if err == nil {
		err = dst.Sync()
	}

	if err != nil {
		return fail(off, err)
	}

	m.done(off)

	return Result{Written: off, SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}

// VerifyError is a read-back that did not match what was written.
type VerifyError struct{ Want, Got string }

func (e *VerifyError) Error() string {
	return fmt.Sprintf("read-back does not match: wrote sha256 %s, read %s — the card or reader is failing; try another card", e.Want[:12], e.Got[:12])
}

// Verify reads back res.Written bytes of dst, past the page cache where
// the platform allows (dropCache), and compares their SHA-256.
func Verify(ctx context.Context, dst Target, res Result, report func(Progress)) error {
	if report == nil {
		report = func(Progress) {}
	}

	dropCache(dst)

	sum := sha256.New()
	m := newMeter(PhaseVerify, res.Written, report)
	buf := make([]byte, chunk)

	for off := int64(0); off < res.Written; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cancelled during the read-back after %s of %s: the image was written and synced but not verified: %w", Bytes(off), Bytes(res.Written), err)
		}

		n := int(min(int64(len(buf)), res.Written-off))

		got, err := dst.ReadAt(buf[:n], off)
		if err != nil && !(errors.Is(err, io.EOF) && got == n) {
			return fmt.Errorf("reading back at %s: %w", Bytes(off), err)
		}

		sum.Write(buf[:n])
		off += int64(n)
		m.at(off)
	}

	m.done(res.Written)

	if got := hex.EncodeToString(sum.Sum(nil)); got != res.SHA256 {
		return &VerifyError{Want: res.SHA256, Got: got}
	}

	return nil
}

// decode runs the decompressor in its own goroutine, a few chunks ahead
// of the writer, so decompression and the medium's writes overlap. each
// gets full chunks (the last may be short) in order.
func decode(ctx context.Context, src io.Reader, each func([]byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	const depth = 3

	free := make(chan []byte, depth)
	full := make(chan []byte, depth)
	errc := make(chan error, 1)

	for range depth {
		free <- make([]byte, chunk)
	}

	go func() {
		defer close(full)

		for {
			var b []byte
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}

			n, err := io.ReadFull(src, b)
			if n > 0 {
				full <- b[:n]
			}

			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				errc <- nil

				return
			}

			if err != nil {
				errc <- fmt.Errorf("decompressing the image: %w", err)

				return
			}
		}
	}()

	for b := range full {
		if err := each(b); err != nil {
			return err
		}

		free <- b[:cap(b)]
	}

	if err := ctx.Err(); err != nil {
		return err
	}

	return <-errc
}

// meter turns byte counts into Progress with a rate and an ETA.
type meter struct {
	phase  string
	total  int64
	start  time.Time
	report func(Progress)
}

func newMeter(phase string, total int64, report func(Progress)) *meter {
	m := &meter{phase: phase, total: total, start: time.Now(), report: report}
	report(Progress{Phase: phase, Total: total})

	return m
}

func (m *meter) at(done int64) {
	p := Progress{Phase: m.phase, Done: done, Total: m.total}

	if el := time.Since(m.start).Seconds(); el > 0 && done > 0 {
		p.Rate = float64(done) / el
		if m.total > done {
			p.ETA = time.Duration(float64(m.total-done) / p.Rate * float64(time.Second))
		}
	}

	m.report(p)
}

func (m *meter) done(n int64) { m.at(n) }
