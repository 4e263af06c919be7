package flash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// xzMagic starts every xz stream (The .xz File Format 1.0.4, 2.1.1.1).
var xzMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}

// IsXZ tells whether data starts an xz stream.
func IsXZ(head []byte) bool { return bytes.HasPrefix(head, xzMagic) }

// XZSize is the uncompressed size of an xz file, read from its indexes
// without decompressing: each stream ends with an index listing its
// blocks' sizes and a 12-byte footer whose Backward Size locates the index
// (The .xz File Format 1.0.4, 2.1.2 and 4). Concatenated streams and
// stream padding are followed back to the start. The factory's images are
// one stream; knowing the size first lets a card that is too small be
// refused before anything is written.
func XZSize(r io.ReaderAt, size int64) (int64, error) {
	var total int64

	pos := size
	for pos > 0 {
		// Stream padding: zero bytes in multiples of four.
		var word [4]byte

		for pos >= 4 {
			if _, err := r.ReadAt(word[:], pos-4); err != nil {
				return 0, err
			}

			if word != [4]byte{} {
				break
			}

			pos -= 4
		}

		if pos < 24 {
			return 0, errors.New("not an xz file: too short for a stream header and footer")
		}

		var footer [12]byte
		if _, err := r.ReadAt(footer[:], pos-12); err != nil {
			return 0, err
		}

		if footer[10] != 'Y' || footer[11] != 'Z' {
			return 0, errors.New("not an xz file: no stream footer at its end (truncated download?)")
		}

		indexSize := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
		indexStart := pos - 12 - indexSize

		if indexStart < 12 {
			return 0, errors.New("xz index out of range: the file is damaged")
		}

		index := make([]byte, indexSize)
		if _, err := r.ReadAt(index, indexStart); err != nil {
			return 0, err
		}

		blocks, uncompressed, err := parseIndex(index)
		if err != nil {
			return 0, err
		}

		total += uncompressed
		pos = indexStart - blocks - 12 // the stream header

		if pos < 0 {
			return 0, errors.New("xz index does not match the file: the file is damaged")
		}
	}

	return total, nil
}

// parseIndex sums an index's records: the blocks' sizes (each padded to
// four bytes) and their uncompressed sizes.
func parseIndex(b []byte) (blocks, uncompressed int64, err error) {
	if len(b) == 0 || b[0] != 0 {
		return 0, 0, errors.New("xz index indicator missing: the file is damaged")
	}

	rd := bytes.NewReader(b[1:])

	n, err := binary.ReadUvarint(rd)
	if err != nil {
		return 0, 0, fmt.Errorf("xz index: %w", err)
	}

	for range n {
		unpadded, err := binary.ReadUvarint(rd)
		if err != nil {
			return 0, 0, fmt.Errorf("xz index: %w", err)
		}

		size, err := binary.ReadUvarint(rd)
		if err != nil {
			return 0, 0, fmt.Errorf("xz index: %w", err)
		}

		blocks += int64((unpadded + 3) &^ 3)
		uncompressed += int64(size)
	}

	return blocks, uncompressed, nil
}
