package factory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// MemoryFile, in a lab's output directory, remembers which schematics a
// factory confirmed, so a rerun without a network (a venue's that is down)
// is not blocked by a registration the factory already has. It holds no
// secret. No board config can collide with it: those are <board>.yaml.
const MemoryFile = plan.SchematicsFile

// Outcomes of one schematic's registration.
const (
	Registered = "registered"
	// Remembered: the factory did not answer, but it confirmed this
	// schematic before (MemoryFile).
	Remembered = "confirmed before; the factory did not answer now"
)

// Step is one schematic's registration, for progress.
type Step struct {
	Image   string // the matrix cell, e.g. compute-rpi_5
	ID      string
	Outcome string
	Done    int
	Total   int
}

// memory is MemoryFile: per factory URL, schematic ID → when it confirmed it.
type memory struct {
	Factories map[string]map[string]time.Time `json:"factories"`
}

// Register makes sure the factory knows every Image Factory schematic
// among images (custom images have none and are skipped), each once. A
// schematic the factory confirms is remembered in dir. When the factory
// does not answer, schematics it confirmed before pass; any other
// schematic stops the registration with an error that says what to do.
func Register(ctx context.Context, c *Client, dir string, images []image.Image, report func(Step)) error {
	todo := Schematics(images)
	if len(todo) == 0 {
		return nil
	}

	mem, err := loadMemory(dir)
	if err != nil {
		return err
	}

	known := mem.Factories[c.URL()]

	for i, im := range todo {
		_, err := c.Register(ctx, *im.Schematic)

		switch {
		case err == nil:
			if mem.Factories == nil {
				mem.Factories = map[string]map[string]time.Time{}
			}

			if known == nil {
				known = map[string]time.Time{}
				mem.Factories[c.URL()] = known
			}

			known[im.SchematicID] = time.Now().UTC().Truncate(time.Second)

			if err := saveMemory(dir, mem); err != nil {
				return err
			}

			report(Step{Image: im.Key(), ID: im.SchematicID, Outcome: Registered, Done: i + 1, Total: len(todo)})
		case IsUnreachable(err) && !known[im.SchematicID].IsZero():
			report(Step{Image: im.Key(), ID: im.SchematicID, Outcome: Remembered + " (" + known[im.SchematicID].Format(time.DateOnly) + ")", Done: i + 1, Total: len(todo)})
		case IsUnreachable(err):
			return fmt.Errorf("registering schematic %s (%s) before anything is applied: %w — nothing was applied; "+
				"connect this machine to the network (or start your own factory) and run it again, or register ahead with liftoff images --register while online: "+
				"a schematic the factory confirmed once is remembered in %s", short12(im.SchematicID), im.Key(), err, filepath.Join(dir, MemoryFile))
		default:
			return fmt.Errorf("registering schematic %s (%s) before anything is applied: %w — nothing was applied; "+
				"check images.factory and images.extensions in the plan (each name must be an official extension of Talos %s), then run it again",
				short12(im.SchematicID), im.Key(), err, versionOf(im))
		}
	}

	return nil
}

// Schematics is each Image Factory image of images once, by schematic.
func Schematics(images []image.Image) []image.Image {
	var out []image.Image

	for _, im := range images {
		if im.Schematic == nil || im.SchematicID == "" {
			continue // a self-built image: nothing to register
		}

		if !slices.ContainsFunc(out, func(o image.Image) bool { return o.SchematicID == im.SchematicID }) {
			out = append(out, im)
		}
	}

	return out
}

// Confirmed tells which of ids the factory at url confirmed before, by
// the record in dir.
func Confirmed(dir, url string) (map[string]time.Time, error) {
	mem, err := loadMemory(dir)
	if err != nil {
		return nil, err
	}

	return mem.Factories[url], nil
}

func loadMemory(dir string) (memory, error) {
	path := filepath.Join(dir, MemoryFile)

	data, err := fileio.ReadFile(path, fileio.Schematics)
	if errors.Is(err, os.ErrNotExist) {
		return memory{}, nil
	}

	if err != nil {
		return memory{}, err
	}

	var m memory
	if err := json.Unmarshal(data, &m); err != nil {
		return memory{}, fmt.Errorf("%s is not liftoff's record of registered schematics (%v): delete it, and liftoff registers again and rewrites it", path, err)
	}

	return m, nil
}

// saveMemory writes the record atomically: a temporary file beside it,
// renamed over it, so a crash leaves the old record or the new one.
func saveMemory(dir string, m memory) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}

	return fileio.WriteFile(filepath.Join(dir, MemoryFile), append(data, '\n'), 0o644)
}

func short12(id string) string {
	if len(id) > 12 {
		return id[:12]
	}

	return id
}

func versionOf(im image.Image) string {
	if v := image.Tag(im.Installer); v != "" {
		return v
	}

	return "this release"
}
