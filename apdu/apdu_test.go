package apdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseCommand(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	tests := []struct {
		name     string
		in       []byte
		want     Command
		wantCase int
	}{
		{"case 1", h("00 20 00 80"), Command{CLA: 0x00, INS: 0x20, P1: 0x00, P2: 0x80}, 1},
		{"case 2S", h("00 B0 00 00 04"), Command{INS: 0xB0, Ne: 4}, 2},
		{"case 2S Le 00 = 256", h("00 B0 00 07 00"), Command{INS: 0xB0, P2: 7, Ne: 256}, 2},
		{"case 3S select", h("00 A4 04 0C 0A D392F000260100000001"), Command{INS: 0xA4, P1: 4, P2: 0x0C, Data: h("D392F000260100000001")}, 3},
		{"case 4S sign", append(append(h("80 2A 00 80 03"), 1, 2, 3), 0), Command{CLA: 0x80, INS: 0x2A, P2: 0x80, Data: []byte{1, 2, 3}, Ne: 256}, 4},
		{"case 2E", h("00 B0 00 00 00 01 00"), Command{INS: 0xB0, Ne: 256, Extended: true}, 2},
		{"case 2E Le 0000 = 65536", h("00 B0 00 00 00 00 00"), Command{INS: 0xB0, Ne: 65536, Extended: true}, 2},
		{"case 3E", append(h("00 D6 00 00 00 01 2C"), long...), Command{INS: 0xD6, Data: long, Extended: true}, 3},
		{"case 4E", append(append(h("80 2A 00 80 00 01 2C"), long...), 0x00, 0x00), Command{CLA: 0x80, INS: 0x2A, P2: 0x80, Data: long, Ne: 65536, Extended: true}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.CLA != tt.want.CLA || got.INS != tt.want.INS || got.P1 != tt.want.P1 || got.P2 != tt.want.P2 ||
				!bytes.Equal(got.Data, tt.want.Data) || got.Ne != tt.want.Ne || got.Extended != tt.want.Extended {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got.Case() != tt.wantCase {
				t.Fatalf("case %d, want %d", got.Case(), tt.wantCase)
			}
			enc, err := got.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, tt.in) {
				t.Fatalf("re-encoded % X, want % X", enc, tt.in)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		reason Reason
		sw     StatusWord
	}{
		{"empty", nil, ReasonTooShort, SWWrongLength},
		{"3 bytes", h("00 A4 04"), ReasonTooShort, SWWrongLength},
		{"CLA FF", h("FF A4 04 0C"), ReasonInvalidCLA, SWCLANotSupported},
		{"Lc larger than data", h("00 A4 04 0C 0A D392"), ReasonLength, SWWrongLength},
		{"two trailing bytes", h("00 A4 04 0C 02 00 0A 00 00"), ReasonLength, SWWrongLength},
		{"00 then one byte", h("00 B0 00 00 00 01"), ReasonLength, SWWrongLength},
		{"extended Lc 0000", h("00 B0 00 00 00 00 00 01"), ReasonZeroLc, SWWrongLength},
		{"extended Lc short data", h("00 D6 00 00 00 00 05 01 02"), ReasonLength, SWWrongLength},
		{"extended Le one byte", h("00 D6 00 00 00 00 01 01 00"), ReasonLength, SWWrongLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCommand(tt.in)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Reason != tt.reason {
				t.Fatalf("reason %v, want %v", pe.Reason, tt.reason)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatal("not ErrMalformed")
			}
			if got := StatusFor(err); got != tt.sw {
				t.Fatalf("StatusFor = %v, want %v", got, tt.sw)
			}
		})
	}
}

func TestCommandBytes(t *testing.T) {
	tests := []struct {
		name string
		c    Command
		want string
	}{
		{"case 1", Command{INS: 0x20, P2: 0x80}, "00200080"},
		{"Ne 256 short", Command{INS: 0xB0, Ne: 256}, "00B0000000"},
		{"Ne 257 goes extended", Command{INS: 0xB0, Ne: 257}, "00B00000000101"},
		{"Nc 256 goes extended", Command{INS: 0xD6, Data: make([]byte, 256), Ne: 0}, "00D60000000100" + strings.Repeat("00", 256)},
		{"forced extended case 4", Command{CLA: 0x80, INS: 0x2A, P2: 0x80, Data: []byte{1}, Ne: 256, Extended: true}, "802A0080000001010100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != strings.ToLower(tt.want) {
				t.Fatalf("got %X want %s", got, tt.want)
			}
		})
	}
	for _, c := range []Command{{Ne: 65537}, {Ne: -1}, {Data: make([]byte, 65536)}, {CLA: 0xFF}} {
		var pe *ParseError
		if _, err := c.Bytes(); !errors.As(err, &pe) {
			t.Fatalf("%v: err = %v, want *ParseError", c, err)
		}
	}
}

func TestResponse(t *testing.T) {
	r, err := ParseResponse(h("01 02 63 C2"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Data, []byte{1, 2}) || r.SW != VerifyFailed(2) {
		t.Fatalf("got %+v", r)
	}
	if n, ok := r.SW.TriesLeft(); !ok || n != 2 {
		t.Fatalf("TriesLeft = %d, %v", n, ok)
	}
	if !bytes.Equal(r.Bytes(), h("01 02 63 C2")) {
		t.Fatal("round trip")
	}
	if _, err := ParseResponse([]byte{0x90}); !errors.Is(err, ErrShortResponse) {
		t.Fatalf("err = %v", err)
	}
	if err := (Response{SW: SWOK}).Err(); err != nil {
		t.Fatal(err)
	}
	err = Response{SW: SWSecurityNotSatisfied}.Err()
	if !IsStatus(err, SWSecurityNotSatisfied) || IsStatus(err, SWOK) {
		t.Fatalf("IsStatus wrong for %v", err)
	}
	if _, ok := SWOK.TriesLeft(); ok {
		t.Fatal("9000 has no tries")
	}
}

func TestStatusWordString(t *testing.T) {
	for sw, want := range map[StatusWord]string{
		SWFileNotFound:   "6A82 (file not found)",
		VerifyFailed(3):  "63C3 (verification failed, 3 tries left)",
		VerifyFailed(99): "63CF (verification failed, 15 tries left)",
		0x6110:           "6110 (16 more bytes available)",
		0x1234:           "1234",
	} {
		if got := sw.String(); got != want {
			t.Errorf("%04X: %q, want %q", uint16(sw), got, want)
		}
	}
}

// FuzzParseCommand checks that ParseCommand never panics, and that whatever it accepts
// re-encodes to the same bytes.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"00200080", "00B0000004", "00A4040C0AD392F000260100000001", "802A00800301020300",
		"00B00000000100", "00D600000001" + strings.Repeat("AB", 1) + "0000", "FFA4040C", "00", "",
		"00B00000000000", "00A4040C0AD392",
	} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		enc, err := c.Bytes()
		if err != nil {
			t.Fatalf("accepted %X but cannot encode: %v", b, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("%X re-encodes as %X", b, enc)
		}
	})
}
