package shot

import (
	"image"
	"image/color"
	"math"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// Cell size in pixels: Go Mono at 15 px advances exactly 9.
const (
	CellWidth  = 9
	CellHeight = 18
	fontSize   = 15
)

// levels is how many coverage steps anti-aliasing keeps: few enough that a
// screenshot fits a 256-colour palette, enough to look smooth.
const levels = 8

type fonts struct {
	regular, bold *sfnt.Font
	faces         [2]font.Face // regular, bold
	baseline      int
}

var loadFonts = sync.OnceValue(func() *fonts {
	f := &fonts{regular: mustParse(gomono.TTF), bold: mustParse(gomonobold.TTF)}

	for i, sf := range []*sfnt.Font{f.regular, f.bold} {
		face, err := opentype.NewFace(sf, &opentype.FaceOptions{Size: fontSize, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			panic(err) // the bundled font is known good
		}

		f.faces[i] = face
	}

	m := f.faces[0].Metrics()
	asc, desc := m.Ascent.Ceil(), m.Descent.Ceil()
	f.baseline = (CellHeight-asc-desc)/2 + asc

	return f
})

func mustParse(ttf []byte) *sfnt.Font {
	f, err := sfnt.Parse(ttf)
	if err != nil {
		panic(err)
	}

	return f
}

type glyphKey struct {
	content string
	bold    bool
	width   int
}

// renderer draws cells, caching each glyph's coverage mask.
type renderer struct {
	f     *fonts
	buf   sfnt.Buffer
	masks map[glyphKey]*image.Alpha
}

func newRenderer() *renderer {
	return &renderer{f: loadFonts(), masks: map[glyphKey]*image.Alpha{}}
}

func (r *renderer) cell(img *image.RGBA, rect image.Rectangle, content string, fg, bg color.RGBA, bold, underline bool) {
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			img.SetRGBA(x, y, bg)
		}
	}

	if content != " " {
		m := r.mask(glyphKey{content, bold, rect.Dx()})

		for y := range CellHeight {
			for x := range rect.Dx() {
				if a := m.AlphaAt(x, y).A; a > 0 {
					img.SetRGBA(rect.Min.X+x, rect.Min.Y+y, blend(bg, fg, a))
				}
			}
		}
	}

	if underline {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			img.SetRGBA(x, rect.Min.Y+r.f.baseline+2, fg)
		}
	}
}

func (r *renderer) mask(k glyphKey) *image.Alpha {
	if m, ok := r.masks[k]; ok {
		return m
	}

	m := image.NewAlpha(image.Rect(0, 0, k.width, CellHeight))
	runes := []rune(k.content)

	switch {
	case len(runes) == 1 && drawn(m, runes[0], r.f.baseline, k.bold):
	case r.hasGlyphs(runes):
		face := r.f.faces[0]
		if k.bold {
			face = r.f.faces[1]
		}

		d := font.Drawer{Dst: m, Src: image.Opaque, Face: face, Dot: fixed.P(0, r.f.baseline)}
		d.DrawString(k.content)
	default:
		tofu(m)
	}

	quantise(m)
	r.masks[k] = m

	return m
}

// hasGlyphs tells whether Go Mono can draw content; zero-width joiners and
// variation selectors need no glyph.
func (r *renderer) hasGlyphs(runes []rune) bool {
	for _, c := range runes {
		if c == 0x200d || (c >= 0xfe00 && c <= 0xfe0f) {
			continue
		}

		if i, err := r.f.regular.GlyphIndex(&r.buf, c); err != nil || i == 0 {
			return false
		}
	}

	return true
}

func quantise(m *image.Alpha) {
	for i, a := range m.Pix {
		q := (int(a)*(levels-1) + 127) / 255
		m.Pix[i] = uint8(q * 255 / (levels - 1))
	}
}

// tofu is the empty box a terminal shows for a character its font lacks.
func tofu(m *image.Alpha) {
	b := m.Bounds()
	x0, x1, y0, y1 := 1, b.Dx()-2, 3, CellHeight-4

	for x := x0; x <= x1; x++ {
		m.SetAlpha(x, y0, color.Alpha{0xff})
		m.SetAlpha(x, y1, color.Alpha{0xff})
	}

	for y := y0; y <= y1; y++ {
		m.SetAlpha(x0, y, color.Alpha{0xff})
		m.SetAlpha(x1, y, color.Alpha{0xff})
	}
}

// shape is a region of a cell in pixel coordinates (y down).
type shape func(x, y float64) bool

const samples = 4 // per pixel and axis

// fill rasterises s into m with samples² supersampling.
func fill(m *image.Alpha, s shape) {
	b := m.Bounds()

	for py := range b.Dy() {
		for px := range b.Dx() {
			n := 0

			for sy := range samples {
				for sx := range samples {
					if s(float64(px)+(float64(sx)+0.5)/samples, float64(py)+(float64(sy)+0.5)/samples) {
						n++
					}
				}
			}

			if n > 0 {
				m.SetAlpha(px, py, color.Alpha{uint8(n * 255 / (samples * samples))})
			}
		}
	}
}

func rect(x0, y0, x1, y1 float64) shape {
	return func(x, y float64) bool { return x >= x0 && x < x1 && y >= y0 && y < y1 }
}

func union(ss ...shape) shape {
	return func(x, y float64) bool {
		for _, s := range ss {
			if s(x, y) {
				return true
			}
		}

		return false
	}
}

// segment is a stroke of width t from (ax, ay) to (bx, by).
func segment(ax, ay, bx, by, t float64) shape {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy

	return func(x, y float64) bool {
		u := math.Max(0, math.Min(1, ((x-ax)*dx+(y-ay)*dy)/l2))
		ex, ey := x-(ax+u*dx), y-(ay+u*dy)

		return ex*ex+ey*ey <= t*t/4
	}
}

// drawn draws the characters terminals draw themselves rather than take
// from the font — box drawing and blocks, so borders join — and the few
// symbols the UI uses that Go Mono lacks. It reports whether it knew c.
func drawn(m *image.Alpha, c rune, baseline int, bold bool) bool {
	w, h := float64(m.Bounds().Dx()), float64(CellHeight)

	if arms, ok := boxArms(c); ok {
		fill(m, box(arms, w, h))

		return true
	}

	if s, a, ok := block(c, w, h); ok {
		if a > 0 {
			for i := range m.Pix {
				m.Pix[i] = a
			}
		} else {
			fill(m, s)
		}

		return true
	}

	// Symbols sit on the middle of the lower-case letters.
	cy := float64(baseline) - 0.3*fontSize
	t := 1.4
	if bold {
		t = 1.9
	}

	var s shape

	switch c {
	case '▸', '▶', '►':
		s = func(x, y float64) bool {
			x0, x1, hh := 0.2*w, 0.85*w, 0.3*w
			if x < x0 || x > x1 {
				return false
			}

			return math.Abs(y-cy) <= hh*(x1-x)/(x1-x0)
		}
	case '◆', '◇':
		r := 0.42 * w
		s = func(x, y float64) bool { return math.Abs(x-w/2)+math.Abs(y-cy) <= r }
	case '✓', '✔':
		s = union(segment(0.12*w, cy, 0.4*w, cy+0.35*w, t), segment(0.4*w, cy+0.35*w, 0.9*w, cy-0.65*w, t))
	case '↻': // the timeline's reboot: a clockwise open circle, arrowhead at the top
		cx, r := w/2, 0.34*w
		ring := func(x, y float64) bool {
			if math.Abs(math.Hypot(x-cx, y-cy)-r) > t/2 {
				return false
			}

			a := math.Atan2(y-cy, x-cx) // y down: -π/2 is the top

			return a <= -math.Pi/2 || a >= -math.Pi/6
		}
		head := func(x, y float64) bool {
			x0, x1, hh := cx-0.1*w, cx+0.4*w, 0.3*w
			if x < x0 || x > x1 {
				return false
			}

			return math.Abs(y-(cy-r)) <= hh*(x1-x)/(x1-x0)
		}
		s = union(ring, head)
	case '✗', '✘', '✕', '✖':
		r := 0.36 * w
		s = union(segment(w/2-r, cy-r, w/2+r, cy+r, t), segment(w/2+r, cy-r, w/2-r, cy+r, t))
	default:
		return false
	}

	fill(m, s)

	return true
}

// Box-drawing arm weights.
const (
	none = iota
	light
	heavy
	double
	rounded // an arc into the other rounded arm
)

// boxArms gives the up, right, down and left arms of a box-drawing
// character (the light, heavy, double and rounded ones; dashes as solid).
func boxArms(c rune) ([4]int, bool) {
	L, H, D := light, heavy, double

	switch c {
	case '─', '┄', '┈', '╌':
		return [4]int{0, L, 0, L}, true
	case '━', '┅', '┉', '╍':
		return [4]int{0, H, 0, H}, true
	case '│', '┆', '┊', '╎':
		return [4]int{L, 0, L, 0}, true
	case '┃', '┇', '┋', '╏':
		return [4]int{H, 0, H, 0}, true
	case '┌':
		return [4]int{0, L, L, 0}, true
	case '┐':
		return [4]int{0, 0, L, L}, true
	case '└':
		return [4]int{L, L, 0, 0}, true
	case '┘':
		return [4]int{L, 0, 0, L}, true
	case '├':
		return [4]int{L, L, L, 0}, true
	case '┤':
		return [4]int{L, 0, L, L}, true
	case '┬':
		return [4]int{0, L, L, L}, true
	case '┴':
		return [4]int{L, L, 0, L}, true
	case '┼':
		return [4]int{L, L, L, L}, true
	case '┏':
		return [4]int{0, H, H, 0}, true
	case '┓':
		return [4]int{0, 0, H, H}, true
	case '┗':
		return [4]int{H, H, 0, 0}, true
	case '┛':
		return [4]int{H, 0, 0, H}, true
	case '┣':
		return [4]int{H, H, H, 0}, true
	case '┫':
		return [4]int{H, 0, H, H}, true
	case '┳':
		return [4]int{0, H, H, H}, true
	case '┻':
		return [4]int{H, H, 0, H}, true
	case '╋':
		return [4]int{H, H, H, H}, true
	case '═':
		return [4]int{0, D, 0, D}, true
	case '║':
		return [4]int{D, 0, D, 0}, true
	case '╔':
		return [4]int{0, D, D, 0}, true
	case '╗':
		return [4]int{0, 0, D, D}, true
	case '╚':
		return [4]int{D, D, 0, 0}, true
	case '╝':
		return [4]int{D, 0, 0, D}, true
	case '╭':
		return [4]int{0, rounded, rounded, 0}, true
	case '╮':
		return [4]int{0, 0, rounded, rounded}, true
	case '╯':
		return [4]int{rounded, 0, 0, rounded}, true
	case '╰':
		return [4]int{rounded, rounded, 0, 0}, true
	case '╴':
		return [4]int{0, 0, 0, L}, true
	case '╵':
		return [4]int{L, 0, 0, 0}, true
	case '╶':
		return [4]int{0, L, 0, 0}, true
	case '╷':
		return [4]int{0, 0, L, 0}, true
	}

	return [4]int{}, false
}

// box draws arms from the cell's centre to its edges, so neighbours join.
func box(arms [4]int, w, h float64) shape {
	cx, cy := math.Floor(w/2), math.Floor(h/2) // top-left of the light stroke's centre pixel
	var parts []shape

	// strokes gives the [from, to) extents across a stroke of one weight.
	strokes := func(weight int, c float64) [][2]float64 {
		switch weight {
		case heavy:
			return [][2]float64{{c - 1, c + 2}}
		case double:
			return [][2]float64{{c - 1, c}, {c + 1, c + 2}}
		}

		return [][2]float64{{c, c + 1}}
	}

	if arms[0] == rounded || arms[2] == rounded {
		// An arc of radius r joins the vertical arm to the horizontal one.
		r := math.Min(cx, cy)
		ox, oy := cx+0.5, cy+0.5 // stroke centre

		sx, sy := 1.0, 1.0 // towards the arc's centre
		if arms[3] == rounded {
			sx = -1
		}

		if arms[0] == rounded {
			sy = -1
		}

		ax, ay := ox+sx*r, oy+sy*r

		parts = append(parts,
			func(x, y float64) bool {
				if (x-ax)*sx > 0 || (y-ay)*sy > 0 {
					return false
				}

				d := math.Hypot(x-ax, y-ay)

				return math.Abs(d-r) <= 0.5
			},
			rect(math.Min(ax, edge(sx, w)), cy, math.Max(ax, edge(sx, w)), cy+1),
			rect(cx, math.Min(ay, edge(sy, h)), cx+1, math.Max(ay, edge(sy, h))),
		)

		return union(parts...)
	}

	// Each arm overlaps the centre by a pixel so a heavy arm meets a light one.
	extents := [4]func(s [2]float64) shape{
		func(s [2]float64) shape { return rect(s[0], 0, s[1], cy+2) },
		func(s [2]float64) shape { return rect(cx-1, s[0], w, s[1]) },
		func(s [2]float64) shape { return rect(s[0], cy-1, s[1], h) },
		func(s [2]float64) shape { return rect(0, s[0], cx+2, s[1]) },
	}

	for i, weight := range arms {
		if weight == none {
			continue
		}

		c := cx
		if i%2 == 1 {
			c = cy
		}

		for _, s := range strokes(weight, c) {
			parts = append(parts, extents[i](s))
		}
	}

	return union(parts...)
}

func edge(sign, size float64) float64 {
	if sign > 0 {
		return size
	}

	return 0
}

// block gives a block element as a shape, or as a uniform coverage for
// the shades.
func block(c rune, w, h float64) (shape, uint8, bool) {
	switch {
	case c == '█':
		return rect(0, 0, w, h), 0, true
	case c == '▀':
		return rect(0, 0, w, h/2), 0, true
	case c >= '▁' && c <= '▇': // lower eighths
		return rect(0, h-h*float64(c-'▁'+1)/8, w, h), 0, true
	case c >= '▉' && c <= '▏': // left eighths, seven down to one
		return rect(0, 0, w*float64('▏'-c+1)/8, h), 0, true
	case c == '▐':
		return rect(w/2, 0, w, h), 0, true
	case c == '░':
		return nil, 0x40, true
	case c == '▒':
		return nil, 0x80, true
	case c == '▓':
		return nil, 0xc0, true
	case c == '▔':
		return rect(0, 0, w, h/8), 0, true
	case c == '▕':
		return rect(w-w/8, 0, w, h), 0, true
	}

	return nil, 0, false
}
