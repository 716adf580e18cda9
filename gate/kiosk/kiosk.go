// Package kiosk is check-in without tickets: a building's entry pass (入館証), a library, an
// evacuation shelter (避難所). A card tap — the same checked signature over a fresh challenge as
// at a gate (package gate: J-LIS chain, validity, CRL snapshot, single-use challenge) — is
// admitted when the person is on the site's roster (ModeRoster), or recorded for anyone whose
// card checks (ModeOpen, a shelter). Each tap of an admitted person alternates arrival and
// departure, so the kiosk knows who is in.
//
// It decides offline from what it was given (the roster, the CA certificates and a CRL
// snapshot), records each arrival and departure signed with the kiosk's Ed25519 key into its
// journal before it answers, replays the journal at start, and exports CSV: the roster with who
// is present, the arrivals and departures, and the per-person list a municipality reconciles
// later (Reconcile, which also checks and merges the journals of several kiosks).
//
// Where the facts come from is recorded with them: a roster name is the site's ("roster"); in
// ModeOpen the name and the date of birth (for the age band) are read from the card's support
// application with its PIN ("card-support-ap", gate.ReadCardFacts). The signing certificate,
// which holds the same facts, needs the 6–16 character password and is not for a kiosk.
package kiosk

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/jpki"
)

// NotOnRoster refuses a card whose holder is not on the roster of a ModeRoster site.
const NotOnRoster gate.Reason = "not-on-roster"

// Kinds of record.
const (
	Arrive = "arrive"
	Leave  = "leave"
)

// Sources of the facts in a record.
const (
	SourceRoster = "roster"
	SourceCard   = "card-support-ap"
)

// Record is one arrival or departure.
type Record struct {
	Site    string    `json:"site"`
	Kiosk   string    `json:"kiosk"`
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Holder  string    `json:"holder"`           // commitment of the card under the site's key
	Person  string    `json:"person,omitempty"` // roster id
	Name    string    `json:"name,omitempty"`
	AgeBand string    `json:"age_band,omitempty"`
	Source  string    `json:"source,omitempty"`
}

const recordContext = "mynagate-kiosk-record-v1\x00"

// Sign signs r: Ed25519 over "mynagate-kiosk-record-v1" 0x00 and the record's JSON. The
// journal line has the gate's shape ({record, signature}), with its own context so that a
// kiosk record can never pass for a gate admission.
func (r Record) Sign(key ed25519.PrivateKey) (gate.SignedRecord, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return gate.SignedRecord{}, err
	}
	return gate.SignedRecord{Record: b, Signature: ed25519.Sign(key, append([]byte(recordContext), b...))}, nil
}

// Open checks a kiosk record's signature with pub.
func Open(s gate.SignedRecord, pub ed25519.PublicKey) (*Record, error) {
	if !ed25519.Verify(pub, append([]byte(recordContext), s.Record...), s.Signature) {
		return nil, errors.New("kiosk: record signature does not verify")
	}
	dec := json.NewDecoder(bytes.NewReader(s.Record))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("kiosk: record: %w", err)
	}
	return &r, nil
}

// Config makes a Kiosk.
type Config struct {
	Roster *Roster
	// CACerts are the J-LIS authentication CA certificates (DER), CRLs their CRLs (DER): the
	// snapshot the kiosk checks cards against until the earliest nextUpdate.
	CACerts [][]byte
	CRLs    [][]byte
	// ID names this kiosk in its records.
	ID      string
	Key     ed25519.PrivateKey
	Clock   clockwork.Clock
	Rand    io.Reader
	Journal io.Writer
	Replay  []gate.SignedRecord
}

// Kiosk decides and records for one site. It is safe for concurrent use.
type Kiosk struct {
	r        *Roster
	g        *gate.Gate
	id       string
	key      ed25519.PrivateKey
	clk      clockwork.Clock
	journal  io.Writer
	byHolder map[string]*Person

	mu      sync.Mutex
	seq     int64
	records []Record
	present map[string]bool
}

// New opens a kiosk. It refuses CA certificates or CRLs that do not parse or check (package
// gate), a CRL snapshot already past its nextUpdate, and a journal of another site or kiosk key.
func New(c Config) (*Kiosk, error) {
	if c.Roster == nil || c.Clock == nil || c.Rand == nil || len(c.Key) != ed25519.PrivateKeySize || c.ID == "" {
		return nil, errors.New("kiosk: Config needs a roster, an id, an Ed25519 key, a clock and a random source")
	}
	if len(c.CRLs) == 0 {
		return nil, errors.New("kiosk: no CRL: a kiosk checks cards against a CRL snapshot")
	}
	now := c.Clock.Now()
	notAfter := time.Time{}
	for i, der := range c.CRLs {
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("kiosk: CRL %d: %w", i+1, err)
		}
		if notAfter.IsZero() || l.NextUpdate.Before(notAfter) {
			notAfter = l.NextUpdate
		}
	}
	if now.After(notAfter) {
		return nil, fmt.Errorf("kiosk: the CRL snapshot expired at %s; fetch a new one", notAfter.Format(time.RFC3339))
	}
	// The kiosk is a gate whose "tickets" are the roster's people: the gate checks the tap and
	// computes the holder commitment under the site's key; the kiosk decides by the roster.
	m := &manifest.Manifest{Event: c.Roster.Site, EventName: c.Roster.Name, IssuedAt: now, NotAfter: notAfter,
		CommitKey: c.Roster.CommitKey, CodeKey: make([]byte, 32), CACerts: c.CACerts, CRLs: c.CRLs}
	k := &Kiosk{r: c.Roster, id: c.ID, key: c.Key, clk: c.Clock, journal: c.Journal, byHolder: map[string]*Person{}, present: map[string]bool{}}
	for i := range c.Roster.Entries {
		p := &c.Roster.Entries[i]
		k.byHolder[p.Holder] = p
		m.Tickets = append(m.Tickets, manifest.Ticket{ID: p.ID, Event: m.Event, Status: "valid", Holder: p.Holder})
	}
	var err error
	if k.g, err = gate.New(gate.Config{Manifest: m, GateID: c.ID, Lane: "kiosk", Key: c.Key, Clock: c.Clock, Rand: c.Rand}); err != nil {
		return nil, fmt.Errorf("kiosk: %w", err)
	}
	pub := c.Key.Public().(ed25519.PublicKey)
	for i, s := range c.Replay {
		r, err := Open(s, pub)
		if err != nil {
			return nil, fmt.Errorf("kiosk: journal record %d: %w", i+1, err)
		}
		if r.Site != c.Roster.Site || r.Kiosk != c.ID {
			return nil, fmt.Errorf("kiosk: journal record %d is of site %q kiosk %q, not this one", i+1, r.Site, r.Kiosk)
		}
		k.apply(*r)
	}
	return k, nil
}

func (k *Kiosk) apply(r Record) {
	k.records = append(k.records, r)
	k.present[r.Holder] = r.Kind == Arrive
	if r.Seq > k.seq {
		k.seq = r.Seq
	}
}

// NewChallenge draws a fresh challenge for a card to sign (gate.Gate.NewChallenge).
func (k *Kiosk) NewChallenge() (gate.Challenge, error) { return k.g.NewChallenge() }

// Result is the kiosk's answer to a tap.
type Result struct {
	Admit  bool
	Reason gate.Reason // the refusal
	Detail string
	Record *Record // the arrival or departure recorded (Admit only)
	Signed *gate.SignedRecord
}

// Tap decides a tap. facts are what was read from the card's support application (nil when
// not read); in ModeOpen they give the name and the age band of a person not on the roster.
func (k *Kiosk) Tap(tp *gate.Tap, facts *gate.CardFacts) Result {
	holder, d := k.g.CheckTap(tp)
	if d.Reason != "" {
		return Result{Reason: d.Reason, Detail: d.Detail}
	}
	now := k.clk.Now()
	r := Record{Site: k.r.Site, Kiosk: k.id, At: now.UTC(), Holder: holder}
	switch p := k.byHolder[holder]; {
	case p != nil:
		r.Person, r.Name, r.Source = p.ID, p.Name, SourceRoster
	case k.r.Mode == ModeRoster:
		return Result{Reason: NotOnRoster, Detail: "this card's holder is not on the roster of " + k.r.Site}
	case facts != nil:
		r.Name, r.Source = facts.Name, SourceCard
	}
	if facts != nil && !facts.Birth.IsZero() {
		r.AgeBand = AgeBand(facts.Birth, now)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	r.Kind = Arrive
	if k.present[holder] {
		r.Kind = Leave
	}
	k.seq++
	r.Seq = k.seq
	s, err := r.Sign(k.key)
	if err == nil && k.journal != nil {
		var b []byte
		if b, err = json.Marshal(s); err == nil {
			_, err = k.journal.Write(append(b, '\n'))
		}
	}
	if err != nil {
		k.seq--
		return Result{Reason: gate.Malformed, Detail: "the record could not be written: " + err.Error()}
	}
	k.apply(r)
	return Result{Admit: true, Record: &r, Signed: &s}
}

// AgeBand is the band of the age at `at` (JST) of someone born on birth: 0-5, 6-12, 13-17,
// 18-64, 65-74, 75+ — the groups a shelter plans for (infants, children, adults, elderly).
func AgeBand(birth jpki.Date, at time.Time) string {
	t := at.In(jpki.JST)
	age := birth.AgeAt(jpki.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()})
	switch {
	case age < 0:
		return ""
	case age <= 5:
		return "0-5"
	case age <= 12:
		return "6-12"
	case age <= 17:
		return "13-17"
	case age <= 64:
		return "18-64"
	case age <= 74:
		return "65-74"
	}
	return "75+"
}

// Counts are the live numbers.
type Counts struct {
	Present, Arrivals, Departures, Roster int
}

// Counts returns who is in now and how many arrivals and departures were recorded.
func (k *Kiosk) Counts() Counts {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := Counts{Roster: len(k.r.Entries)}
	for _, in := range k.present {
		if in {
			c.Present++
		}
	}
	for _, r := range k.records {
		if r.Kind == Arrive {
			c.Arrivals++
		} else {
			c.Departures++
		}
	}
	return c
}

// Records returns a copy of this kiosk's records, oldest first.
func (k *Kiosk) Records() []Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Record(nil), k.records...)
}

// Roster is the kiosk's roster.
func (k *Kiosk) Roster() *Roster { return k.r }
