// Package image is the role-based image matrix: which extensions each role
// gets, which overlay each board needs, and the Image Factory schematic and
// installer reference that follow.
package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.yaml.in/yaml/v4"
)

// Schematic is an Image Factory schematic. Field names, order and omitempty
// follow Image Factory exactly, because the schematic ID is the hash of this
// struct's YAML: any difference gives another ID than the factory's.
type Schematic struct {
	Owner         string        `yaml:"owner,omitempty"`
	Overlay       Overlay       `yaml:"overlay,omitempty"`
	Customization Customization `yaml:"customization"`
}

// Customization is the Talos part of a schematic.
type Customization struct {
	EmbeddedMachineConfiguration string           `yaml:"embeddedMachineConfiguration,omitempty"`
	ExtraKernelArgs              []string         `yaml:"extraKernelArgs,omitempty"`
	Meta                         []MetaValue      `yaml:"meta,omitempty"`
	SystemExtensions             SystemExtensions `yaml:"systemExtensions,omitempty"`
	Bootloader                   string           `yaml:"bootloader,omitempty"`
	SecureBoot                   SecureBoot       `yaml:"secureboot,omitempty"`
	DiskImage                    DiskImage        `yaml:"diskImage,omitempty"`
}

// MetaValue is an initial META entry.
type MetaValue struct {
	Key   uint8  `yaml:"key"`
	Value string `yaml:"value"`
}

// SystemExtensions lists official extensions by full name (siderolabs/zfs).
type SystemExtensions struct {
	OfficialExtensions []string `yaml:"officialExtensions,omitempty"`
}

// Overlay selects a board overlay such as the Raspberry Pi one.
type Overlay struct {
	Image   string         `yaml:"image"`
	Name    string         `yaml:"name"`
	Options map[string]any `yaml:"options,omitempty"`
}

// SecureBoot options.
type SecureBoot struct {
	EnrollKeys                   string `yaml:"enrollKeys,omitempty"`
	IncludeWellKnownCertificates bool   `yaml:"includeWellKnownCertificates,omitempty"`
}

// DiskImage options.
type DiskImage struct {
	SectorSize uint `yaml:"sectorSize,omitempty"`
}

// Marshal is the canonical text of the schematic, as POSTed to the factory.
func (s Schematic) Marshal() ([]byte, error) {
	return yaml.Marshal(s)
}

// ID is the schematic ID: hex SHA-256 of the canonical text.
func (s Schematic) ID() (string, error) {
	data, err := s.Marshal()
	if err != nil {
		return "", fmt.Errorf("marshaling schematic: %w", err)
	}

	sum := sha256.Sum256(data)

	return hex.EncodeToString(sum[:]), nil
}

// ParseSchematic reads a schematic strictly, as the factory does.
func ParseSchematic(data []byte) (Schematic, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)

	var s Schematic
	if err := dec.Decode(&s); err != nil {
		return Schematic{}, fmt.Errorf("invalid schematic: %w", err)
	}

	return s, nil
}
