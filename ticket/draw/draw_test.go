package draw

import (
	"bytes"
	"fmt"
	"testing"
)

func entries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{ID: fmt.Sprintf("app_%08d", i), Class: "S", Seats: 1 + i%2}
	}
	return es
}

// TestVector pins the algorithm: a change to any step changes these winners. The expected
// value was computed apart, by a Python transcription of the steps in the package doc.
func TestVector(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 32)
	w, err := Run(seed, map[string]int64{"S": 5}, entries(10))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(w)
	const want = "[app_00000002 app_00000005 app_00000001]" // also computed by an independent Python implementation of the package doc
	if got != want {
		t.Fatalf("winners %s, want %s", got, want)
	}
}

func TestOrderIsAPermutationAndUnbiased(t *testing.T) {
	// Each of 4 entries should come first about a quarter of the time over many seeds.
	counts := make([]int, 4)
	for s := range 4000 {
		seed := []byte(fmt.Sprintf("%032d", s))
		p := Order(Key(seed, entries(4)), 4)
		seen := map[int32]bool{}
		for _, x := range p {
			seen[x] = true
		}
		if len(seen) != 4 {
			t.Fatalf("not a permutation: %v", p)
		}
		counts[p[0]]++
	}
	for i, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("entry %d first %d times of 4000, want about 1000", i, c)
		}
	}
}

func TestRunRefusesUnsorted(t *testing.T) {
	es := entries(3)
	es[0], es[1] = es[1], es[0]
	if _, err := Run(make([]byte, 32), map[string]int64{"S": 1}, es); err == nil {
		t.Fatal("unsorted entries accepted")
	}
	es = entries(3)
	es[1].ID = es[0].ID
	if _, err := Run(make([]byte, 32), map[string]int64{"S": 1}, es); err == nil {
		t.Fatal("repeated id accepted")
	}
}

func TestVerify(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	es := entries(50)
	w, _ := Run(seed, map[string]int64{"S": 20}, es)
	d := &Document{Format: Format, SeedHash: Commit(seed), Seed: fmt.Sprintf("%x", seed), Capacity: map[string]int64{"S": 20}, Entries: es, Winners: w}
	if err := Verify(d); err != nil {
		t.Fatal(err)
	}
	// Any change to the list changes the draw: dropping a loser reorders everyone.
	d2 := *d
	d2.Entries = append([]Entry{}, es[1:]...)
	if Verify(&d2) == nil {
		t.Fatal("a changed list verified with the same winners")
	}
	d3 := *d
	d3.SeedHash = Commit([]byte("other"))
	if Verify(&d3) == nil {
		t.Fatal("a seed not matching its commitment verified")
	}
}

func benchmarkRun(b *testing.B, n int) {
	es := entries(n)
	seed := bytes.Repeat([]byte{1}, 32)
	b.ResetTimer()
	for range b.N {
		if _, err := Run(seed, map[string]int64{"S": int64(n / 10)}, es); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDraw100k(b *testing.B) { benchmarkRun(b, 100_000) }
func BenchmarkDraw1M(b *testing.B)   { benchmarkRun(b, 1_000_000) }
