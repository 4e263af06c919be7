package flash

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/liftoff-lab/liftoff/cluster/factory"
	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
)

// Job is one board's medium: the plan's image for it, or a self-built one.
type Job struct {
	Plan  *plan.Plan
	Board plan.Board
	Image image.Image // the plan's image for the board
	// Source is --image: a file or URL of a self-built image; "" is the
	// factory's disk image of the board's schematic.
	Source string
	LabDir string // where registrations and written media are recorded
	Cache  *Cache
}

// NewJob picks board's image from the plan: its role's extensions, its
// model's overlay and architecture (cluster/image).
func NewJob(p *plan.Plan, board, source, labDir string, cache *Cache) (*Job, error) {
	var names []string

	for _, b := range p.Boards {
		if b.Name != board {
			names = append(names, b.Name)

			continue
		}

		im, err := image.For(p, b)
		if err != nil {
			return nil, err
		}

		if source == "" && im.DiskImage == "" {
			return nil, fmt.Errorf("board %s boots a self-built image (images.custom), which has no Image Factory disk image: pass --image FILE or URL with its disk image", b.Name)
		}

		return &Job{Plan: p, Board: b, Image: im, Source: source, LabDir: labDir, Cache: cache}, nil
	}

	return nil, fmt.Errorf("no board %q in the plan (boards: %v)", board, names)
}

// Version is the Talos version the medium carries.
func (j *Job) Version() string { return j.Plan.Cluster.TalosVersion }

// Origin is where the image comes from: the URL or file.
func (j *Job) Origin() string {
	if j.Source != "" {
		return j.Source
	}

	return j.Image.DiskImage
}

// Fetch makes the image available as a local file: a file given as
// --image as it is; a URL through the cache; the factory's disk image
// after registering its schematic (the factory serves a disk image only
// for a schematic it knows).
func (j *Job) Fetch(ctx context.Context, report func(Progress), note func(string)) (string, error) {
	src := j.Origin()

	if u, err := url.Parse(src); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		if _, err := os.Stat(src); err != nil {
			return "", fmt.Errorf("--image %s: %w — name an image file or an http(s) URL", src, unwrap(err))
		}

		return src, nil
	}

	if j.Source == "" {
		c, err := factory.New(j.Plan.Images.Factory)
		if err != nil {
			return "", err
		}

		err = factory.Register(ctx, c, j.LabDir, []image.Image{j.Image}, func(st factory.Step) {
			if note != nil {
				note(fmt.Sprintf("schematic %s (%s): %s", st.ID[:12], st.Image, st.Outcome))
			}
		})
		if err != nil {
			return "", err
		}
	}

	path, _, err := j.Cache.Get(ctx, src, report)

	return path, err
}

// Medium is what Flash writes to: an opened device or file.
type Medium interface {
	Target
	Close() error
}

// Flash writes the fetched image file to the medium open returns — open
// gets the image's raw size first, to refuse a medium too small or ask
// the operator — verifies it, and records it in the lab directory.
func (j *Job) Flash(ctx context.Context, file string, open func(size int64) (Medium, error), report func(Progress)) (Card, error) {
	src, err := OpenImage(file)
	if err != nil {
		return Card{}, err
	}
	defer src.Close() //nolint:errcheck

	dst, err := open(src.Size)
	if err != nil {
		return Card{}, err
	}

	res, err := Write(ctx, src, dst, report)
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the medium: %w", cerr)
	}

	if err != nil {
		return Card{}, err
	}

	card := CardFor(j.Board, j.Image, j.Version(), j.Origin(), res)
	if err := SaveCard(j.LabDir, card); err != nil {
		return card, fmt.Errorf("the medium is written and verified, but recording it failed: %w", err)
	}

	return card, nil
}

// Fits refuses a device smaller than the image.
func (d Device) Fits(size int64) error {
	if d.Size < size {
		return fmt.Errorf("%s holds %s, the image is %s: use a larger card — nothing was written", d.Path, Bytes(d.Size), Bytes(size))
	}

	return nil
}
