package flash

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Cache keeps downloaded images under Dir, one file per URL, each with a
// record of its size and SHA-256 taken when the download finished. A
// cached image is used again only when it still matches its record; a
// download that stopped resumes from where it stopped (HTTP Range), or
// starts over when the server does not resume.
type Cache struct {
	Dir  string
	HTTP *http.Client
	// Note tells the operator what the cache decided (reused, resumed,
	// downloaded again and why).
	Note func(string)
}

// DefaultCacheDir is $XDG_CACHE_HOME/liftoff/images (os.UserCacheDir:
// ~/.cache on Linux when XDG_CACHE_HOME is unset, ~/Library/Caches on
// macOS).
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %w (set XDG_CACHE_HOME)", err)
	}

	return filepath.Join(dir, "liftoff", "images"), nil
}

// Record is what the cache knows of one image.
type Record struct {
	URL        string    `json:"url"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	ETag       string    `json:"etag,omitempty"`
	Downloaded time.Time `json:"downloaded"`
}

// partial is the record of a download under way: the validator a resume
// must match.
type partial struct {
	URL  string `json:"url"`
	ETag string `json:"etag,omitempty"`
	// LastModified stands in for a missing ETag in If-Range.
	LastModified string `json:"lastModified,omitempty"`
}

// Path is where u is cached: <dir>/<host>/<path>, so a factory image
// lands at <host>/image/<schematic>/<version>/metal-arm64.raw.xz.
func (c *Cache) Path(u string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
		return "", fmt.Errorf("image URL %q: want an http(s) URL", u)
	}

	clean := filepath.Clean("/" + pu.Path)
	if clean == "/" || strings.Contains(pu.Path, "..") {
		return "", fmt.Errorf("image URL %q names no file", u)
	}

	host := strings.NewReplacer(":", "_", "/", "_").Replace(pu.Host)

	return filepath.Join(c.Dir, host, filepath.FromSlash(clean)), nil
}

// Get returns the cached file for u, downloading or resuming it first
// when it is missing or no longer matches its record.
func (c *Cache) Get(ctx context.Context, u string, report func(Progress)) (string, Record, error) {
	if report == nil {
		report = func(Progress) {}
	}

	path, err := c.Path(u)
	if err != nil {
		return "", Record{}, err
	}

	if rec, err := c.check(ctx, path, u, report); err == nil {
		c.note(fmt.Sprintf("cached %s (sha256 %s, checked)", path, rec.SHA256[:12]))

		return path, rec, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		if ctx.Err() != nil {
			return "", Record{}, ctx.Err()
		}

		c.note(fmt.Sprintf("the cached %s does not match its record (%v): downloading it again", filepath.Base(path), err))
		os.Remove(path)           //nolint:errcheck
		os.Remove(path + ".json") //nolint:errcheck
	}

	rec, err := c.download(ctx, u, path, report)
	if err != nil {
		return "", Record{}, err
	}

	return path, rec, nil
}

// check hashes a cached file against its record.
func (c *Cache) check(ctx context.Context, path, u string, report func(Progress)) (Record, error) {
	data, err := fileio.ReadFile(path+".json", fileio.Own)
	if err != nil {
		return Record{}, err
	}

	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("its record is not JSON: %w", err)
	}

	if rec.URL != u {
		return Record{}, fmt.Errorf("its record is for %s", rec.URL)
	}

	if fi, err := os.Stat(path); err != nil {
		return Record{}, err
	} else if fi.Size() != rec.Size {
		return Record{}, fmt.Errorf("size %d, recorded %d", fi.Size(), rec.Size)
	}

	_, sum, err := hashFile(ctx, path, report)
	if err != nil {
		return Record{}, err
	}

	if sum != rec.SHA256 {
		return Record{}, fmt.Errorf("sha256 %s, recorded %s", sum[:12], rec.SHA256[:12])
	}

	return rec, nil
}

func (c *Cache) download(ctx context.Context, u, path string, report func(Progress)) (Record, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return Record{}, err
	}

	part := path + ".part"

	var prev partial
	if data, err := fileio.ReadFile(part+".json", fileio.Own); err == nil {
		json.Unmarshal(data, &prev) //nolint:errcheck // an unreadable one resumes nothing
	}

	var have int64
	if fi, err := os.Stat(part); err == nil && prev.URL == u && (prev.ETag != "" || prev.LastModified != "") {
		have = fi.Size()
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Record{}, err
	}

	if have > 0 {
		// If-Range: the server sends the rest only if the file is the one
		// the first part came from, else all of it (RFC 9110 13.1.5).
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", cmp.Or(prev.ETag, prev.LastModified))
	}

	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}

	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Record{}, ctx.Err()
		}

		return Record{}, fmt.Errorf("downloading %s: %w — check the network; what was downloaded so far is kept and resumed next time", u, err)
	}
	defer resp.Body.Close() //nolint:errcheck

	flags := os.O_CREATE

	var total int64

	switch resp.StatusCode {
	case http.StatusPartialContent:
		flags |= os.O_APPEND
		total = have + resp.ContentLength
		c.note(fmt.Sprintf("resuming %s at %s", filepath.Base(path), Bytes(have)))
	case http.StatusOK:
		flags |= os.O_TRUNC
		have, total = 0, resp.ContentLength
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))

		return Record{}, fmt.Errorf("downloading %s: the server answered %s: %s — for an Image Factory image, register its schematic first (liftoff images --register)",
			u, resp.Status, strings.TrimSpace(string(body)))
	}

	if resp.ContentLength < 0 {
		total = 0
	}

	p := partial{URL: u, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if data, err := json.Marshal(p); err == nil {
		os.WriteFile(part+".json", data, 0o644) //nolint:errcheck,gosec // only a resume hint
	}

	f, err := os.OpenFile(part, os.O_WRONLY|flags, 0o644)
	if err != nil {
		return Record{}, err
	}

	m := newMeter(PhaseDownload, total, report)
	m.at(have)

	err = copyProgress(ctx, f, resp.Body, &offsetMeter{m, have})
	if cerr := f.Close(); err == nil {
		err = cerr
	}

	if err != nil {
		if ctx.Err() != nil {
			return Record{}, fmt.Errorf("download cancelled; the part downloaded is kept and resumed next time: %w", ctx.Err())
		}

		return Record{}, fmt.Errorf("downloading %s: %w — run it again to resume", u, err)
	}

	rec, err := c.record(ctx, part, u, p.ETag, report)
	if err != nil {
		return Record{}, err
	}

	if total > 0 && rec.Size != total {
		os.Remove(part) //nolint:errcheck

		return Record{}, fmt.Errorf("downloading %s: got %d bytes, the server announced %d — run it again", u, rec.Size, total)
	}

	if err := os.Rename(part, path); err != nil {
		return Record{}, err
	}

	os.Remove(part + ".json") //nolint:errcheck

	data, _ := json.MarshalIndent(rec, "", "  ")
	if err := fileio.WriteFile(path+".json", append(data, '\n'), 0o644); err != nil {
		return Record{}, err
	}

	c.note(fmt.Sprintf("downloaded %s (%s, sha256 %s) to %s", u, Bytes(rec.Size), rec.SHA256[:12], path))

	return rec, nil
}

// record hashes the finished download: the digest later reuse is checked
// against. Image Factory publishes no checksum of its own.
func (c *Cache) record(ctx context.Context, path, u, etag string, report func(Progress)) (Record, error) {
	size, sum, err := hashFile(ctx, path, report)
	if err != nil {
		return Record{}, err
	}

	return Record{URL: u, Size: size, SHA256: sum, ETag: etag, Downloaded: time.Now().UTC().Truncate(time.Second)}, nil
}

// hashFile is a file's size and SHA-256, read with progress (PhaseCheck).
func hashFile(ctx context.Context, path string, report func(Progress)) (int64, string, error) {
	f, err := fileio.Open(path, fileio.DiskImage)
	if err != nil {
		return 0, "", err
	}
	defer f.Close() //nolint:errcheck

	fi, err := f.Stat()
	if err != nil {
		return 0, "", err
	}

	h := sha256.New()
	if err := copyProgress(ctx, h, f, newMeter(PhaseCheck, fi.Size(), report)); err != nil {
		return 0, "", err
	}

	return fi.Size(), hex.EncodeToString(h.Sum(nil)), nil
}

func (c *Cache) note(s string) {
	if c.Note != nil {
		c.Note(s)
	}
}

type progressAt interface{ at(int64) }

// offsetMeter counts from where a resumed download started.
type offsetMeter struct {
	m    *meter
	base int64
}

func (o *offsetMeter) at(n int64) { o.m.at(o.base + n) }

// copyProgress copies with a cancellation check and a report per block.
func copyProgress(ctx context.Context, dst io.Writer, src io.Reader, m progressAt) error {
	buf := make([]byte, 1<<20)

	var n int64

	for {
		if err := ctx.Err(); err != nil {
			return err
		}

		r, err := src.Read(buf)
		if r > 0 {
			if _, werr := dst.Write(buf[:r]); werr != nil {
				return werr
			}

			n += int64(r)
			m.at(n)
		}

		if errors.Is(err, io.EOF) {
			return nil
		}

		if err != nil {
			return err
		}
	}
}
