package image

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Catalog answers "what is in this installer image?" — the question a board
// answers by booting it. A real Image Factory knows every schematic it was
// given; the catalogue knows the ones liftoff computed, which is what the
// simulated lab's boards need to resolve an installer reference.
type Catalog struct {
	mu        sync.RWMutex
	schematic map[string]Image // by schematic ID
	custom    map[string]Image // by full reference
}

// NewCatalog returns a catalogue holding the given images.
func NewCatalog(images ...Image) *Catalog {
	c := &Catalog{schematic: map[string]Image{}, custom: map[string]Image{}}
	c.Add(images...)

	return c
}

// Add registers images.
func (c *Catalog) Add(images ...Image) {
	c.mu.Lock()
	defer c.mu.Unlock()

	for _, im := range images {
		if im.SchematicID != "" {
			c.schematic[im.SchematicID] = im
		} else {
			c.custom[im.Installer] = im
		}
	}
}

// Factory installer references: <host>/<platform>-installer[-secureboot]/<id>:<tag>
// and the legacy <host>/installer[-secureboot]/<id>:<tag>.
var factoryRef = regexp.MustCompile(`^[^/]+/(?:[a-z0-9-]+-)?installer(?:-secureboot)?/([0-9a-f]{64}):(\S+)$`)

// Plain Talos installers carry no extensions at all — the classic way to lose
// them on upgrade.
var plainRef = regexp.MustCompile(`^ghcr\.io/siderolabs/installer(?:-base)?:(\S+)$`)

// Resolved is what an installer reference turns out to hold.
type Resolved struct {
	Image   Image
	Version string // the tag, e.g. v1.13.3
	// Plain is true for the stock installer without any extensions.
	Plain bool
}

// Resolve identifies an installer reference.
func (c *Catalog) Resolve(ref string) (Resolved, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()

	if m := factoryRef.FindStringSubmatch(ref); m != nil {
		im, ok := c.schematic[m[1]]
		if !ok {
			return Resolved{}, fmt.Errorf("schematic %s is not known to this image factory", shortID(m[1]))
		}

		return Resolved{Image: im, Version: m[2]}, nil
	}

	if m := plainRef.FindStringSubmatch(ref); m != nil {
		return Resolved{Version: m[1], Plain: true}, nil
	}

	if im, ok := c.custom[ref]; ok {
		return Resolved{Image: im, Version: tag(ref)}, nil
	}

	return Resolved{}, fmt.Errorf("installer %q is neither an Image Factory installer nor one of this plan's images", ref)
}

// Tag is an image reference's tag ("" when it has none).
func Tag(ref string) string { return tag(ref) }

func tag(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}

	return ""
}

// ShortID is a schematic ID's first 12 characters, as people quote them.
func ShortID(id string) string { return shortID(id) }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}

	return id
}

// SchematicOf is the schematic ID an Image Factory installer reference
// names ("" for any other installer: a plain or self-built one).
func SchematicOf(ref string) string {
	if m := factoryRef.FindStringSubmatch(ref); m != nil {
		return m[1]
	}

	return ""
}
