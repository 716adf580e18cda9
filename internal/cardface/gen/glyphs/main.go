// Command glyphs extracts from GNU Unifont's .hex file the glyphs the card-face images need —
// printable ASCII and every character of JIS X 0208 (kana, levels 1 and 2 kanji, full-width
// forms, 々〇ー・ and the other symbols), enumerated through x/text's EUC-JP decoder — and
// writes them as the table package cardface embeds (glyphs.bin). It runs only when the subset
// is regenerated (go generate in internal/cardface, with Debian's unifont package installed);
// the table is committed.
//
// Table format: "MGUF", a big-endian uint16 count, then count records sorted by rune, each a
// big-endian uint16 rune, a width byte (8 or 16) and 32 bytes of bitmap: 16 rows, 2 bytes per
// row, most significant bit leftmost (an 8-wide glyph uses the first byte of each row).
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

func main() {
	in := flag.String("hex", "/usr/share/unifont/unifont_jp.hex", "Unifont .hex file (or .hex.gz)")
	out := flag.String("out", "glyphs.bin", "table to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "glyphs:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	font, err := readHex(in)
	if err != nil {
		return err
	}
	want := wanted()
	var missing []rune
	var buf []byte
	buf = append(buf, "MGUF"...)
	buf = binary.BigEndian.AppendUint16(buf, 0)
	n := 0
	for _, r := range want {
		bm, ok := font[r]
		if !ok {
			missing = append(missing, r)
			continue
		}
		rec := make([]byte, 35)
		binary.BigEndian.PutUint16(rec, uint16(r))
		switch len(bm) {
		case 16:
			rec[2] = 8
			for y := range 16 {
				rec[3+2*y] = bm[y]
			}
		case 32:
			rec[2] = 16
			copy(rec[3:], bm)
		}
		buf = append(buf, rec...)
		n++
	}
	binary.BigEndian.PutUint16(buf[4:], uint16(n))
	if err := os.WriteFile(out, buf, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "glyphs: %d glyphs, %d bytes; %d wanted characters not in the font: %q\n", n, len(buf), len(missing), string(missing))
	return nil
}

// wanted lists, sorted, printable ASCII and the characters of JIS X 0208 (every EUC-JP
// two-byte code A1A1–FEFE that decodes to one character).
func wanted() []rune {
	set := map[rune]bool{}
	for r := rune(0x20); r < 0x7F; r++ {
		set[r] = true
	}
	dec := japanese.EUCJP.NewDecoder()
	for hi := 0xA1; hi <= 0xFE; hi++ {
		for lo := 0xA1; lo <= 0xFE; lo++ {
			s, err := dec.Bytes([]byte{byte(hi), byte(lo)})
			if err != nil || utf8.RuneCount(s) != 1 {
				continue
			}
			if r, _ := utf8.DecodeRune(s); r != utf8.RuneError && r <= 0xFFFF {
				set[r] = true
			}
		}
	}
	out := make([]rune, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// readHex reads a Unifont .hex file: lines "XXXX:bitmap", the bitmap 32 hex digits (8×16) or
// 64 (16×16).
func readHex(name string) (map[rune][]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = z
	}
	font := map[rune][]byte{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		cp, bits, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: no colon", name, line)
		}
		c, err := strconv.ParseUint(cp, 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: code point: %v", name, line, err)
		}
		bm, err := hex.DecodeString(bits)
		if err != nil || (len(bm) != 16 && len(bm) != 32) {
			return nil, fmt.Errorf("%s:%d: bitmap is not 32 or 64 hex digits", name, line)
		}
		font[rune(c)] = bm
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(font) == 0 {
		return nil, errors.New(name + ": no glyphs")
	}
	return font, nil
}
