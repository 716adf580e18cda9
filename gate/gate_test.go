package gate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/gatetest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

// fixture is an event with cards issued by the J-LIS simulator and a manifest of tickets.
type fixture struct {
	clk      *clockwork.FakeClock
	cards    map[string]*jpki.CardFile // A, B (holders), C (revoked), D (no ticket)
	m        *manifest.Manifest
	svcKey   ed25519.PrivateKey
	envelope []byte
}

var codeKey = bytes.Repeat([]byte{7}, 32)

func commit(m *manifest.Manifest, cf *jpki.CardFile) string {
	return m.HolderOf(cf.Auth.Cert)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	sim, clk, _ := testkit.Simulator(t)
	f := &fixture{clk: clk, cards: map[string]*jpki.CardFile{}}
	for i, n := range []string{"A", "B", "C", "D"} {
		b4 := testkit.Taro()
		if i%2 == 1 {
			b4 = testkit.Hanako()
		}
		f.cards[n] = testkit.Issue(t, sim, b4).Card
	}
	ref, err := sim.RefOf(f.cards["C"].Auth.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Revoke(ctx, ref, jlis.CauseLost, clk.Now()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	caRaw, crlDER, _ := testkit.AuthTrust(t, sim)
	now := clk.Now()
	today := now.In(jpki.JST).Format(time.DateOnly)
	m := &manifest.Manifest{Event: "ev1", EventName: "Spring Live", IssuedAt: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
		CommitKey: bytes.Repeat([]byte{9}, 32), CardKey: bytes.Repeat([]byte{8}, 32), CodeKey: codeKey, CACerts: [][]byte{caRaw}, CRLs: [][]byte{crlDER}}
	m.Tickets = []manifest.Ticket{
		{ID: "t1", Event: "ev1", Day: today, Seat: "S-1", Status: "valid", Holder: commit(m, f.cards["A"]), Name: "山田　太郎"},
		{ID: "t2", Event: "ev1", Day: today, Seat: "S-2", Status: "valid", Generation: 1, Holder: commit(m, f.cards["B"]), Former: []string{commit(m, f.cards["A"])}},
		{ID: "t3", Event: "ev1", Day: today, Seat: "S-3", Status: "valid", Holder: commit(m, f.cards["C"])},
		{ID: "t4", Event: "ev0", Day: today, Seat: "A-4", Status: "valid"},
		{ID: "t5", Event: "ev1", Day: now.Add(24 * time.Hour).In(jpki.JST).Format(time.DateOnly), Seat: "S-5", Status: "valid"},
		{ID: "t6", Event: "ev1", Day: today, Seat: "S-6", Status: "reverify"},
		{ID: "t7", Event: "ev1", Day: today, Seat: "S-7", Status: "cancelled"},
	}
	f.m = m
	_, f.svcKey, _ = ed25519.GenerateKey(rand.Reader)
	if f.envelope, err = manifest.Sign(m, f.svcKey); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) gate(t *testing.T, id string, journal *bytes.Buffer) *gate.Gate {
	t.Helper()
	m, err := manifest.Open(f.envelope, f.svcKey.Public().(ed25519.PublicKey), "ev1", f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c := gate.Config{Manifest: m, GateID: id, Lane: "1", Key: key, Clock: f.clk, Rand: rand.Reader}
	if journal != nil {
		c.Journal = journal
	}
	g, err := gate.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *fixture) code(id string, gen int64, at time.Time) string {
	step := at.Unix() / 15
	return "MGT1." + id + "." + strconv.FormatInt(step, 10) + "." + manifest.CodeMAC(codeKey, id, gen, step)
}

// tap has the virtual card n answer a fresh challenge of g, in-process through package reader.
func (f *fixture) tap(t *testing.T, g *gate.Gate, n string) *gate.Tap {
	t.Helper()
	ch, err := g.NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	return gatetest.TapCard(t, f.cards[n], ch)
}

func want(t *testing.T, d gate.Decision, admit bool, r gate.Reason) {
	t.Helper()
	if d.Admit != admit || d.Reason != r {
		t.Fatalf("decision = admit %v reason %q (%s), want admit %v reason %q", d.Admit, d.Reason, d.Detail, admit, r)
	}
}

func TestAdmitAndEveryRejectReason(t *testing.T) {
	f := newFixture(t)
	now := f.clk.Now()

	t.Run("code admits once, then already-entered", func(t *testing.T) {
		g := f.gate(t, "g1", nil)
		d := g.Decide(gate.Presentation{Code: f.code("t1", 0, now)})
		want(t, d, true, "")
		if d.Seat != "S-1" || d.Name != "山田　太郎" || d.Record == nil {
			t.Fatalf("admission %+v", d)
		}
		if _, err := d.Record.Open(g.PublicKey()); err != nil {
			t.Fatal(err)
		}
		want(t, g.Decide(gate.Presentation{Code: f.code("t1", 0, now)}), false, gate.AlreadyEntered)
		if g.Admitted() != 1 {
			t.Fatalf("admitted = %d", g.Admitted())
		}
	})
	t.Run("tap only finds the holder's ticket", func(t *testing.T) {
		g := f.gate(t, "g1", nil)
		d := g.Decide(gate.Presentation{Tap: f.tap(t, g, "A")})
		want(t, d, true, "")
		if d.Ticket != "t1" {
			t.Fatalf("tap admitted %q", d.Ticket)
		}
		want(t, g.Decide(gate.Presentation{Tap: f.tap(t, g, "A")}), false, gate.AlreadyEntered)
	})
	t.Run("code and the holder's card", func(t *testing.T) {
		g := f.gate(t, "g1", nil)
		want(t, g.Decide(gate.Presentation{Code: f.code("t2", 1, now), Tap: f.tap(t, g, "B")}), true, "")
	})
	cases := []struct {
		name string
		p    func(g *gate.Gate) gate.Presentation
		want gate.Reason
	}{
		{"not-the-holder", func(g *gate.Gate) gate.Presentation {
			return gate.Presentation{Code: f.code("t1", 0, now), Tap: f.tap(t, g, "B")}
		}, gate.NotTheHolder},
		{"wrong-event", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: f.code("t4", 0, now)} }, gate.WrongEvent},
		{"wrong-day", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: f.code("t5", 0, now)} }, gate.WrongDay},
		{"ticket-resold: the seller's code", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: f.code("t2", 0, now)} }, gate.TicketResold},
		{"ticket-resold: the seller's card with the buyer's code", func(g *gate.Gate) gate.Presentation {
			return gate.Presentation{Code: f.code("t2", 1, now), Tap: f.tap(t, g, "A")}
		}, gate.TicketResold},
		{"certificate-revoked: on the CRL snapshot", func(g *gate.Gate) gate.Presentation { return gate.Presentation{Tap: f.tap(t, g, "C")} }, gate.CertificateRevoked},
		{"certificate-revoked: holder must re-verify", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: f.code("t6", 0, now)} }, gate.CertificateRevoked},
		{"qr-expired", func(*gate.Gate) gate.Presentation {
			return gate.Presentation{Code: f.code("t1", 0, now.Add(-time.Minute))}
		}, gate.QRExpired},
		{"unknown-ticket", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: f.code("t99", 0, now)} }, gate.UnknownTicket},
		{"no-ticket for this card", func(g *gate.Gate) gate.Presentation { return gate.Presentation{Tap: f.tap(t, g, "D")} }, gate.NoTicket},
		{"ticket-not-valid", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: f.code("t7", 0, now)} }, gate.TicketNotValid},
		{"bad-code", func(*gate.Gate) gate.Presentation {
			return gate.Presentation{Code: "MGT1.t1." + strconv.FormatInt(now.Unix()/15, 10) + ".AAAAAAAAAAAAAAAAAAAAAA"}
		}, gate.BadCode},
		{"malformed", func(*gate.Gate) gate.Presentation { return gate.Presentation{Code: "hello"} }, gate.Malformed},
		{"nothing shown", func(*gate.Gate) gate.Presentation { return gate.Presentation{} }, gate.Malformed},
		{"challenge-invalid: replayed tap", func(g *gate.Gate) gate.Presentation {
			tp := f.tap(t, g, "D")
			want(t, g.Decide(gate.Presentation{Tap: tp}), false, gate.NoTicket)
			return gate.Presentation{Tap: tp}
		}, gate.ChallengeInvalid},
		{"challenge-invalid: another gate's challenge", func(g *gate.Gate) gate.Presentation {
			return gate.Presentation{Tap: f.tap(t, f.gate(t, "g2", nil), "A")}
		}, gate.ChallengeInvalid},
		{"challenge-invalid: answered too late", func(g *gate.Gate) gate.Presentation {
			tp := f.tap(t, g, "A")
			f.clk.Advance(gate.ChallengeTTL + time.Second)
			return gate.Presentation{Tap: tp}
		}, gate.ChallengeInvalid},
		{"bad-signature", func(g *gate.Gate) gate.Presentation {
			tp := f.tap(t, g, "A")
			tp.Signature[10] ^= 1
			return gate.Presentation{Tap: tp}
		}, gate.BadSignature},
		{"bad-signature: another card's signature under A's certificate", func(g *gate.Gate) gate.Presentation {
			tp := f.tap(t, g, "B")
			tp.Certificate = f.cards["A"].Auth.Cert
			return gate.Presentation{Tap: tp}
		}, gate.BadSignature},
		{"certificate-invalid: the signing certificate", func(g *gate.Gate) gate.Presentation {
			tp := f.tap(t, g, "A")
			tp.Certificate = f.cards["A"].Sign.Cert
			return gate.Presentation{Tap: tp}
		}, gate.CertificateInvalid},
		{"manifest-stale", func(g *gate.Gate) gate.Presentation {
			f.clk.Advance(13 * time.Hour)
			return gate.Presentation{Code: f.code("t1", 0, f.clk.Now())}
		}, gate.ManifestStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := f.clk.Now()
			defer func() { f.clk.Advance(-f.clk.Since(start)) }()
			g := f.gate(t, "g1", nil)
			d := g.Decide(c.p(g))
			want(t, d, false, c.want)
			if d.Record != nil || g.Admitted() != 0 {
				t.Fatalf("a refusal recorded an admission")
			}
		})
	}
}

func TestCardRequired(t *testing.T) {
	f := newFixture(t)
	f.m.RequireCard = true
	var err error
	if f.envelope, err = manifest.Sign(f.m, f.svcKey); err != nil {
		t.Fatal(err)
	}
	g := f.gate(t, "g1", nil)
	want(t, g.Decide(gate.Presentation{Code: f.code("t1", 0, f.clk.Now())}), false, gate.CardRequired)
	want(t, g.Decide(gate.Presentation{Code: f.code("t1", 0, f.clk.Now()), Tap: f.tap(t, g, "A")}), true, "")
}

func TestManifestRefused(t *testing.T) {
	f := newFixture(t)
	pub := f.svcKey.Public().(ed25519.PublicKey)
	now := f.clk.Now()
	var env map[string]any
	if err := json.Unmarshal(f.envelope, &env); err != nil {
		t.Fatal(err)
	}
	reenc := func(mut func(map[string]any)) []byte {
		c := map[string]any{}
		for k, v := range env {
			c[k] = v
		}
		mut(c)
		b, _ := json.Marshal(c)
		return b
	}
	// A tampered payload: the same manifest with one ticket made valid again.
	m2 := *f.m
	m2.Tickets = append([]manifest.Ticket(nil), f.m.Tickets...)
	m2.Tickets[6].Status = "valid"
	tampered, _ := json.Marshal(&m2)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := manifest.Sign(f.m, otherKey)
	// Commitments the gate could never match: no card key to compute a tapped card's id with.
	m3 := *f.m
	m3.CardKey = nil
	keyless, _ := manifest.Sign(&m3, f.svcKey)
	cases := []struct {
		name  string
		data  []byte
		event string
		at    time.Time
		want  manifest.Problem
	}{
		{"tampered", reenc(func(c map[string]any) { c["payload"] = tampered }), "ev1", now, manifest.BadSignature},
		{"unsigned", reenc(func(c map[string]any) { delete(c, "signature") }), "ev1", now, manifest.Unsigned},
		{"signed by another key", other, "ev1", now, manifest.BadSignature},
		{"another event", f.envelope, "ev2", now, manifest.WrongEvent},
		{"stale", f.envelope, "ev1", now.Add(13 * time.Hour), manifest.Stale},
		{"not yet valid", f.envelope, "ev1", now.Add(-2 * time.Hour), manifest.NotYetValid},
		{"garbage", []byte("{\"format\":1"), "ev1", now, manifest.Malformed},
		{"unknown field", reenc(func(c map[string]any) { c["extra"] = 1 }), "ev1", now, manifest.Malformed},
		{"commitments without a card key", keyless, "ev1", now, manifest.Malformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := manifest.Open(c.data, pub, c.event, c.at)
			if p, _ := manifest.ProblemOf(err); p != c.want {
				t.Fatalf("Open: %v, want %s", err, c.want)
			}
		})
	}
	if _, err := manifest.Open(f.envelope, pub, "ev1", now); err != nil {
		t.Fatalf("the genuine manifest: %v", err)
	}
}

func TestOfflineSyncDetectsDoubleEntry(t *testing.T) {
	f := newFixture(t)
	var j1, j2 bytes.Buffer
	g1, g2 := f.gate(t, "north", &j1), f.gate(t, "south", &j2)
	now := f.clk.Now()
	// Offline, each gate knows only its own admissions: the same ticket gets in twice.
	want(t, g1.Decide(gate.Presentation{Code: f.code("t1", 0, now)}), true, "")
	f.clk.Advance(20 * time.Second)
	want(t, g2.Decide(gate.Presentation{Tap: f.tap(t, g2, "A")}), true, "")
	want(t, g2.Decide(gate.Presentation{Code: f.code("t2", 1, f.clk.Now())}), true, "")

	r1, err := gate.ReadJournal(&j1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := gate.ReadJournal(&j2)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{"north": g1.PublicKey(), "south": g2.PublicKey()}
	all := append(append([]gate.SignedRecord{}, r1...), r2...)
	all = append(all, r1[0]) // a retried upload
	forged := r2[1]
	forged.Record = bytes.Replace(forged.Record, []byte(`"t2"`), []byte(`"t3"`), 1)
	all = append(all, forged)
	_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := gate.Record{Event: "ev1", Ticket: "t5", Gate: "west", At: now}.Sign(strangerKey)
	all = append(all, stranger)
	_, eastKey, _ := ed25519.GenerateKey(rand.Reader)
	keys["east"] = eastKey.Public().(ed25519.PublicKey)
	otherEvent, _ := gate.Record{Event: "ev0", Ticket: "t4", Gate: "east", At: now}.Sign(eastKey)
	all = append(all, otherEvent)

	res := gate.Merge("ev1", keys, all)
	if len(res.Admissions) != 2 || res.Admissions[0].Ticket != "t1" || res.Admissions[0].Gate != "north" || res.Admissions[1].Ticket != "t2" {
		t.Fatalf("admissions %+v", res.Admissions)
	}
	if len(res.Conflicts) != 1 || res.Conflicts[0].Ticket != "t1" || len(res.Conflicts[0].Records) != 2 ||
		res.Conflicts[0].Records[1].Gate != "south" || res.Conflicts[0].Records[1].Method != "tap" {
		t.Fatalf("conflicts %+v", res.Conflicts)
	}
	if len(res.Rejected) != 3 || res.Rejected[0].Reason != "bad signature" || res.Rejected[1].Reason != "unknown gate west" || res.Rejected[2].Reason != "record of event ev0" {
		t.Fatalf("rejected %+v", res.Rejected)
	}
}

func TestJournalReplayRemembersAdmissions(t *testing.T) {
	f := newFixture(t)
	var j bytes.Buffer
	m, _ := manifest.Open(f.envelope, f.svcKey.Public().(ed25519.PublicKey), "ev1", f.clk.Now())
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g, err := gate.New(gate.Config{Manifest: m, GateID: "g", Key: key, Clock: f.clk, Rand: rand.Reader, Journal: &j})
	if err != nil {
		t.Fatal(err)
	}
	want(t, g.Decide(gate.Presentation{Code: f.code("t1", 0, f.clk.Now())}), true, "")
	j.WriteString(`{"record":"eyJ`) // a line torn by a crash
	recs, err := gate.ReadJournal(bytes.NewReader(j.Bytes()))
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal: %d records, %v", len(recs), err)
	}
	g2, err := gate.New(gate.Config{Manifest: m, GateID: "g", Key: key, Clock: f.clk, Rand: rand.Reader, Replay: recs})
	if err != nil {
		t.Fatal(err)
	}
	want(t, g2.Decide(gate.Presentation{Code: f.code("t1", 0, f.clk.Now())}), false, gate.AlreadyEntered)
	// A journal signed by another key is refused rather than trusted.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := gate.New(gate.Config{Manifest: m, GateID: "g", Key: other, Clock: f.clk, Rand: rand.Reader, Replay: recs}); err == nil {
		t.Fatal("a journal of another key was accepted")
	}
}

func TestExpiredCertificateOfTheHolder(t *testing.T) {
	f := newFixture(t)
	f.m.NotAfter = f.clk.Now().Add(20 * 365 * 24 * time.Hour)
	var err error
	if f.envelope, err = manifest.Sign(f.m, f.svcKey); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(6 * 365 * 24 * time.Hour) // past the authentication certificate's five years
	g := f.gate(t, "g1", nil)
	d := g.Decide(gate.Presentation{Tap: f.tap(t, g, "A")})
	want(t, d, false, gate.CertificateInvalid)
	if d.Detail != "the certificate is not valid now" {
		t.Fatalf("detail %q", d.Detail)
	}
}

// A holder whose support PIN differs from the authentication PIN typed at the lane loses at most
// one try of it: once a try is used, ReadCardFacts does not present it again.
func TestReadCardFactsSparesTheSupportPIN(t *testing.T) {
	f := newFixture(t)
	cf := *f.cards["D"]
	cf.SupportPIN.Value = "9876"
	c, err := card.New(&cf)
	if err != nil {
		t.Fatal(err)
	}
	rc := reader.NewClient(reader.NewInProcess(c, "virtual"))
	defer rc.Close()
	ctx := context.Background()
	if _, err := gate.ReadCardFacts(ctx, rc, jlis.DefaultAuthPIN, false, nil); err == nil {
		t.Fatal("a wrong support PIN read the facts")
	}
	for range 3 {
		if _, err := gate.ReadCardFacts(ctx, rc, jlis.DefaultAuthPIN, false, nil); err == nil || !strings.Contains(err.Error(), "not presented") {
			t.Fatalf("after a failed try: %v", err)
		}
	}
	if n, err := rc.TriesLeft(ctx, reader.PINSupport); err != nil || n != reader.PINSupport.MaxTries()-1 {
		t.Fatalf("support PIN tries left %d (%v), want one used", n, err)
	}
	// The right PIN restores the counter, and the facts read again.
	if err := rc.VerifyPIN(ctx, reader.PINSupport, "9876"); err != nil {
		t.Fatal(err)
	}
	facts, err := gate.ReadCardFacts(ctx, rc, "9876", false, nil)
	if err != nil || facts.Name != cf.Basic4.Name {
		t.Fatalf("with the right PIN: %v %+v", err, facts)
	}
}
