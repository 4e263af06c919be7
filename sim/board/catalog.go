package board

import "github.com/liftoff-lab/liftoff/cluster/image"

// CatalogResolver answers installer references from liftoff's image
// catalogue — the images the plan's matrix computed, which is what the
// lab's factory serves — with what each holds, down to its overlay.
func CatalogResolver(c *image.Catalog) Resolver {
	return func(ref string) (Image, error) {
		r, err := c.Resolve(ref)
		if err != nil {
			return Image{}, err
		}

		img := Image{Arch: r.Image.Arch, Extensions: r.Image.Extensions, SchematicID: r.Image.SchematicID, Version: r.Version}
		if r.Image.Schematic != nil {
			img.Overlay = r.Image.Schematic.Overlay.Name
		}

		return img, nil
	}
}
