// Command gen writes the placeholder portraits of package card as binary PPM files, the input
// of OpenJPEG's opj_compress, which makes the JPEG 2000 photos embedded in package cardface
// (see ../photos/make.sh).
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mynagate/mynagate/card"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR COUNT")
		os.Exit(2)
	}
	var n int
	if _, err := fmt.Sscan(os.Args[2], &n); err != nil || n < 1 || n > 64 {
		fmt.Fprintln(os.Stderr, "gen: COUNT must be 1 to 64")
		os.Exit(2)
	}
	for i := range n {
		img := card.PortraitImage(fmt.Sprintf("mynagate test photo %d", i))
		f, err := os.Create(filepath.Join(os.Args[1], fmt.Sprintf("face-%02d.ppm", i)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		w := bufio.NewWriter(f)
		b := img.Bounds()
		fmt.Fprintf(w, "P6\n%d %d\n255\n", b.Dx(), b.Dy())
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := img.RGBAAt(x, y)
				w.Write([]byte{c.R, c.G, c.B})
			}
		}
		if err := w.Flush(); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		f.Close()
	}
}
