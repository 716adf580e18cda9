package card

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// Portrait draws a simple face-photo placeholder (a head and shoulders on a plain background)
// and returns it as a JPEG. Colours are derived from seed, so the same card gets the same photo
// and different cards look different; the output is byte-for-byte deterministic.
//
// The real 券面事項確認AP stores a JPEG 2000 photo; demo cards carry a JPEG, which every
// image viewer opens.
func Portrait(seed string) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, PortraitImage(seed), &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("card: encode portrait: %w", err)
	}
	return buf.Bytes(), nil
}

// PortraitImage draws the placeholder portrait of Portrait (96 × 120 pixels).
func PortraitImage(seed string) *image.RGBA {
	const w, h = 96, 120
	sum := sha256.Sum256([]byte(seed))
	bg := color.RGBA{200 + sum[0]%40, 210 + sum[1]%40, 220 + sum[2]%30, 255}
	skin := color.RGBA{200 + sum[3]%50, 150 + sum[4]%60, 120 + sum[5]%60, 255}
	hair := color.RGBA{sum[6] % 90, sum[7] % 70, sum[8] % 60, 255}
	cloth := color.RGBA{sum[9] % 200, sum[10] % 200, sum[11] % 200, 255}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	inEllipse := func(x, y, cx, cy, rx, ry int) bool {
		dx, dy := float64(x-cx)/float64(rx), float64(y-cy)/float64(ry)
		return dx*dx+dy*dy <= 1
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := bg
			switch {
			case inEllipse(x, y, w/2, h+10, 46, 38): // shoulders
				c = cloth
			case y > 78 && y < 96 && x > w/2-9 && x < w/2+9: // neck
				c = skin
			case inEllipse(x, y, w/2, 52, 25, 32) && y < 42: // hair over the forehead
				c = hair
			case inEllipse(x, y, w/2, 55, 23, 30): // face
				c = skin
			case inEllipse(x, y, w/2, 48, 28, 34): // hair around the face
				c = hair
			}
			img.Set(x, y, c)
		}
	}
	return img
}
