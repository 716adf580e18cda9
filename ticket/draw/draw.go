// Package draw is the lottery draw of package ticket: a deterministic function of a committed
// seed and the published list of applications, so that anyone can re-run it
// (`mynagate ticket draw verify`). It does no I/O and reads no clock.
//
// The algorithm, exactly (format "mynagate-draw-v1"):
//
//  1. The entries are the applications of the round, each "id, seat class, seats", sorted by id
//     (bytewise ascending; ids are unique).
//  2. list = SHA-256 over the lines id + "\t" + class + "\t" + decimal seats + "\n", in that
//     order. key = SHA-256("mynagate-draw-v1" || 0x00 || seed || list). The seed is 32 bytes
//     whose SHA-256 (the commitment) was published before the application window closed.
//  3. A stream of 64-bit numbers: block k (k = 0, 1, …) is SHA-256(key || k as 8 bytes
//     big-endian); each block gives four numbers, its bytes 0–7, 8–15, 16–23 and 24–31 read
//     big-endian, in that order.
//  4. uniform(m) takes the next number r, drawing again while r >= 2^64 − (2^64 mod m), and
//     returns r mod m (no modulo bias).
//  5. Fisher–Yates: p = [0, 1, …, n−1]; for i from n−1 down to 1: j = uniform(i+1), swap p[i]
//     and p[j]. The order of the draw is p[0], p[1], …, p[n−1].
//  6. In that order, an entry wins when its class has at least its seats left, which it then
//     takes; otherwise it loses and the walk goes on (a smaller entry may still fit).
//
// Mixing the list into the key means the seed alone does not fix the order: whoever knew the
// seed early still could not choose a place for an application without changing the list that
// everyone sees.
package draw

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Format names this algorithm.
const Format = "mynagate-draw-v1"

// Entry is one application in the draw.
type Entry struct {
	ID    string `json:"id"`
	Class string `json:"class"`
	Seats int    `json:"seats"`
}

// Document is a published draw: everything needed to re-run it.
type Document struct {
	Format   string           `json:"format"`
	Event    string           `json:"event"`
	Round    int              `json:"round"`
	SeedHash string           `json:"seed_hash"` // hex SHA-256 of the seed, published first
	Seed     string           `json:"seed"`      // hex, revealed after the draw
	Capacity map[string]int64 `json:"capacity"`  // seats per class available to this round
	Entries  []Entry          `json:"entries"`   // sorted by id
	Winners  []string         `json:"winners"`   // in draw order
}

// Commit returns the hex SHA-256 of a seed.
func Commit(seed []byte) string {
	h := sha256.Sum256(seed)
	return hex.EncodeToString(h[:])
}

type stream struct {
	key   [32]byte
	block uint64
	buf   [32]byte
	off   int
}

func (s *stream) next() uint64 {
	if s.off == 0 || s.off == 32 {
		var in [40]byte
		copy(in[:], s.key[:])
		binary.BigEndian.PutUint64(in[32:], s.block)
		s.buf = sha256.Sum256(in[:])
		s.block++
		s.off = 0
	}
	v := binary.BigEndian.Uint64(s.buf[s.off:])
	s.off += 8
	return v
}

func (s *stream) uniform(m uint64) uint64 {
	limit := math.MaxUint64 - (math.MaxUint64%m+1)%m // 2^64 − (2^64 mod m), minus one
	for {
		r := s.next()
		if r <= limit {
			return r % m
		}
	}
}

func sortedCheck(entries []Entry) error {
	for i, e := range entries {
		if e.ID == "" || e.Seats < 1 {
			return fmt.Errorf("draw: entry %d has no id or no seats", i)
		}
		if i > 0 && entries[i-1].ID >= e.ID {
			return errors.New("draw: entries are not sorted by id, or an id repeats")
		}
	}
	return nil
}

// Key returns the draw's key from the seed and the sorted entries.
func Key(seed []byte, entries []Entry) [32]byte {
	lh := sha256.New()
	var line []byte
	for _, e := range entries {
		line = append(line[:0], e.ID...)
		line = append(line, '\t')
		line = append(line, e.Class...)
		line = append(line, '\t')
		line = strconv.AppendInt(line, int64(e.Seats), 10)
		line = append(line, '\n')
		lh.Write(line)
	}
	kh := sha256.New()
	kh.Write([]byte(Format))
	kh.Write([]byte{0})
	kh.Write(seed)
	kh.Write(lh.Sum(nil))
	var k [32]byte
	copy(k[:], kh.Sum(nil))
	return k
}

// Order returns the draw order of n entries under key: a permutation of 0…n−1.
func Order(key [32]byte, n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	s := &stream{key: key}
	for i := n - 1; i >= 1; i-- {
		j := s.uniform(uint64(i + 1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Run draws: entries MUST be sorted by id. It returns the winners' ids in draw order.
func Run(seed []byte, capacity map[string]int64, entries []Entry) ([]string, error) {
	if err := sortedCheck(entries); err != nil {
		return nil, err
	}
	left := make(map[string]int64, len(capacity))
	for c, n := range capacity {
		left[c] = n
	}
	winners := []string{}
	for _, i := range Order(Key(seed, entries), len(entries)) {
		e := entries[i]
		if left[e.Class] >= int64(e.Seats) {
			left[e.Class] -= int64(e.Seats)
			winners = append(winners, e.ID)
		}
	}
	return winners, nil
}

// SortEntries sorts entries by id.
func SortEntries(entries []Entry) {
	slices.SortFunc(entries, func(a, b Entry) int { return bytes.Compare([]byte(a.ID), []byte(b.ID)) })
}

// Verify re-runs a published draw: the seed must match its published hash, and the winners must
// be exactly the ones the algorithm picks.
func Verify(d *Document) error {
	if d.Format != Format {
		return fmt.Errorf("draw: format %q, want %q", d.Format, Format)
	}
	seed, err := hex.DecodeString(d.Seed)
	if err != nil || len(seed) != 32 {
		return errors.New("draw: the seed is not 32 bytes of hex (not revealed yet?)")
	}
	if Commit(seed) != d.SeedHash {
		return fmt.Errorf("draw: the seed does not match the published commitment %s", d.SeedHash)
	}
	want, err := Run(seed, d.Capacity, d.Entries)
	if err != nil {
		return err
	}
	if !slices.Equal(want, d.Winners) {
		return fmt.Errorf("draw: the published winners differ from the draw's (%d published, %d drawn)", len(d.Winners), len(want))
	}
	return nil
}
