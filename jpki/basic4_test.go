package jpki

import (
	"testing"
	"time"
)

func TestSupportBasic4RoundTrip(t *testing.T) {
	b := Basic4{Name: "𠮷田　花子", Address: "東京都清瀬市中里５丁目８４２番地", Birth: Date{1985, time.February, 17}, Sex: SexFemale}
	enc, err := MarshalSupportBasic4(b)
	if err != nil {
		t.Fatal(err)
	}
	// the offset table points at DF22..DF25 from the start of the file
	got, err := ParseSupportBasic4(append(enc, 0xFF, 0xFF, 0x00))
	if err != nil {
		t.Fatal(err)
	}
	if got != b {
		t.Fatalf("round trip: got %+v want %+v", got, b)
	}
	if off := int(enc[6])<<8 | int(enc[7]); off != 14 || enc[off] != 0xDF || enc[off+1] != 0x22 {
		t.Fatalf("offset of DF22 wrong: % X", enc[:12])
	}
}
