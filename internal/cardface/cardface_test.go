package cardface_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/cardface"
)

// Rows copied from /usr/share/unifont/unifont_jp.hex (Unifont 15.0.01), the generator's source.
var sourceRows = []struct {
	r    rune
	hex  string
	wide bool
}{
	{'A', "0000000018242442427E424242420000", false},
	{'山', "00800080008000800080208220822082208220822082208220823FFE00000000", true},
	{'直', "004000403FFE008007F8240827F82408240827F82408240827F820003FFE0000", true},
}

func TestGlyphMatchesUnifontSource(t *testing.T) {
	for _, c := range sourceRows {
		want, _ := hex.DecodeString(c.hex)
		w, rows, ok := cardface.Glyph(c.r)
		if !ok {
			t.Fatalf("%q missing from the subset", c.r)
		}
		if c.wide {
			if w != 16 || !bytes.Equal(rows, want) {
				t.Errorf("%q: width %d rows %X, want 16 %X", c.r, w, rows, want)
			}
			continue
		}
		for y := range 16 {
			if w != 8 || rows[2*y] != want[y] || rows[2*y+1] != 0 {
				t.Fatalf("%q: width %d rows %X, want 8 %X", c.r, w, rows, want)
			}
		}
	}
	for _, r := range "あアー々〇・髙Ａ０　" {
		if _, _, ok := cardface.Glyph(r); !ok {
			t.Errorf("%q missing from the subset", r)
		}
	}
	for _, r := range []rune{'\n', 0x7F, '😀', 0x10000, -1, '𠮷'} {
		if _, _, ok := cardface.Glyph(r); ok {
			t.Errorf("%q present, want missing", r)
		}
	}
}

func decode(t *testing.T, text string) *image.Paletted {
	t.Helper()
	b, err := cardface.TextImage(text)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := img.(*image.Paletted)
	if !ok {
		t.Fatalf("image is %T, want paletted", img)
	}
	return p
}

func black(p *image.Paletted, x, y int) bool {
	r, _, _, _ := p.At(x, y).RGBA()
	return r == 0
}

// cell returns the 16 rows of the cell at (x0, y0) in the glyph encoding.
func cell(p *image.Paletted, x0, y0 int) []byte {
	out := make([]byte, 32)
	for y := range 16 {
		for x := range 16 {
			if black(p, x0+x, y0+y) {
				out[2*y+x/8] |= 0x80 >> uint(x%8)
			}
		}
	}
	return out
}

func TestTextImageDrawsGlyphs(t *testing.T) {
	p := decode(t, "山直")
	m := cardface.TextMargin
	if got, want := p.Bounds().Size(), (image.Point{32 + 2*m, 16 + 2*m}); got != want {
		t.Fatalf("size %v, want %v", got, want)
	}
	for i, c := range sourceRows[1:] {
		want, _ := hex.DecodeString(c.hex)
		if got := cell(p, m+16*i, m); !bytes.Equal(got, want) {
			t.Errorf("cell %d = %X, want %X", i, got, want)
		}
	}
	for x := range p.Bounds().Dx() {
		if black(p, x, 0) || black(p, x, p.Bounds().Dy()-1) {
			t.Fatalf("margin not white at x=%d", x)
		}
	}
}

func TestTextImageGrowsAndWraps(t *testing.T) {
	m := cardface.TextMargin
	short, long := decode(t, "山田"), decode(t, "山田太郎")
	if short.Bounds().Dx() >= long.Bounds().Dx() {
		t.Errorf("widths %d, %d: the longer text is not wider", short.Bounds().Dx(), long.Bounds().Dx())
	}
	if w := decode(t, "AB").Bounds().Dx(); w != 16+2*m {
		t.Errorf("two half-width characters: width %d, want %d", w, 16+2*m)
	}
	addr := strings.Repeat("東", 20) + "京都"
	p := decode(t, addr)
	if got, want := p.Bounds().Size(), (image.Point{cardface.TextWidth + 2*m, 32 + 2*m}); got != want {
		t.Fatalf("22 full-width characters: size %v, want %v (two lines)", got, want)
	}
	for i, r := range []string{"京", "都"} {
		if got, want := cell(p, m+16*i, m+16), cell(decode(t, r), m, m); !bytes.Equal(got, want) {
			t.Errorf("second line's cell %d is %X, not %s", i, got, r)
		}
	}
	if got := decode(t, "a\nb").Bounds().Dy(); got != 32+2*m {
		t.Errorf("explicit newline: height %d, want %d", got, 32+2*m)
	}
	if _, err := cardface.TextImage(strings.Repeat("あ", cardface.MaxTextRunes+1)); err == nil {
		t.Error("over-long text accepted")
	}
	if _, err := cardface.TextImage(strings.Repeat("あ", cardface.MaxTextRunes)); err != nil {
		t.Errorf("text of the maximum length refused: %v", err)
	}
	if got := decode(t, "").Bounds().Size(); got != (image.Point{16 + 2*m, 16 + 2*m}) {
		t.Errorf("empty text: size %v", got)
	}
}

func TestTextImageMissingGlyphDrawsBox(t *testing.T) {
	m := cardface.TextMargin
	for _, text := range []string{"𠮷", "😀", "\t", "\xff"} {
		p := decode(t, text)
		if got := p.Bounds().Dx(); got != 16+2*m {
			t.Errorf("%q: width %d, want one full-width cell", text, got)
		}
		var want [32]byte
		want[2], want[3], want[28], want[29] = 0x7F, 0xFE, 0x7F, 0xFE
		for y := 2; y < 14; y++ {
			want[2*y], want[2*y+1] = 0x40, 0x02
		}
		if got := cell(p, m, m); !bytes.Equal(got, want[:]) {
			t.Errorf("%q: cell %X, want the replacement box %X", text, got, want)
		}
	}
}

// The demo holder's name renders to the same PNG every time; a change to the font subset, the
// layout or the encoder shows here.
func TestTextImageGolden(t *testing.T) {
	b, err := cardface.TextImage("山田　花子")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got, want := hex.EncodeToString(sum[:]), "ab1e3e109a727497d92aa940eeeb86cba63fbffe717f556dd2460e19d593713d"; got != want {
		t.Errorf("demo name PNG sha256 %s, want %s", got, want)
	}
}
