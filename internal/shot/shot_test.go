package shot

import (
	"bytes"
	"image/color"
	"image/png"
	"testing"
)

func TestTextAndColours(t *testing.T) {
	red := "\x1b[38;2;255;0;0m"
	frame := red + "\x1b[1m█\x1b[m ok  \nsecond\x1b[7m█\x1b[m\n\n"
	s := Parse(frame, Options{Cols: 10, Rows: 4})

	if got, want := s.Text(), "█ ok\nsecond█\n"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}

	img := s.Image()
	if got := img.RGBAAt(CellWidth/2, CellHeight/2); got != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("a red full block is %v", got)
	}

	// Reverse video: the block takes the background colour.
	if got, want := img.RGBAAt(6*CellWidth+CellWidth/2, CellHeight+CellHeight/2), rgba(DefaultBackground); got != want {
		t.Errorf("a reversed block is %v, want the background %v", got, want)
	}

	if got, want := img.RGBAAt(9*CellWidth+1, 3*CellHeight+1), rgba(DefaultBackground); got != want {
		t.Errorf("an empty cell is %v, want %v", got, want)
	}
}

// Borders are drawn, not taken from the font, so neighbouring cells join.
func TestBoxDrawingJoins(t *testing.T) {
	img := Parse("╭──╮\n│  │\n╰──╯", Options{Cols: 4, Rows: 3}).Image()
	fg := rgba(DefaultForeground)

	for x := CellWidth; x < 3*CellWidth; x++ {
		if got := img.RGBAAt(x, CellHeight/2); got != fg {
			t.Fatalf("top border has a gap at x=%d: %v", x, got)
		}
	}

	for y := range CellHeight {
		if got := img.RGBAAt(CellWidth/2, CellHeight+y); got != fg {
			t.Fatalf("left border has a gap at y=%d: %v", y, got)
		}
	}
}

func TestPNGIsPalettedAndStable(t *testing.T) {
	frame := "\x1b[38;2;63;185;80m✓ ready\x1b[m · \x1b[1mpi-1\x1b[m ◆ gateway ▸ ✗ ━┃"
	a, err := Parse(frame, Options{Cols: 40, Rows: 2}).PNG()
	if err != nil {
		t.Fatal(err)
	}

	b, _ := Parse(frame, Options{Cols: 40, Rows: 2}).PNG()
	if !bytes.Equal(a, b) {
		t.Error("the same frame gave two different PNGs")
	}

	img, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}

	if _, ok := img.ColorModel().(color.Palette); !ok {
		t.Errorf("not a palette PNG: %T", img.ColorModel())
	}
}
