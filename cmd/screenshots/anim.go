package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"image"
	"image/gif"
	"os"
	"path/filepath"
	"time"

	"github.com/liftoff-lab/liftoff/internal/shot"
	"github.com/liftoff-lab/liftoff/ui"
)

// Anim is the bring-up as a moving picture, for the README.
type Anim struct {
	Name   string
	GIF    []byte
	Frames []string // each frame's plain text
}

// The animation: the recorded happy bring-up on the dashboard, a frame per
// half second of the lab's time, shown at 5 frames a second (the lab ran
// at ×20, so the GIF runs at ×50 real boards' time), then the timeline,
// held.
const (
	animName  = "bringup"
	animStep  = 500 * time.Millisecond
	animDelay = 20  // hundredths of a second per frame
	animHold  = 400 // the timeline, at the end
	animLimit = 2 << 20
)

// Animate renders the animation from the fixtures in dir: the same bytes
// on every run, like the screenshots.
func Animate(dir string) (Anim, error) {
	r, err := load(dir)
	if err != nil {
		return Anim{}, err
	}

	events := r.happy
	start, end := events[0].Time, last(events)
	d := newDriver(ui.Options{Cluster: "homelab", Speed: r.speed}, cols, rows, start)

	var views []string

	for i, t := 0, start; ; t = t.Add(animStep) {
		j := i
		for j < len(events) && !events[j].Time.After(t) {
			j++
		}

		d.now = t
		d.feed(events[i:j]...)
		d.send(ui.ClockTick{})
		views = append(views, d.frame().Content)
		i = j

		if !t.Before(end) {
			break
		}
	}

	d.keys("p")
	views = append(views, d.frame().Content)

	a := Anim{Name: animName}
	g := &gif.GIF{LoopCount: 0}

	var prev *image.RGBA

	for k, v := range views {
		scr := shot.Parse(v, shot.Options{Cols: cols, Rows: rows})
		a.Frames = append(a.Frames, scr.Text())

		img := scr.Image()
		frame, ok := changed(prev, img)

		if !ok { // nothing moved: the previous frame shows longer
			g.Delay[len(g.Delay)-1] += animDelay

			continue
		}

		p, ok := shot.Paletted(frame)
		if !ok {
			return Anim{}, fmt.Errorf("frame %d has more than 256 colours", k+1)
		}

		delay := animDelay
		if k == len(views)-1 {
			delay = animHold
		}

		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, delay)
		g.Disposal = append(g.Disposal, gif.DisposalNone)
		prev = img
	}

	full := g.Image[0].Bounds()
	g.Config = image.Config{ColorModel: g.Image[0].Palette, Width: full.Dx(), Height: full.Dy()}

	var out bytes.Buffer
	if err := gif.EncodeAll(&out, g); err != nil {
		return Anim{}, err
	}

	if out.Len() > animLimit {
		return Anim{}, fmt.Errorf("the animation is %d bytes, over the README's %d", out.Len(), animLimit)
	}

	a.GIF = out.Bytes()

	return a, nil
}

// changed is the part of img that differs from prev (all of it for the
// first frame), or false when nothing does: later frames carry only
// what moved, drawn over the frames before.
func changed(prev, img *image.RGBA) (*image.RGBA, bool) {
	if prev == nil {
		return img, true
	}

	b := img.Bounds()
	box := image.Rectangle{}

	for y := b.Min.Y; y < b.Max.Y; y++ {
		row, prow := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)], prev.Pix[prev.PixOffset(b.Min.X, y):prev.PixOffset(b.Max.X, y)]
		if bytes.Equal(row, prow) {
			continue
		}

		for x := b.Min.X; x < b.Max.X; x++ {
			if img.RGBAAt(x, y) != prev.RGBAAt(x, y) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}

	if box.Empty() {
		return nil, false
	}

	sub, _ := img.SubImage(box).(*image.RGBA)

	return sub, true
}

// writeAnim writes the animation beside the screenshots.
func writeAnim(dir string, a Anim) error {
	return os.WriteFile(filepath.Join(dir, a.Name+".gif"), a.GIF, 0o644)
}

// compareAnim says whether the committed animation is the one the
// fixtures give: byte for byte, as it is rendered deterministically.
func compareAnim(dir string, a Anim) []string {
	committed, err := fileio.ReadFile(filepath.Join(dir, a.Name+".gif"), fileio.Own)

	switch {
	case errors.Is(err, os.ErrNotExist):
		return []string{fmt.Sprintf("animation %s.gif is missing: run make screenshots", a.Name)}
	case err != nil:
		return []string{err.Error()}
	case !bytes.Equal(committed, a.GIF):
		return []string{fmt.Sprintf("animation %s changed: run make screenshots", a.Name)}
	}

	return nil
}
