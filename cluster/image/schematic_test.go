package image

import "testing"

// Vectors from Image Factory's own tests and docs (pkg/schematic), so an ID
// liftoff prints is the ID the factory serves.
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
