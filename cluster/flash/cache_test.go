package flash

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// imageServer serves one file as a CDN does (http.ServeContent: Range,
// If-Range, an ETag) and counts requests and the ranges asked for.
type imageServer struct {
	mu     sync.Mutex
	data   []byte
	gets   int
	ranges []string
}

func (s *imageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.gets++
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	data := s.data
	s.mu.Unlock()

	w.Header().Set("ETag", `"v1"`)
	http.ServeContent(w, r, "metal-arm64.raw.xz", time.Unix(0, 0), bytes.NewReader(data))
}

func TestCacheDownloadsOnceAndChecksReuse(t *testing.T) {
	data := bytes.Repeat([]byte("talos"), 300_000)
	srv := &imageServer{data: data}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	var notes []string

	c := &Cache{Dir: t.TempDir(), Note: func(s string) { notes = append(notes, s) }}
	url := ts.URL + "/image/abc/v1.13.3/metal-arm64.raw.xz"

	path, rec, err := c.Get(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}

	if !strings.HasSuffix(path, "/image/abc/v1.13.3/metal-arm64.raw.xz") || rec.Size != int64(len(data)) || len(rec.SHA256) != 64 {
		t.Errorf("path %s, record %+v", path, rec)
	}

	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("the cached file differs from what was served")
	}

	// Again: no request, the file is checked against its record.
	if _, _, err := c.Get(context.Background(), url, nil); err != nil || srv.gets != 1 {
		t.Fatalf("second get: %v, %d requests", err, srv.gets)
	}

	if !strings.Contains(notes[len(notes)-1], "checked") {
		t.Errorf("reuse note: %q", notes[len(notes)-1])
	}

	// A cached file that changed on disk is downloaded again.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := f.WriteAt([]byte("X"), 1000); err != nil {
		t.Fatal(err)
	}

	f.Close() //nolint:errcheck

	if _, _, err := c.Get(context.Background(), url, nil); err != nil || srv.gets != 2 {
		t.Fatalf("after corruption: %v, %d requests", err, srv.gets)
	}

	if !strings.Contains(strings.Join(notes, "\n"), "does not match its record") {
		t.Errorf("no note on the mismatch: %q", notes)
	}

	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("the re-downloaded file differs")
	}
}

func TestCacheResumesAPartialDownload(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 200_000)
	srv := &imageServer{data: data}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	c := &Cache{Dir: t.TempDir()}
	url := ts.URL + "/image/abc/v1.13.3/metal-arm64.raw.xz"

	path, err := c.Path(url)
	if err != nil {
		t.Fatal(err)
	}

	// What an interrupted download left: the first 700000 bytes and the
	// validator it came with.
	if err := os.MkdirAll(strings.TrimSuffix(path, "/metal-arm64.raw.xz"), 0o755); err != nil {
		t.Fatal(err)
	}

	writeFile(t, "/", path+".part", data[:700_000])

	hint, _ := json.Marshal(partial{URL: url, ETag: `"v1"`})
	writeFile(t, "/", path+".part.json", hint)

	var downloaded []int64

	if _, _, err := c.Get(context.Background(), url, func(p Progress) {
		if p.Phase == PhaseDownload && p.Done > 0 {
			downloaded = append(downloaded, p.Done)
		}
	}); err != nil {
		t.Fatal(err)
	}

	if srv.ranges[0] != "bytes=700000-" {
		t.Errorf("asked for %q, want the rest from 700000", srv.ranges[0])
	}

	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("the resumed file differs from what was served")
	}

	if downloaded[0] != 700_000 || downloaded[len(downloaded)-1] != int64(len(data)) {
		t.Errorf("download progress ran %d…%d", downloaded[0], downloaded[len(downloaded)-1])
	}

	// The file changed on the server (another ETag): If-Range makes the
	// server send all of it, and the stale part is not kept.
	writeFile(t, "/", path+".part", []byte("stale"))
	hint, _ = json.Marshal(partial{URL: url, ETag: `"v0"`})
	writeFile(t, "/", path+".part.json", hint)
	os.Remove(path + ".json") //nolint:errcheck

	if _, _, err := c.Get(context.Background(), url, nil); err != nil {
		t.Fatal(err)
	}

	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("a stale part was kept")
	}
}

func TestCacheCancelledDownload(t *testing.T) {
	srv := &imageServer{data: bytes.Repeat([]byte("x"), 4<<20)}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	c := &Cache{Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())

	_, _, err := c.Get(ctx, ts.URL+"/a/metal-arm64.raw.xz", func(p Progress) {
		if p.Done > 1<<20 {
			cancel()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v", err)
	}

	path, _ := c.Path(ts.URL + "/a/metal-arm64.raw.xz")
	if _, err := os.Stat(path); err == nil {
		t.Error("a cancelled download was taken as complete")
	}

	if fi, err := os.Stat(path + ".part"); err != nil || fi.Size() == 0 {
		t.Errorf("the part downloaded was not kept: %v", err)
	}
}
