package image

import "testing"

// Vectors from Image Factory's own tests (pkg/schematic/schematic_test.go at
// siderolabs/image-factory v1.5.0), so an ID liftoff prints is the ID the
// factory serves. Its tests have no rpi_5 vector: that one is computed the
// factory's way (sha256 of the canonical YAML below), and it is the ID public
// lab repositories record factory.talos.dev serving for the bare rpi_5
// overlay.
func TestSchematicIDVectors(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Schematic
		want string
	}{
		{"empty", Schematic{}, "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"},
		{"kernel args", Schematic{Customization: Customization{ExtraKernelArgs: []string{"noapic", "nolapic"}}}, "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"},
		{"meta", Schematic{Customization: Customization{Meta: []MetaValue{{Key: 0x0a, Value: "foo"}}}}, "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"},
		{"secureboot", Schematic{Customization: Customization{SecureBoot: SecureBoot{IncludeWellKnownCertificates: true}}}, "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6"},
		{"4k sectors", Schematic{Customization: Customization{DiskImage: DiskImage{SectorSize: 4096}}}, "92833e9ddd9bb9e11b2464fa5525429f01866306d52ebd882ee08d7918f6d1ea"},
		{"rpi overlay", Schematic{Overlay: Overlay{Image: RaspberryPiOverlayImage, Name: "rpi_generic"}}, "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"},
		{"rpi_5 overlay", Schematic{Overlay: Overlay{Image: RaspberryPiOverlayImage, Name: "rpi_5"}}, "a636242df247ad4aad2e36d1026d8d4727b716a3061749bd7b19651e548f65e4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.ID()
			if err != nil {
				t.Fatal(err)
			}

			if got != tc.want {
				t.Errorf("ID = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseSchematicRoundTrip(t *testing.T) {
	// Spellings the factory treats as the same schematic get the same ID.
	for _, text := range []string{`{}`, `customization: {}`, `customization: {"extraKernelArgs": []}`} {
		s, err := ParseSchematic([]byte(text))
		if err != nil {
			t.Fatal(err)
		}

		if id, _ := s.ID(); id != "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba" {
			t.Errorf("%s: ID %s, want the empty schematic's", text, id)
		}
	}

	if _, err := ParseSchematic([]byte(`customization: {systemExtension: {}}`)); err == nil {
		t.Error("a misspelt field was accepted; the factory refuses it")
	}
}

// The text the factory hashes, byte for byte: yaml.v4's four-space indent,
// upstream's field order, empty customization kept. Each ID is
// `printf '<text>' | sha256sum`, so a change in the marshalling shows here
// before it shows as a 404 at the factory.
func TestSchematicCanonicalText(t *testing.T) {
	for _, tc := range []struct {
		overlay string
		exts    []string
		text    string
		id      string
	}{
		{"rpi_5", nil, "overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_5\ncustomization: {}\n",
			"a636242df247ad4aad2e36d1026d8d4727b716a3061749bd7b19651e548f65e4"},
		{"rpi_5", []string{"siderolabs/drbd", "siderolabs/spin", "siderolabs/zfs"},
			"overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_5\ncustomization:\n    systemExtensions:\n        officialExtensions:\n" +
				"            - siderolabs/drbd\n            - siderolabs/spin\n            - siderolabs/zfs\n",
			"bfefa5cc272529018f7b9c55b5ca9360326bca2cccfce74c8c4fe5a45ed2fa6e"},
		{"rpi_generic", []string{"siderolabs/drbd", "siderolabs/spin", "siderolabs/zfs"},
			"overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\ncustomization:\n    systemExtensions:\n        officialExtensions:\n" +
				"            - siderolabs/drbd\n            - siderolabs/spin\n            - siderolabs/zfs\n",
			"02bcc41b32f11efbb4b4628151da37c9aed5c9fa493afb17a9d8579d37738e43"},
	} {
		s := Schematic{Overlay: Overlay{Image: RaspberryPiOverlayImage, Name: tc.overlay}}
		s.Customization.SystemExtensions.OfficialExtensions = tc.exts

		text, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}

		if string(text) != tc.text {
			t.Errorf("%s %v: text\n%s\nwant\n%s", tc.overlay, tc.exts, text, tc.text)
		}

		if id, _ := s.ID(); id != tc.id {
			t.Errorf("%s %v: ID %s, want %s", tc.overlay, tc.exts, id, tc.id)
		}

		// The factory's JSON spelling, keys in another order, gives the same ID.
		parsed, err := ParseSchematic([]byte(`{"customization": {}, "overlay": {"name": "` + tc.overlay + `", "image": "siderolabs/sbc-raspberrypi"}}`))
		if err != nil {
			t.Fatal(err)
		}

		parsed.Customization.SystemExtensions.OfficialExtensions = tc.exts
		if id, _ := parsed.ID(); id != tc.id {
			t.Errorf("%s parsed from JSON: ID %s, want %s", tc.overlay, id, tc.id)
		}
	}
}
