package main

import (
	"bytes"
	"encoding/binary"
	"image/gif"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/liftoff-lab/liftoff/internal/shot"
	"github.com/liftoff-lab/liftoff/sim/lab"
)

const dir = "../../screenshots"

var (
	render  = sync.OnceValues(func() ([]Shot, error) { return Render(filepath.Join(dir, "fixtures")) })
	animate = sync.OnceValues(func() (Anim, error) { return Animate(filepath.Join(dir, "fixtures")) })
)

func anim(t *testing.T) Anim {
	t.Helper()

	a, err := animate()
	if err != nil {
		t.Fatal(err)
	}

	return a
}

func shots(t *testing.T) []Shot {
	t.Helper()

	s, err := render()
	if err != nil {
		t.Fatal(err)
	}

	return s
}

// The committed screenshots are what the fixtures give today: a screen
// that changed without make screenshots fails here.
func TestScreenshotsAreCurrent(t *testing.T) {
	for _, p := range append(Compare(dir, shots(t)), compareAnim(dir, anim(t))...) {
		t.Error(p)
	}
}

// The README's moving picture: small, a real GIF, the bring-up from
// maintenance mode to Ready, ending on the timeline; the same bytes twice.
func TestAnimation(t *testing.T) {
	a := anim(t)

	if len(a.GIF) >= 2<<20 {
		t.Errorf("bringup.gif is %d bytes: too big for a README", len(a.GIF))
	}

	g, err := gif.DecodeAll(bytes.NewReader(a.GIF))
	if err != nil {
		t.Fatal(err)
	}

	if len(g.Image) < 20 || g.Config.Width != cols*shot.CellWidth || g.Config.Height != rows*shot.CellHeight {
		t.Errorf("%d frames of %dx%d", len(g.Image), g.Config.Width, g.Config.Height)
	}

	var seen []string

	at := 0 // frames go forward: each sight comes at or after the one before

	for _, want := range []string{"0/4 Ready", "rebooting", "booting", "4/4 Ready", "Bring-up timeline"} {
		for i := at; i < len(a.Frames); i++ {
			if strings.Contains(a.Frames[i], want) {
				seen, at = append(seen, want), i

				break
			}
		}
	}

	if len(seen) != 5 {
		t.Errorf("the frames show only %v of the bring-up, in order", seen)
	}

	if last := a.Frames[len(a.Frames)-1]; !strings.Contains(last, "4 boards, 4 ready") {
		t.Errorf("the animation does not end on the timeline:\n%s", last)
	}

	again, err := Animate(filepath.Join(dir, "fixtures"))
	if err != nil || !bytes.Equal(again.GIF, a.GIF) {
		t.Errorf("two renders of the animation differ (%v)", err)
	}
}

func TestEveryScreenIsShot(t *testing.T) {
	got := map[string]string{}
	for _, s := range shots(t) {
		got[s.Name] = s.Text
	}

	for name, want := range map[string]string{
		"wizard-discover":                   "Boards (4)",
		"wizard-roles":                      "one subnet router per cluster",
		"wizard-review":                     "schematic",
		"wizard-apply":                      "config 4/4",
		"wizard-media":                      "write",
		"dashboard-bringup":                 "0/4 Ready",
		"dashboard-bringup-80x24":           "0/4 Ready",
		"dashboard-green":                   "Hello world from Spin!",
		"dashboard-green-high-contrast":     "Hello world from Spin!",
		"help":                              "Keys on this screen",
		"troubleshoot-tailscale-everywhere": "ext-tailscale",
		"check":                             "checks passed",
		"timeline":                          "4 boards, 4 ready",
		"timeline-bringup-80x24":            "┈┆",
		"timeline-tailscale-everywhere":     "until Talos ready",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("screen %s does not show %q:\n%s", name, want, got[name])
		}
	}
}

// Secrets that must never reach a picture, nor the recordings it is made
// from: Tailscale auth keys, PEM blocks (plain or base64 as in a Talos
// config), Kubernetes bootstrap tokens.
var secrets = []*regexp.Regexp{
	regexp.MustCompile(regexp.QuoteMeta(lab.SimAuthKey)),
	regexp.MustCompile(`tskey-`),
	regexp.MustCompile(`PRIVATE KEY|-----BEGIN|LS0tLS1CRUdJTi`),
	regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`),
}

func TestNoSecrets(t *testing.T) {
	check := func(what string, data []byte) {
		for _, re := range secrets {
			if loc := re.FindIndex(data); loc != nil {
				t.Errorf("%s holds secret material (%s): %q", what, re, data[max(0, loc[0]-20):min(len(data), loc[1]+20)])
			}
		}
	}

	for _, s := range shots(t) {
		check(s.Name+".txt", []byte(s.Text))

		if c := textChunks(s.PNG); c != "" {
			t.Errorf("%s.png carries text chunks: %s", s.Name, c)
		}
	}

	fixtures, err := filepath.Glob(filepath.Join(dir, "fixtures", "*"))
	if err != nil || len(fixtures) == 0 {
		t.Fatal("no fixtures", err)
	}

	for _, f := range fixtures {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}

		check(f, data)
	}
}

// textChunks names the PNG's text chunks, which could carry anything.
func textChunks(png []byte) string {
	var found []string

	for b := png[8:]; len(b) >= 12; {
		n := binary.BigEndian.Uint32(b)
		typ := string(b[4:8])

		if typ == "tEXt" || typ == "zTXt" || typ == "iTXt" {
			found = append(found, typ)
		}

		if uint64(n)+12 > uint64(len(b)) {
			break
		}

		b = b[12+n:]
	}

	return strings.Join(found, " ")
}

// The renderer is deterministic within a run too (no map order, no clock).
func TestRenderTwiceIsIdentical(t *testing.T) {
	again, err := Render(filepath.Join(dir, "fixtures"))
	if err != nil {
		t.Fatal(err)
	}

	for i, s := range shots(t) {
		if s.Text != again[i].Text || !bytes.Equal(s.PNG, again[i].PNG) {
			t.Errorf("screen %s differs between two renders", s.Name)
		}
	}
}
