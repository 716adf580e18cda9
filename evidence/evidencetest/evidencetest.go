// Package evidencetest is the conformance suite of evidence.Storage: every driver (the
// in-memory one, the store's SQLite and PostgreSQL) runs the same tests, so that the log
// behaves identically on each. It owns tests only.
//
// A driver's test calls Run with a function that opens a new, empty storage for each subtest:
//
//	func TestEvidenceStorage(t *testing.T) {
//		evidencetest.Run(t, func(t *testing.T) evidencetest.Storage { return memory.New() })
//	}
package evidencetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
)

// Storage is an evidence.Storage the suite can fill: AddEntries stores records as entries not
// yet in the tree, all or none, in one transaction; evidence.ErrDuplicate if an id is already
// stored (then nothing is written). The order of recs is the order Unsequenced MUST return
// them in, relative to each other. The platform never adds entries this way (it stores each in
// its verification's transaction), so AddEntries is a test hook of each driver, not part of
// evidence.Storage.
type Storage interface {
	evidence.Storage
	AddEntries(ctx context.Context, recs []evidence.Record) error
}

// Open returns a new, empty storage for one test; it closes it in t.Cleanup if needed.
type Open func(t *testing.T) Storage

// Append prepares e with l, stores it in s and wakes l's integrator, as the platform does for
// a verification's entry.
func Append(ctx context.Context, l *evidence.Log, s Storage, e evidence.Entry) (*evidence.Record, error) {
	rec, err := l.Prepare(e)
	if err != nil {
		return nil, err
	}
	if err := s.AddEntries(ctx, []evidence.Record{*rec}); err != nil {
		return nil, fmt.Errorf("append %s: %w", e.ID, err)
	}
	l.Notify()
	return rec, nil
}

// Base is the time of the suite's entries.
var Base = time.Date(2026, 4, 1, 9, 0, 0, 123456789, time.UTC)

var (
	keysOnce sync.Once
	keys     *evidence.Keys
)

// Keys returns one set of log keys for the whole test binary.
func Keys(t testing.TB) *evidence.Keys {
	keysOnce.Do(func() {
		var err error
		if keys, err = evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin); err != nil {
			panic(err)
		}
	})
	return keys
}

// NewLog returns a log over s with the suite's keys.
func NewLog(t testing.TB, s evidence.Storage, opts ...evidence.Option) *evidence.Log {
	t.Helper()
	l, err := evidence.New(s, Keys(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Entry returns a valid accepted entry numbered i, of tenant, at Base + i seconds.
func Entry(i int, tenant string) evidence.Entry {
	return evidence.Entry{
		Header: evidence.Header{
			ID: fmt.Sprintf("v_%016x", i), SessionID: fmt.Sprintf("s_%016x", i), TenantID: tenant, Purpose: "identity",
			Time: Base.Add(time.Duration(i) * time.Second), Decision: evidence.Accepted,
			Challenge: []byte(fmt.Sprintf("mynagate-challenge/v1\x00%s\x00identity\x00s_%016x\x00nonce-%d", tenant, i, i)),
			Method:    evidence.MethodCRL, CRLNumber: "42", CRLThisUpdate: Base.Add(-time.Hour),
		},
		Personal: evidence.Personal{
			Certificate: bytes.Repeat([]byte{byte(i)}, 1200), Signature: bytes.Repeat([]byte{0xAA}, 256),
			Subject: fmt.Sprintf("pairwise-%d", i),
			Facts:   map[string]string{"name": "デジタル 花子", "birthdate": "1990-01-02", "sex": "female", "address": "東京都千代田区"},
		},
	}
}

// Record prepares Entry(i, tenant) with l.
func Record(t testing.TB, l *evidence.Log, i int, tenant string) evidence.Record {
	t.Helper()
	r, err := l.Prepare(Entry(i, tenant))
	if err != nil {
		t.Fatal(err)
	}
	return *r
}

// Run runs the conformance suite against storages from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		f    func(*testing.T, Open)
	}{
		{"AddAndRead", testAddAndRead},
		{"DuplicateIsAllOrNone", testDuplicate},
		{"UnsequencedOrder", testUnsequencedOrder},
		{"IntegrateGuards", testIntegrateGuards},
		{"IntegrateRace", testIntegrateRace},
		{"Tiles", testTiles},
		{"Queries", testQueries},
		{"Checkpoints", testCheckpoints},
		{"Shred", testShred},
		{"LogEndToEnd", testLogEndToEnd},
		{"TwoNodes", testTwoNodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f(t, open)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func equalRecord(t *testing.T, got evidence.StoredEntry, want evidence.Record) {
	t.Helper()
	switch {
	case got.ID != want.ID, got.TenantID != want.TenantID, !got.Time.Equal(want.Time), !got.ShredAfter.Equal(want.ShredAfter),
		!bytes.Equal(got.LeafData, want.LeafData), got.LeafHash != want.LeafHash,
		!bytes.Equal(got.Sealed, want.Sealed), !bytes.Equal(got.WrappedKey, want.WrappedKey):
		t.Errorf("stored entry %s differs from the record added", want.ID)
	}
}

func testAddAndRead(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s)
	recs := []evidence.Record{Record(t, l, 1, "t_a"), Record(t, l, 2, "t_b")}
	if err := s.AddEntries(c, recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		got, err := s.Entry(c, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Sequenced {
			t.Errorf("entry %s is sequenced before integration", r.ID)
		}
		equalRecord(t, *got, r)
		if got.Time.Location() != time.UTC {
			t.Errorf("time of %s is in %v, want UTC", r.ID, got.Time.Location())
		}
	}
	if _, err := s.Entry(c, "v_unknown"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Entry(unknown) = %v, want ErrNotFound", err)
	}
	if ts, err := s.Tree(c); err != nil || ts.Size != 0 {
		t.Errorf("Tree of a new log = %+v, %v; want size 0", ts, err)
	}
	if _, err := s.LatestCheckpoint(c); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("LatestCheckpoint of a new log = %v, want ErrNotFound", err)
	}
}

func testDuplicate(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s)
	if err := s.AddEntries(c, []evidence.Record{Record(t, l, 1, "t_a")}); err != nil {
		t.Fatal(err)
	}
	// A batch with a new record and a duplicate writes neither.
	err := s.AddEntries(c, []evidence.Record{Record(t, l, 2, "t_a"), Record(t, l, 1, "t_a")})
	if !errors.Is(err, evidence.ErrDuplicate) {
		t.Fatalf("AddEntries(duplicate) = %v, want ErrDuplicate", err)
	}
	if _, err := s.Entry(c, Entry(2, "t_a").ID); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("the batch with a duplicate was partly written: Entry = %v", err)
	}
	// A duplicate inside one batch too.
	r3 := Record(t, l, 3, "t_a")
	if err := s.AddEntries(c, []evidence.Record{r3, r3}); !errors.Is(err, evidence.ErrDuplicate) {
		t.Errorf("AddEntries(twice in a batch) = %v, want ErrDuplicate", err)
	}
}

func testUnsequencedOrder(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s)
	var want []string
	for batch := 0; batch < 3; batch++ {
		var recs []evidence.Record
		for i := 0; i < 4; i++ {
			r := Record(t, l, 10*batch+9-i, "t_a") // ids not in sorted order
			recs = append(recs, r)
			want = append(want, r.ID)
		}
		if err := s.AddEntries(c, recs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Unsequenced(c, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Unsequenced returned %d, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i] {
			t.Fatalf("Unsequenced[%d] = %s, want %s (the order entries were added in)", i, got[i].ID, want[i])
		}
		e, _ := s.Entry(c, got[i].ID)
		if got[i].LeafHash != e.LeafHash {
			t.Errorf("Unsequenced[%d] has another leaf hash than the entry", i)
		}
	}
	if got, _ := s.Unsequenced(c, 5); len(got) != 5 || got[0].ID != want[0] {
		t.Errorf("Unsequenced(5) returned %d entries", len(got))
	}
}

func hash(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func testIntegrateGuards(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s)
	r1, r2, r3 := Record(t, l, 1, "t_a"), Record(t, l, 2, "t_a"), Record(t, l, 3, "t_a")
	if err := s.AddEntries(c, []evidence.Record{r1, r2, r3}); err != nil {
		t.Fatal(err)
	}
	tile0 := evidence.TileID{Level: 0, Index: 0}
	ok := evidence.Integration{From: 0, To: 2, Root: [32]byte(hash(7)), IDs: []string{r1.ID, r2.ID},
		Tiles: []evidence.Tile{{TileID: tile0, Hashes: append(hash(1), hash(2)...)}}}
	bad := []struct {
		name string
		in   evidence.Integration
	}{
		{"wrong from", evidence.Integration{From: 1, To: 2, IDs: []string{r1.ID}}},
		{"unknown id", evidence.Integration{From: 0, To: 1, IDs: []string{"v_nope"}}},
	}
	for _, b := range bad {
		if err := s.Integrate(c, b.in); !errors.Is(err, evidence.ErrTreeMoved) {
			t.Errorf("Integrate(%s) = %v, want ErrTreeMoved", b.name, err)
		}
	}
	if err := s.Integrate(c, ok); err != nil {
		t.Fatal(err)
	}
	// Replaying the same batch: the size moved on.
	if err := s.Integrate(c, ok); !errors.Is(err, evidence.ErrTreeMoved) {
		t.Errorf("Integrate(replayed) = %v, want ErrTreeMoved", err)
	}
	// An id that is already sequenced, at the right size: nothing is written.
	again := evidence.Integration{From: 2, To: 4, Root: [32]byte(hash(9)), IDs: []string{r3.ID, r1.ID},
		Tiles: []evidence.Tile{{TileID: tile0, Hashes: bytes.Repeat([]byte{5}, 4*32)}}}
	if err := s.Integrate(c, again); !errors.Is(err, evidence.ErrTreeMoved) {
		t.Errorf("Integrate(sequenced id) = %v, want ErrTreeMoved", err)
	}
	ts, err := s.Tree(c)
	if err != nil || ts.Size != 2 || ts.Root != [32]byte(hash(7)) {
		t.Errorf("Tree = %+v, %v; want size 2 and the integrated root", ts, err)
	}
	tiles, err := s.Tiles(c, []evidence.TileID{tile0})
	if err != nil || !bytes.Equal(tiles[0], append(hash(1), hash(2)...)) {
		t.Errorf("a refused integration changed the tile: %x, %v", tiles, err)
	}
	e3, _ := s.Entry(c, r3.ID)
	if e3.Sequenced {
		t.Error("a refused integration sequenced an entry")
	}
	for i, r := range []evidence.Record{r1, r2} {
		e, err := s.Entry(c, r.ID)
		if err != nil || !e.Sequenced || e.Index != uint64(i) {
			t.Errorf("entry %s: sequenced %v index %d, %v; want index %d", r.ID, e.Sequenced, e.Index, err, i)
		}
	}
	pend, err := s.Unsequenced(c, 10)
	if err != nil || len(pend) != 1 || pend[0].ID != r3.ID {
		t.Errorf("Unsequenced after integration = %v, %v; want only %s", pend, err, r3.ID)
	}
}

func testIntegrateRace(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s)
	var recs []evidence.Record
	for i := 0; i < 8; i++ {
		recs = append(recs, Record(t, l, i, "t_a"))
	}
	if err := s.AddEntries(c, recs); err != nil {
		t.Fatal(err)
	}
	// Eight integrators race from size 0, each with another entry; exactly one wins.
	var wins, moved atomic.Int32
	var wg sync.WaitGroup
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Integrate(c, evidence.Integration{From: 0, To: 1, Root: [32]byte(hash(byte(i))), IDs: []string{recs[i].ID},
				Tiles: []evidence.Tile{{TileID: evidence.TileID{}, Hashes: hash(byte(i))}}})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, evidence.ErrTreeMoved):
				moved.Add(1)
			default:
				t.Errorf("racing Integrate: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || moved.Load() != 7 {
		t.Fatalf("%d integrators won and %d were refused; want 1 and 7", wins.Load(), moved.Load())
	}
	ts, _ := s.Tree(c)
	tiles, _ := s.Tiles(c, []evidence.TileID{{}})
	if ts.Size != 1 || !bytes.Equal(tiles[0], ts.Root[:]) {
		t.Errorf("the winner's tile and root disagree: size %d", ts.Size)
	}
	n := 0
	for _, r := range recs {
		if e, _ := s.Entry(c, r.ID); e.Sequenced {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d entries sequenced, want 1", n)
	}
}

func testTiles(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s)
	r := Record(t, l, 1, "t_a")
	if err := s.AddEntries(c, []evidence.Record{r}); err != nil {
		t.Fatal(err)
	}
	full := bytes.Repeat([]byte{3}, 256*32)
	err := s.Integrate(c, evidence.Integration{From: 0, To: 1, IDs: []string{r.ID}, Tiles: []evidence.Tile{
		{TileID: evidence.TileID{Level: 0, Index: 5}, Hashes: full},
		{TileID: evidence.TileID{Level: 2, Index: 1}, Hashes: hash(4)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Tiles(c, []evidence.TileID{{Level: 2, Index: 1}, {Level: 0, Index: 6}, {Level: 0, Index: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[0], hash(4)) || got[1] != nil || !bytes.Equal(got[2], full) {
		t.Errorf("Tiles returned the wrong content, order or a tile never written")
	}
}

func testQueries(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s, evidence.WithBatchSize(3))
	var recs []evidence.Record
	for i := 0; i < 20; i++ {
		tenant := "t_a"
		if i%3 == 0 {
			tenant = "t_b"
		}
		recs = append(recs, Record(t, l, i, tenant))
	}
	if err := s.AddEntries(c, recs[:15]); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Integrate(c); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEntries(c, recs[15:]); err != nil { // not integrated: never returned
		t.Fatal(err)
	}
	page, err := s.EntriesByIndex(c, 4, 5)
	if err != nil || len(page) != 5 {
		t.Fatalf("EntriesByIndex(4, 5) = %d entries, %v", len(page), err)
	}
	for i, e := range page {
		if !e.Sequenced || e.Index != uint64(4+i) {
			t.Errorf("EntriesByIndex[%d] has index %d", i, e.Index)
		}
		equalRecord(t, e, recs[4+i])
	}
	if page, _ := s.EntriesByIndex(c, 13, 100); len(page) != 2 {
		t.Errorf("EntriesByIndex(13) = %d entries, want 2 (unsequenced ones excluded)", len(page))
	}
	// t_a entries 1,2,4,5,7,8,10,11,13,14 at Base+i s; the period [Base+2s, Base+11s) holds 2,4,5,7,8,10.
	q := evidence.TenantQuery{TenantID: "t_a", From: Base.Add(2 * time.Second), To: Base.Add(11 * time.Second), Limit: 4}
	var got []uint64
	for {
		page, err := s.TenantEntries(c, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.TenantID != "t_a" {
				t.Errorf("TenantEntries returned tenant %s", e.TenantID)
			}
			got = append(got, e.Index)
		}
		if len(page) < q.Limit {
			break
		}
		q.StartIndex = page[len(page)-1].Index + 1
	}
	if fmt.Sprint(got) != "[2 4 5 7 8 10]" {
		t.Errorf("TenantEntries over pages = %v, want [2 4 5 7 8 10]", got)
	}
	n, err := s.CountTenantEntries(c, evidence.TenantQuery{TenantID: "t_a", From: Base.Add(2 * time.Second), To: Base.Add(11 * time.Second)})
	if err != nil || n != 6 {
		t.Errorf("CountTenantEntries = %d, %v; want 6", n, err)
	}
}

func testCheckpoints(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	at := Base
	for _, size := range []uint64{0, 3, 10} {
		if err := s.AddCheckpoint(c, evidence.StoredCheckpoint{Size: size, Root: [32]byte(hash(byte(size))), Note: []byte(fmt.Sprintf("note %d\n", size)), SignedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []uint64{10, 5} {
		if err := s.AddCheckpoint(c, evidence.StoredCheckpoint{Size: size, Note: []byte("x\n"), SignedAt: at}); !errors.Is(err, evidence.ErrCheckpointNotNewer) {
			t.Errorf("AddCheckpoint(size %d after 10) = %v, want ErrCheckpointNotNewer", size, err)
		}
	}
	latest, err := s.LatestCheckpoint(c)
	if err != nil || latest.Size != 10 || latest.Root != [32]byte(hash(10)) || string(latest.Note) != "note 10\n" || !latest.SignedAt.Equal(at) {
		t.Errorf("LatestCheckpoint = %+v, %v", latest, err)
	}
	cs, err := s.Checkpoints(c, 1, 10)
	if err != nil || len(cs) != 2 || cs[0].Size != 3 || cs[1].Size != 10 {
		t.Errorf("Checkpoints(1) = %v, %v; want sizes 3, 10", cs, err)
	}
	if cs, _ := s.Checkpoints(c, 0, 1); len(cs) != 1 || cs[0].Size != 0 {
		t.Errorf("Checkpoints(0, limit 1) = %v", cs)
	}
	// Racing checkpoints of one size: one is stored.
	var stored atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.AddCheckpoint(c, evidence.StoredCheckpoint{Size: 20, Root: [32]byte(hash(byte(i))), Note: []byte("n\n"), SignedAt: at})
			if err == nil {
				stored.Add(1)
			} else if !errors.Is(err, evidence.ErrCheckpointNotNewer) {
				t.Errorf("racing AddCheckpoint: %v", err)
			}
		}()
	}
	wg.Wait()
	if stored.Load() != 1 {
		t.Errorf("%d racing checkpoints of one size were stored, want 1", stored.Load())
	}
}

func testShred(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s, evidence.WithRetention(func(tenant string, at time.Time) time.Time {
		if tenant == "t_short" {
			return at.AddDate(1, 0, 0)
		}
		return at.AddDate(7, 0, 0)
	}))
	var recs []evidence.Record
	for i := 0; i < 5; i++ {
		tenant := "t_long"
		if i < 3 {
			tenant = "t_short"
		}
		recs = append(recs, Record(t, l, i, tenant))
	}
	if err := s.AddEntries(c, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Integrate(c); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Shred(c, Base.AddDate(1, 0, 0).Add(-time.Second), 10); err != nil || n != 0 {
		t.Errorf("Shred before any retention ended = %d, %v", n, err)
	}
	// At Base + 1 year + 1 s entries 0 and 1 are due (entry i is at Base + i s).
	if n, err := s.Shred(c, Base.AddDate(1, 0, 0).Add(time.Second), 1); err != nil || n != 1 {
		t.Errorf("Shred(limit 1) = %d, %v; want 1", n, err)
	}
	if n, err := s.Shred(c, Base.AddDate(1, 0, 0).Add(time.Second), 10); err != nil || n != 1 {
		t.Errorf("Shred(rest) = %d, %v; want 1", n, err)
	}
	for i, r := range recs {
		e, err := s.Entry(c, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		shredded := e.Sealed == nil && e.WrappedKey == nil
		if shredded != (i < 2) {
			t.Errorf("entry %d: shredded = %v", i, shredded)
		}
		if !bytes.Equal(e.LeafData, r.LeafData) || e.LeafHash != r.LeafHash || !e.Sequenced || e.Index != uint64(i) {
			t.Errorf("entry %d: shredding changed its leaf or index", i)
		}
	}
}

// testLogEndToEnd drives the log over the storage: concurrent appends,
// integration in small batches, checkpoints, bundles, shredding and the audit.
func testLogEndToEnd(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	l := NewLog(t, s, evidence.WithBatchSize(50))
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Append(c, l, s, Entry(i, []string{"t_a", "t_b"}[i%2]))
			errs <- err
		}()
		if i == n/2 {
			if _, err := l.Publish(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.Publish(c)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != n {
		t.Fatalf("checkpoint size %d, want %d", cp.Size, n)
	}
	for _, i := range []int{0, 1, 150, n - 1} {
		e := Entry(i, []string{"t_a", "t_b"}[i%2])
		b, err := l.Bundle(c, e.TenantID, e.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := b.Marshal()
		v, err := evidence.VerifyBundle(data, l.PublicKey())
		if err != nil {
			t.Fatalf("bundle of entry %d: %v", i, err)
		}
		if v.Leaf.ID != e.ID || v.Personal == nil || !bytes.Equal(v.Personal.Certificate, e.Personal.Certificate) {
			t.Errorf("bundle of entry %d verifies to another entry or lost its personal data", i)
		}
	}
	rep, err := l.Audit(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != n || rep.Checkpoints < 2 || rep.Sealed != n {
		t.Errorf("audit report %+v", rep)
	}
}

// testTwoNodes runs two logs on one storage, as two API nodes on one database: both append and
// integrate concurrently, and the tree stays one.
func testTwoNodes(t *testing.T, open Open) {
	s, c := open(t), ctx(t)
	a, b := NewLog(t, s, evidence.WithBatchSize(7)), NewLog(t, s, evidence.WithBatchSize(5))
	const n = 200
	var wg sync.WaitGroup
	for w, l := range []*evidence.Log{a, b} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				if _, err := Append(c, l, s, Entry(i, "t_a")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				// ErrTreeMoved: the other node kept winning the race for this round; like Run,
				// try again on the next round.
				if _, err := l.Integrate(c); err != nil && !errors.Is(err, evidence.ErrTreeMoved) {
					t.Error(err)
					return
				}
				// Publish integrates first, so it can lose the same race.
				if _, err := l.Publish(c); err != nil && !errors.Is(err, evidence.ErrTreeMoved) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := a.Publish(c); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(c); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*evidence.Log{a, b} {
		rep, err := l.Audit(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Size != n {
			t.Errorf("tree size %d, want %d", rep.Size, n)
		}
	}
}
