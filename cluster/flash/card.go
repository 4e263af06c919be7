package flash

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/liftoff-lab/liftoff/cluster/image"
	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// Card is what a written medium carries, as the lab records it: the
// board it is for, the role and image on it. A Pi booted from it is
// already installed (its META partition exists), so applying a config does
// not reinstall: the extensions it runs are this image's until an upgrade.
// The wizard reads the record to know a board's role when it shows up.
type Card struct {
	Board        string    `json:"board"`
	Address      string    `json:"address"`
	Model        string    `json:"model"`
	Machine      string    `json:"machine"`
	Role         string    `json:"role"`
	Overlay      string    `json:"overlay,omitempty"`
	Arch         string    `json:"arch"`
	TalosVersion string    `json:"talosVersion"`
	Extensions   []string  `json:"extensions"`
	SchematicID  string    `json:"schematicID,omitempty"`
	Image        string    `json:"image"`  // URL or file it came from
	SHA256       string    `json:"sha256"` // of the raw image written
	Written      time.Time `json:"written"`
}

type cards struct {
	Boards map[string]Card `json:"boards"`
}

// CardFor is the record of board's image.
func CardFor(b plan.Board, im image.Image, version, source string, res Result) Card {
	c := Card{Board: b.Name, Address: b.Address, Model: b.Model, Machine: b.Machine, Role: b.Role, Arch: im.Arch, TalosVersion: version,
		Extensions: im.Extensions, SchematicID: im.SchematicID, Image: source, SHA256: res.SHA256,
		Written: time.Now().UTC().Truncate(time.Second)}
	if im.Schematic != nil {
		c.Overlay = im.Schematic.Overlay.Name
	}

	return c
}

// Cards reads the lab's record of written media, by board name; none yet
// is an empty record.
func Cards(dir string) (map[string]Card, error) {
	path := filepath.Join(dir, plan.FlashedFile)

	data, err := fileio.ReadFile(path, fileio.Schematics)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Card{}, nil
	}

	if err != nil {
		return nil, err
	}

	var c cards
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s is not liftoff's record of written media (%v): delete it; liftoff flash writes it again", path, err)
	}

	if c.Boards == nil {
		c.Boards = map[string]Card{}
	}

	return c.Boards, nil
}

// SaveCard records a written medium in the lab directory, replacing that
// board's earlier record; written whole (fileio.WriteFile).
func SaveCard(dir string, c Card) error {
	all, err := Cards(dir)
	if err != nil {
		return err
	}

	all[c.Board] = c

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	data, err := json.MarshalIndent(cards{Boards: all}, "", "  ")
	if err != nil {
		return err
	}

	return fileio.WriteFile(filepath.Join(dir, plan.FlashedFile), append(data, '\n'), 0o644)
}

// FirstBoot is what to do with the medium, for this board's model. The
// EEPROM and boot-medium facts are those docs/images.md gives with their
// sources (Talos's Raspberry Pi guide; sbc-raspberrypi #96 for the Pi 5).
func FirstBoot(b plan.Board) []string {
	var steps []string

	switch b.Model {
	case plan.RPi4, plan.CM4:
		steps = append(steps,
			"Once per Pi: update its bootloader EEPROM (Raspberry Pi Imager → Misc utility images → Bootloader → SD Card Boot, on a spare card; a green screen means done).",
			"To boot from a USB disk instead of the SD card, write this image to that disk and choose USB Boot there: a Pi 4's EEPROM boots USB since 2020-09-03.")
	case plan.RPi5, plan.CM5:
		steps = append(steps,
			"Once per Pi: update its bootloader EEPROM as for any Pi (Raspberry Pi Imager → Misc utility images → Bootloader → SD Card Boot).",
			"A Pi 5 boots Talos only from its SD card (a CM5 also from eMMC): the rpi_5 overlay's U-Boot cannot load it from NVMe or USB (sbc-raspberrypi #96).")
	default:
		steps = append(steps, "Boot the machine from this disk (its firmware's boot menu or boot order).")
	}

	steps = append(steps,
		fmt.Sprintf("Put it in %s (%s), connect Ethernet and power on: Talos boots into maintenance mode and waits for its config on port 50000.", b.Name, b.Address),
		"Then run liftoff up: the wizard finds the board and knows its role from this record. The board counts as installed from this medium, so its config does not reinstall it; it runs this image's extensions until an upgrade.")

	return steps
}

// Facts are the image's own facts, one "name: value" line each.
func Facts(b plan.Board, im image.Image, version string) []string {
	overlay := "none"
	if im.Schematic != nil && im.Schematic.Overlay.Name != "" {
		overlay = im.Schematic.Overlay.Name + " (" + im.Schematic.Overlay.Image + ")"
	}

	schematic := im.SchematicID
	if schematic == "" {
		schematic = "none (a self-built image)"
	}

	return []string{
		"board: " + b.Name + " (" + b.Model + ", " + b.Machine + ")",
		"role: " + b.Role,
		"talos: " + version,
		"arch: " + im.Arch,
		"overlay: " + overlay,
		"extensions: " + strings.Join(im.Extensions, " "),
		"schematic: " + schematic,
	}
}
