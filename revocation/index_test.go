package revocation

import (
	"crypto/x509"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
	"golang.org/x/crypto/cryptobyte"
)

func TestRadixSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func(int) uint64{
		"random 64-bit":     func(int) uint64 { return r.Uint64() },
		"small, sequential": func(i int) uint64 { return uint64(i) },
		"small, random":     func(int) uint64 { return r.Uint64N(5000) },
		"all equal":         func(int) uint64 { return 42 },
		"two values, far":   func(i int) uint64 { return uint64(i%2) << 63 },
		"low byte only":     func(int) uint64 { return uint64(r.IntN(256)) },
	}
	for name, gen := range gens {
		sizes := []int{0, 1, 2, 47, 48, 49, 300, 20000}
		if name == "random 64-bit" || name == "small, sequential" {
			sizes = append(sizes, parallelMin+1000) // the multi-core path
		}
		for _, n := range sizes {
			keys := make([]uint64, n)
			at := make([]uint32, n)
			rs := make([]uint8, n)
			payload := map[uint64][]uint32{}
			for i := range keys {
				keys[i] = gen(i)
				at[i] = uint32(r.Uint32())
				rs[i] = uint8(i)
				payload[keys[i]] = append(payload[keys[i]], at[i])
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			radixSort(keys, at, rs)
			if !slices.Equal(keys, want) {
				t.Fatalf("%s, n=%d: not sorted", name, n)
			}
			// Every key still carries one of its own payloads.
			for i, k := range keys {
				if !slices.Contains(payload[k], at[i]) {
					t.Fatalf("%s, n=%d: payload of %d moved to another key", name, n, k)
				}
			}
		}
	}
}

func TestLookupEncodings(t *testing.T) {
	c := cas(t)
	der := writerCRL(t, c.rsa, 1, []crlwriter.Entry{
		{Serial: big.NewInt(5), RevokedAt: testNow, Reason: 1},
		{Serial: bigHex("80"), RevokedAt: testNow, Reason: 3},
		{Serial: bigHex("0102030405060708090a"), RevokedAt: testNow, Reason: 4},
	})
	neg := x509CRL(t, c.rsa, 2, []x509.RevocationListEntry{rle(big.NewInt(-2), testNow, 1)}, nil)
	ix, err := Read(der, c.rsa.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ixNeg, err := Read(neg, c.rsa.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ix     *Index
		serial []byte
		want   bool
	}{
		{"minimal", ix, []byte{5}, true},
		{"redundant zeros", ix, []byte{0, 0, 0, 5}, true},
		{"high bit needs a zero", ix, []byte{0, 0x80}, true},
		{"the same octet alone is negative", ix, []byte{0x80}, false},
		{"long", ix, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, true},
		{"long with a zero", ix, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, true},
		{"long, absent", ix, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 11}, false},
		{"empty", ix, nil, false},
		{"zero", ix, []byte{0}, false},
		{"negative two", ixNeg, []byte{0xfe}, true},
		{"negative two, redundant sign", ixNeg, []byte{0xff, 0xff, 0xfe}, true},
		{"positive 254", ixNeg, []byte{0x00, 0xfe}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, _ := tc.ix.LookupBytes(tc.serial)
			if got != tc.want {
				t.Fatalf("LookupBytes(%x) = %v; want %v", tc.serial, got, tc.want)
			}
			if len(tc.serial) > 0 {
				got, _, _ = tc.ix.Lookup(serialFromBytes(tc.serial))
				if got != tc.want {
					t.Fatalf("Lookup(%v) = %v; want %v", serialFromBytes(tc.serial), got, tc.want)
				}
			}
		})
	}
}

func TestSerialBytesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 5000 {
		raw := make([]byte, r.IntN(22))
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		n := new(big.Int).SetBytes(raw)
		if r.IntN(2) == 0 {
			n.Neg(n)
		}
		b := serialBytes(n)
		if !minimalInteger(b) {
			t.Fatalf("%v: %x is not minimal", n, b)
		}
		if got := serialFromBytes(b); got.Cmp(n) != 0 {
			t.Fatalf("%v -> %x -> %v", n, b, got)
		}
	}
}

func TestReadTimeAgreesWithTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		want := time.Unix(r.Int64N(253402300800+62135596800)-62135596800, 0).UTC() // years 0001–9999
		var enc []byte
		if y := want.Year(); y >= 1950 && y < 2050 {
			enc = utc(want.Format("060102150405Z"))
		} else {
			enc = gen(want.Format("20060102150405Z"))
		}
		s := enc
		got, ok := readTime((*cryptobyte.String)(&s))
		if !ok || got != want.Unix() {
			t.Fatalf("%x: got %d, %v; want %d (%v)", enc, got, ok, want.Unix(), want)
		}
	}
}
