// Package cardface supplies the images the card-face AP (券面事項確認AP) holds: the face photo in
// JPEG 2000 and images of the name, the address and the security code. Both the J-LIS simulator
// (which writes and signs them at issuance) and the virtual card use it.
//
// The photos are a fixed set of placeholder portraits encoded with OpenJPEG's opj_compress
// (photos/make.sh; a JPEG 2000 encoder is not something to write here, and none is in Go's
// standard library).
//
// The text images are real renderings of the text in GNU Unifont, a bitmap font: glyphs.bin is
// the subset of Unifont's Japanese variant (unifont_jp.hex) holding printable ASCII and JIS X
// 0208 (with the NEC/IBM extension characters x/text's EUC-JP decoder maps, such as 髙 and ①),
// 7,421 glyphs in 260 KB, written by gen/glyphs (go generate; needs Debian's unifont package,
// only when regenerating). Unifont is dual-licensed GPL-2.0+ with the font embedding exception /
// SIL OFL 1.1; the subset is shipped under the OFL, whose text with the copyright is
// OFL-1.1.txt. The renderer is written here because drawing fixed 8×16 and 16×16 bitmaps into
// a 1-bit image is a few lines, and x/image/font would add a module for no gain. A character
// the subset lacks (or a control character, or invalid UTF-8) draws as a replacement box: a
// 16×16 cell with a 1-pixel outline, so the gap is visible rather than silent.
package cardface

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/binary"
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

// Text image layout: glyphs are 16 pixels high, 8 (half-width) or 16 (full-width) wide; lines
// wrap at TextWidth pixels (20 full-width characters, about the width of the address field on
// the card's face) and at "\n"; TextMargin white pixels surround the text.
const (
	TextWidth    = 320
	TextMargin   = 2
	MaxTextRunes = 256 // longer text is refused: the images must fit the 8 KB face file
	lineHeight   = 16
)

//go:generate go run ./gen/glyphs -hex /usr/share/unifont/unifont_jp.hex -out glyphs.bin

//go:embed glyphs.bin
var glyphTable []byte

const glyphRecord = 35 // rune (2), width (1), bitmap (32)

var glyphCount = func() int {
	if len(glyphTable) < 6 || string(glyphTable[:4]) != "MGUF" {
		panic("cardface: glyphs.bin is not a glyph table")
	}
	n := int(binary.BigEndian.Uint16(glyphTable[4:]))
	if len(glyphTable) != 6+n*glyphRecord {
		panic("cardface: glyphs.bin has the wrong length")
	}
	return n
}()

// Glyph returns the bitmap of r in the embedded subset: width 8 or 16, and 16 rows of 2 bytes,
// most significant bit leftmost. ok is false when the subset lacks r.
func Glyph(r rune) (width int, rows []byte, ok bool) {
	if r < 0 || r > 0xFFFF {
		return 0, nil, false
	}
	i, found := sort.Find(glyphCount, func(i int) int {
		return int(r) - int(binary.BigEndian.Uint16(glyphTable[6+i*glyphRecord:]))
	})
	if !found {
		return 0, nil, false
	}
	rec := glyphTable[6+i*glyphRecord : 6+(i+1)*glyphRecord]
	return int(rec[2]), rec[3:], true
}

type placed struct {
	x, line int
	r       rune
}

// layout places each rune of text, wrapping at TextWidth and "\n"; it returns the places, the
// widest line's width and the number of lines.
func layout(text string) (out []placed, width, lines int) {
	x, line := 0, 0
	for _, r := range text {
		if r == '\n' {
			x, line = 0, line+1
			continue
		}
		w, _, ok := Glyph(r)
		if !ok {
			w = 16
		}
		if x+w > TextWidth && x > 0 {
			x, line = 0, line+1
		}
		out = append(out, placed{x, line, r})
		x += w
		width = max(width, x)
	}
	return out, width, line + 1
}

// TextImage renders text as a 1-bit PNG, black on white (see TextWidth for the layout). The
// image is at least one full-width cell wide, so empty text gives a small blank image. Text of
// more than MaxTextRunes characters is refused. Deterministic.
func TextImage(text string) ([]byte, error) {
	if n := utf8.RuneCountInString(text); n > MaxTextRunes {
		return nil, fmt.Errorf("cardface: text of %d characters is longer than %d", n, MaxTextRunes)
	}
	places, width, lines := layout(text)
	width = max(width, 16)
	img := image.NewPaletted(image.Rect(0, 0, width+2*TextMargin, lines*lineHeight+2*TextMargin),
		color.Palette{color.White, color.Black})
	for _, p := range places {
		x0, y0 := TextMargin+p.x, TextMargin+p.line*lineHeight
		w, rows, ok := Glyph(p.r)
		if !ok {
			drawBox(img, x0, y0)
			continue
		}
		for y := range lineHeight {
			bits := uint16(rows[2*y])<<8 | uint16(rows[2*y+1])
			for x := range w {
				if bits&(0x8000>>uint(x)) != 0 {
					img.SetColorIndex(x0+x, y0+y, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("cardface: encode image: %w", err)
	}
	return buf.Bytes(), nil
}

// drawBox draws the replacement box: the outline of a 14×14 square inside the 16×16 cell.
func drawBox(img *image.Paletted, x0, y0 int) {
	for i := 1; i < 15; i++ {
		img.SetColorIndex(x0+i, y0+1, 1)
		img.SetColorIndex(x0+i, y0+14, 1)
		img.SetColorIndex(x0+1, y0+i, 1)
		img.SetColorIndex(x0+14, y0+i, 1)
	}
}
