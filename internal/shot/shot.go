// Package shot turns a terminal frame (text with ANSI styling, as a
// bubbletea View draws it) into a picture: a cell grid parsed the way the
// terminal renderer does (ultraviolet), drawn with the Go Mono font. Pure
// Go and deterministic, so screenshots can be compared byte for byte.
package shot

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	uv "github.com/charmbracelet/ultraviolet"
	"github.com/charmbracelet/x/ansi"
)

// Options describe the terminal a frame is shown on.
type Options struct {
	Cols, Rows int
	// Foreground and Background are the terminal's defaults, for cells that
	// set no colour (nil: a dark GitHub-like terminal).
	Foreground, Background color.Color
	// Wrap wraps long lines as a terminal does with plain command output;
	// a full-screen frame is cut at the edge instead.
	Wrap bool
}

// Default terminal colours.
var (
	DefaultForeground color.Color = color.RGBA{0xc9, 0xd1, 0xd9, 0xff}
	DefaultBackground color.Color = color.RGBA{0x0d, 0x11, 0x17, 0xff}
)

// Screen is a frame laid out on a terminal's cells.
type Screen struct {
	opts Options
	buf  uv.ScreenBuffer
}

// Parse lays frame out on an Options.Cols × Options.Rows terminal.
func Parse(frame string, o Options) *Screen {
	if o.Foreground == nil {
		o.Foreground = DefaultForeground
	}

	if o.Background == nil {
		o.Background = DefaultBackground
	}

	buf := uv.NewScreenBuffer(o.Cols, o.Rows)
	buf.Method = ansi.GraphemeWidth // what lipgloss measures with

	ss := uv.NewStyledString(frame)
	ss.Wrap = o.Wrap
	ss.Draw(buf, uv.Rect(0, 0, o.Cols, o.Rows))

	return &Screen{opts: o, buf: buf}
}

// Text is the screen as plain text: one line per row, trailing spaces and
// trailing blank rows dropped. Reviewers diff this.
func (s *Screen) Text() string {
	lines := make([]string, s.opts.Rows)
	for y := range s.opts.Rows {
		lines[y] = strings.TrimRight(s.buf.Line(y).String(), " ")
	}

	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}

// PNG draws the screen and encodes it, with a palette when it fits one.
func (s *Screen) PNG() ([]byte, error) {
	img := s.Image()

	var out bytes.Buffer

	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, paletted(img)); err != nil {
		return nil, fmt.Errorf("encoding the screenshot: %w", err)
	}

	return out.Bytes(), nil
}

// paletted converts to a palette image (a fraction of the size) when the
// picture has at most 256 colours; coverage is quantised so it usually has.
func paletted(img *image.RGBA) image.Image {
	if p, ok := Paletted(img); ok {
		return p
	}

	return img
}

// Paletted is img (or a part of one: its bounds are kept) with a palette
// of its own colours, numbered in order of first appearance, so the same
// picture always gets the same bytes; false when it has more than 256.
func Paletted(img *image.RGBA) (*image.Paletted, bool) {
	index := map[color.RGBA]uint8{}

	var pal color.Palette

	b := img.Bounds()
	out := image.NewPaletted(b, nil)

	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.RGBAAt(x, y)

			i, ok := index[c]
			if !ok {
				if len(pal) == 256 {
					return nil, false
				}

				i = uint8(len(pal))
				index[c] = i
				pal = append(pal, c)
			}

			out.SetColorIndex(x, y, i)
		}
	}

	out.Palette = pal

	return out, true
}

// Image draws the screen: one cell is CellWidth × CellHeight pixels.
func (s *Screen) Image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.opts.Cols*CellWidth, s.opts.Rows*CellHeight))
	r := newRenderer()

	for y := range s.opts.Rows {
		for x := range s.opts.Cols {
			c := s.buf.CellAt(x, y)
			if c != nil && c.Width == 0 && x > 0 && isWide(s.buf.CellAt(x-1, y)) {
				continue // the second half of a wide character
			}

			content, width, st := " ", 1, uv.Style{}
			if c != nil {
				st = c.Style

				if c.Content != "" {
					content, width = c.Content, max(1, c.Width)
				}
			}

			fg, bg := s.colours(st)
			cell := image.Rect(x*CellWidth, y*CellHeight, (x+width)*CellWidth, (y+1)*CellHeight)
			r.cell(img, cell, content, fg, bg, st.Attrs&uv.AttrBold != 0, st.Underline != uv.UnderlineNone)
		}
	}

	return img
}

func isWide(c *uv.Cell) bool { return c != nil && c.Width > 1 }

// colours resolves a cell's style to what a terminal shows: defaults for
// unset colours, reverse video swapped, faint halfway to the background.
func (s *Screen) colours(st uv.Style) (fg, bg color.RGBA) {
	fg, bg = rgba(s.opts.Foreground), rgba(s.opts.Background)

	if st.Fg != nil {
		fg = rgba(st.Fg)
	}

	if st.Bg != nil {
		bg = rgba(st.Bg)
	}

	if st.Attrs&uv.AttrReverse != 0 {
		fg, bg = bg, fg
	}

	if st.Attrs&uv.AttrFaint != 0 {
		fg = blend(bg, fg, 128)
	}

	return fg, bg
}

func rgba(c color.Color) color.RGBA {
	r, g, b, _ := c.RGBA()

	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}
}

// blend is a over b with coverage a (0–255), on opaque colours.
func blend(bg, fg color.RGBA, a uint8) color.RGBA {
	mix := func(b, f uint8) uint8 { return uint8((uint32(b)*(255-uint32(a)) + uint32(f)*uint32(a) + 127) / 255) }

	return color.RGBA{mix(bg.R, fg.R), mix(bg.G, fg.G), mix(bg.B, fg.B), 0xff}
}
