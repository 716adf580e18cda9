// Package cardface supplies the images the card-face AP (券面事項確認AP) holds: the face photo in
// JPEG 2000 and images of the name, the address and the security code. Both the J-LIS simulator
// (which writes and signs them at issuance) and the virtual card use it.
//
// The photos are a fixed set of placeholder portraits encoded with OpenJPEG's opj_compress
// (photos/make.sh; a JPEG 2000 encoder is not something to write here, and none is in Go's
// standard library). The text images are placeholders too: rendering the Japanese glyphs of a
// name needs a font this repository does not ship, so each image is a deterministic pattern
// derived from the text, of a width that grows with its length — the right type (PNG) and
// shape, not a legible rendering.
package cardface

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"sort"
	"unicode/utf8"
)

//go:embed photos/*.jp2
var photoFS embed.FS

var photos = func() [][]byte {
	names, err := fs.Glob(photoFS, "photos/*.jp2")
	if err != nil || len(names) == 0 {
		panic(fmt.Sprintf("cardface: no embedded photos (%v)", err))
	}
	sort.Strings(names)
	out := make([][]byte, len(names))
	for i, n := range names {
		if out[i], err = photoFS.ReadFile(n); err != nil {
			panic(err)
		}
	}
	return out
}()

// JP2Signature starts every JPEG 2000 file (the JP2 signature box).
var JP2Signature = []byte{0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A}

// Photo returns a JPEG 2000 face photo chosen by seed (the same seed, the same photo).
func Photo(seed string) []byte {
	h := sha256.Sum256([]byte(seed))
	return photos[int(h[0])%len(photos)]
}

// IsJP2 reports whether b is a JPEG 2000 file.
func IsJP2(b []byte) bool { return bytes.HasPrefix(b, JP2Signature) }

// TextImage returns a PNG standing for an image of text: 2-colour, 32 pixels high, 24 pixels
// wide per character, its pattern derived from the text. Deterministic.
func TextImage(text string) ([]byte, error) {
	n := max(1, utf8.RuneCountInString(text))
	w, h := 24*min(n, 40), 32
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
	sum := sha256.Sum256([]byte(text))
	for x := 0; x < w; x++ {
		b := sum[(x/3)%len(sum)]
		for y := 4; y < h-4; y++ {
			if b>>(uint(y)%8)&1 == 1 && x%24 < 20 {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("cardface: encode image: %w", err)
	}
	return buf.Bytes(), nil
}
