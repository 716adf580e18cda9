// Package gate decides at an event's entrance, offline: from the holder's rotating code and/or a
// tap of their card (the authentication certificate's signature over a fresh challenge of the
// gate), against a signed manifest of the ticket service (package gate/manifest), the J-LIS CA
// certificates and a CRL snapshot it carries. It admits or refuses with a Reason, records each
// admission signed with the gate's Ed25519 key, and merges the records of several gates at sync
// (Merge), reporting a ticket admitted by two gates while they were offline.
//
// The gate belongs to the ticket service's side: it knows nothing of the platform and never asks
// it anything. Certificates are checked with package verify (chain to the J-LIS authentication
// CA, validity, profile) and the CRL snapshot with package revocation; the rest is lookups in
// maps built when the manifest is opened. docs/design/gate.md has the design.
//
// Time comes from a clockwork.Clock and randomness from an io.Reader, so tests are
// deterministic. A Gate is safe for concurrent use by the lanes sharing it.
package gate

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/verify"
)

// Reason says why a presentation was refused; the empty Reason is an admission.
type Reason string

// Reasons.
const (
	NotTheHolder       Reason = "not-the-holder"      // the card tapped is not the ticket holder's
	AlreadyEntered     Reason = "already-entered"     // this ticket was admitted before
	WrongEvent         Reason = "wrong-event"         // a ticket of another event
	WrongDay           Reason = "wrong-day"           // a ticket of this event for another day
	TicketResold       Reason = "ticket-resold"       // the code or card of a holder before an official resale
	CertificateRevoked Reason = "certificate-revoked" // on the CRL snapshot, or the holder must re-verify
	QRExpired          Reason = "qr-expired"          // a code outside its ±15 s window
	UnknownTicket      Reason = "unknown-ticket"      // no such ticket in the manifest
	ManifestStale      Reason = "manifest-stale"      // the manifest's validity has ended
	NoTicket           Reason = "no-ticket"           // tap only: no ticket of this person for the event
	TicketNotValid     Reason = "ticket-not-valid"    // cancelled or listed for resale
	BadCode            Reason = "bad-code"            // a forged or garbled code
	CardRequired       Reason = "card-required"       // a code alone for an event that needs a tap
	CertificateInvalid Reason = "certificate-invalid" // not a J-LIS authentication certificate valid now
	BadSignature       Reason = "bad-signature"       // the card's signature does not verify
	ChallengeInvalid   Reason = "challenge-invalid"   // unknown, used or expired gate challenge
	Malformed          Reason = "malformed"           // neither code nor tap, or garbage
)

// ChallengeTTL is how long a challenge may be answered.
const ChallengeTTL = 30 * time.Second

// Config makes a Gate.
type Config struct {
	Manifest *manifest.Manifest
	// GateID names this gate (device), Lane its lane; both go into the records.
	GateID string
	Lane   string
	Key    ed25519.PrivateKey
	Clock  clockwork.Clock
	Rand   io.Reader
	// Journal receives every signed admission record as one JSON line, before the gate answers
	// ADMIT. Optional.
	Journal io.Writer
	// Replay are records of this gate from its journal: admissions made before a restart.
	Replay []SignedRecord
}

type ticket struct {
	manifest.Ticket
	former map[string]bool
}

// Gate decides for one event from one manifest.
type Gate struct {
	m       *manifest.Manifest
	id      string
	lane    string
	key     ed25519.PrivateKey
	clk     clockwork.Clock
	rnd     io.Reader
	journal io.Writer
	roots   []*x509.Certificate
	crls    map[string]*revocation.Index // by hex subject key id of the CA
	byID    map[string]*ticket
	byHold  map[string][]*ticket
	// formerAll are the commitments of former holders; rootByKeyID the CAs by subject key id.
	formerAll   map[string]bool
	rootByKeyID map[string]*x509.Certificate

	mu        sync.Mutex
	admitted  map[string]time.Time
	challenge map[string]time.Time // hex nonce → expiry
	seq       int64
}

// New opens a gate on an already opened (signature-checked) manifest. It refuses a manifest
// whose CA certificates or CRLs do not parse or check, or that lacks a CRL for one of its CAs.
func New(c Config) (*Gate, error) {
	if c.Manifest == nil || c.Clock == nil || c.Rand == nil || len(c.Key) != ed25519.PrivateKeySize || c.GateID == "" {
		return nil, errors.New("gate: Config needs a manifest, a gate id, an Ed25519 key, a clock and a random source")
	}
	g := &Gate{m: c.Manifest, id: c.GateID, lane: c.Lane, key: c.Key, clk: c.Clock, rnd: c.Rand, journal: c.Journal,
		crls: map[string]*revocation.Index{}, formerAll: map[string]bool{}, rootByKeyID: map[string]*x509.Certificate{}, byID: map[string]*ticket{}, byHold: map[string][]*ticket{},
		admitted: map[string]time.Time{}, challenge: map[string]time.Time{}}
	for i, der := range c.Manifest.CACerts {
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("gate: manifest CA certificate %d: %w", i, err)
		}
		g.roots = append(g.roots, ca)
		g.rootByKeyID[hex.EncodeToString(ca.SubjectKeyId)] = ca
	}
	if len(g.roots) == 0 {
		return nil, errors.New("gate: the manifest carries no CA certificate")
	}
	now := c.Clock.Now()
	for i, der := range c.Manifest.CRLs {
		var ix *revocation.Index
		var errs []error
		for _, ca := range g.roots {
			x, err := revocation.Read(der, ca, revocation.Options{At: now, ClockSkew: 5 * time.Minute})
			if err == nil {
				ix, g.crls[hex.EncodeToString(ca.SubjectKeyId)] = x, x
				break
			}
			errs = append(errs, err)
		}
		if ix == nil {
			return nil, fmt.Errorf("gate: manifest CRL %d: %w", i, errors.Join(errs...))
		}
	}
	for _, ca := range g.roots {
		if g.crls[hex.EncodeToString(ca.SubjectKeyId)] == nil {
			return nil, fmt.Errorf("gate: the manifest has no CRL of CA %s", ca.Subject)
		}
	}
	for _, t := range c.Manifest.Tickets {
		tk := &ticket{Ticket: t, former: map[string]bool{}}
		for _, f := range t.Former {
			tk.former[f] = true
			g.formerAll[f] = true
		}
		g.byID[t.ID] = tk
		if t.Holder != "" {
			g.byHold[t.Holder] = append(g.byHold[t.Holder], tk)
		}
		if t.Admitted {
			g.admitted[t.ID] = c.Manifest.IssuedAt
		}
	}
	pub := c.Key.Public().(ed25519.PublicKey)
	for _, r := range c.Replay {
		rec, err := r.Open(pub)
		if err != nil {
			return nil, fmt.Errorf("gate: journal: %w", err)
		}
		g.admitted[rec.Ticket] = rec.At
		if rec.Seq > g.seq {
			g.seq = rec.Seq
		}
	}
	return g, nil
}

// Challenge is what the gate asks the card to sign.
type Challenge struct {
	Nonce []byte
	// Message is the byte string the card signs (SHA-256 DigestInfo, PKCS#1 v1.5).
	Message []byte
}

// ChallengeMessage is the signed message: "mynagate-gate-challenge-v1" 0x00 event 0x00 gate 0x00
// lane 0x00 nonce. Binding the event and the gate stops a signature collected at one gate from
// being replayed at another.
func ChallengeMessage(event, gateID, lane string, nonce []byte) []byte {
	var b bytes.Buffer
	b.WriteString("mynagate-gate-challenge-v1\x00")
	b.WriteString(event + "\x00" + gateID + "\x00" + lane + "\x00")
	b.Write(nonce)
	return b.Bytes()
}

// NewChallenge draws a fresh single-use challenge, answerable for ChallengeTTL.
func (g *Gate) NewChallenge() (Challenge, error) {
	n := make([]byte, 32)
	if _, err := io.ReadFull(g.rnd, n); err != nil {
		return Challenge{}, fmt.Errorf("gate: challenge: %w", err)
	}
	now := g.clk.Now()
	g.mu.Lock()
	for k, exp := range g.challenge {
		if now.After(exp) {
			delete(g.challenge, k)
		}
	}
	g.challenge[hex.EncodeToString(n)] = now.Add(ChallengeTTL)
	g.mu.Unlock()
	return Challenge{Nonce: n, Message: ChallengeMessage(g.m.Event, g.id, g.lane, n)}, nil
}

// Tap is a card's answer to a challenge.
type Tap struct {
	Nonce       []byte
	Certificate []byte // DER authentication certificate
	Signature   []byte
}

// Presentation is what a person shows: a code, a tap, or both.
type Presentation struct {
	Code string
	Tap  *Tap
}

// Decision is the gate's answer.
type Decision struct {
	Admit  bool
	Reason Reason
	Detail string
	Ticket string
	Seat   string
	Name   string
	// Record is the signed admission record (Admit only).
	Record *SignedRecord
}

func no(r Reason, detail string) Decision { return Decision{Reason: r, Detail: detail} }

// Decide decides a presentation.
func (g *Gate) Decide(p Presentation) Decision {
	now := g.clk.Now()
	if now.After(g.m.NotAfter) {
		return no(ManifestStale, "the manifest expired at "+g.m.NotAfter.Format(time.RFC3339)+"; load a new one")
	}
	if p.Code == "" && p.Tap == nil {
		return no(Malformed, "neither a code nor a card")
	}
	var holder string // commitment of the tapped card
	if p.Tap != nil {
		var d Decision
		if holder, d = g.checkTap(p.Tap, now); d.Reason != "" {
			return d
		}
	}
	var t *ticket
	method := "tap"
	if p.Code != "" {
		var d Decision
		if t, d = g.checkCode(p.Code, now, holder); d.Reason != "" {
			return d
		}
		method = "code"
		if p.Tap != nil {
			method = "code+tap"
		}
		if p.Tap == nil && g.m.RequireCard {
			return no(CardRequired, "this event admits with a card tap")
		}
		if holder != "" && t.Holder != holder {
			if t.former[holder] {
				return no(TicketResold, "this card belongs to a former holder of the ticket")
			}
			return no(NotTheHolder, "the card tapped is not the ticket holder's")
		}
	} else {
		var d Decision
		if t, d = g.findByHolder(holder, now); d.Reason != "" {
			return d
		}
	}
	return g.admit(t, now, method, holder)
}

// CheckTap checks a tap on its own, for a kiosk that decides by something other than tickets:
// the manifest's validity, then the challenge, the certificate (chain, validity), the card's
// signature and the CRL snapshot, exactly as Decide does. It returns the card's holder
// commitment under the manifest's commit key, or the refusal.
func (g *Gate) CheckTap(tp *Tap) (string, Decision) {
	now := g.clk.Now()
	if now.After(g.m.NotAfter) {
		return "", no(ManifestStale, "the trust snapshot expired at "+g.m.NotAfter.Format(time.RFC3339)+"; load a new one")
	}
	if tp == nil {
		return "", no(Malformed, "no card")
	}
	return g.checkTap(tp, now)
}

func (g *Gate) checkTap(tp *Tap, now time.Time) (string, Decision) {
	key := hex.EncodeToString(tp.Nonce)
	g.mu.Lock()
	exp, ok := g.challenge[key]
	delete(g.challenge, key) // single use, answered or not
	g.mu.Unlock()
	if !ok || now.After(exp) {
		return "", no(ChallengeInvalid, "the card answered a challenge this gate did not ask, already used, or expired")
	}
	holder := g.m.HolderOf(tp.Certificate)
	var cert *tapCert
	var issuer *x509.Certificate
	if len(g.byHold[holder]) > 0 || g.formerAll[holder] {
		// The manifest vouches for these exact certificate bytes: the ticket service committed to
		// them after the platform verified the chain and profile. What can have changed since is
		// checked here: validity now, the CRL, and of course the card's signature. So only the
		// fields needed for that are read (parseTapCert).
		c, err := parseTapCert(tp.Certificate)
		if err != nil {
			return "", no(CertificateInvalid, "the certificate does not parse")
		}
		if now.Before(c.notBefore) || now.After(c.notAfter) {
			return "", no(CertificateInvalid, "the certificate is not valid now")
		}
		if issuer = g.rootByKeyID[hex.EncodeToString(c.authorityKeyID)]; issuer == nil {
			return "", no(CertificateInvalid, "the certificate's CA is not in the manifest")
		}
		cert = c
	} else {
		res, err := verify.Certificate(tp.Certificate, verify.Options{Roots: g.roots, At: now, Purpose: verify.PurposeLogin})
		if err != nil {
			return "", no(CertificateInvalid, err.Error())
		}
		pub, ok := res.Cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return "", no(CertificateInvalid, "the certificate's key is not RSA")
		}
		cert, issuer = &tapCert{serial: res.Cert.SerialNumber, pub: pub}, res.Issuer
	}
	digest := sha256.Sum256(ChallengeMessage(g.m.Event, g.id, g.lane, tp.Nonce))
	if err := rsa.VerifyPKCS1v15(cert.pub, crypto.SHA256, digest[:], tp.Signature); err != nil {
		return "", no(BadSignature, "the card's signature does not verify")
	}
	ix := g.crls[hex.EncodeToString(issuer.SubjectKeyId)]
	if ix == nil {
		return "", no(CertificateRevoked, "no CRL of the certificate's CA in the manifest")
	}
	if revoked, _, _ := ix.Lookup(cert.serial); revoked {
		return "", no(CertificateRevoked, "the certificate is on the CRL snapshot")
	}
	return holder, Decision{}
}

const codePrefix = "MGT1."

func (g *Gate) checkCode(code string, now time.Time, holder string) (*ticket, Decision) {
	parts := strings.Split(strings.TrimPrefix(code, codePrefix), ".")
	if !strings.HasPrefix(code, codePrefix) || len(code) > 200 || len(parts) != 3 {
		return nil, no(Malformed, "not a ticket code")
	}
	id, mac := parts[0], parts[2]
	step, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil, no(Malformed, "not a ticket code")
	}
	t := g.byID[id]
	if t == nil {
		return nil, no(UnknownTicket, "no ticket "+id+" in the manifest")
	}
	cur := now.Unix() / 15
	if !hmacEqual(mac, manifest.CodeMAC(g.m.CodeKey, id, t.Generation, step)) {
		for gen := t.Generation - 1; gen >= 0 && gen >= t.Generation-16; gen-- {
			if hmacEqual(mac, manifest.CodeMAC(g.m.CodeKey, id, gen, step)) {
				return nil, no(TicketResold, "the code of a holder before the ticket was resold")
			}
		}
		return nil, no(BadCode, "the code does not check")
	}
	if step < cur-1 || step > cur+1 {
		return nil, no(QRExpired, "the code has expired; show the current one")
	}
	if d := g.ticketUsable(t, now); d.Reason != "" {
		return nil, d
	}
	return t, Decision{}
}

func hmacEqual(a, b string) bool {
	return len(a) == len(b) && subtleEq([]byte(a), []byte(b))
}

func (g *Gate) ticketUsable(t *ticket, now time.Time) Decision {
	switch {
	case t.Event != g.m.Event:
		return no(WrongEvent, "a ticket of event "+t.Event)
	case t.Day != "" && t.Day != now.In(jst).Format(time.DateOnly):
		return no(WrongDay, "a ticket for "+t.Day)
	case t.Status == "reverify":
		return no(CertificateRevoked, "the holder's card was revoked; they must verify again with the ticket service")
	case t.Status != "valid":
		return no(TicketNotValid, "a "+t.Status+" ticket")
	}
	return Decision{}
}

var jst = time.FixedZone("JST", 9*3600)

// findByHolder is "tap only": the person's tickets for this event; the first one not yet
// admitted and usable today is admitted.
func (g *Gate) findByHolder(holder string, now time.Time) (*ticket, Decision) {
	ts := g.byHold[holder]
	if len(ts) == 0 {
		for _, t := range g.byID { // former holders are rare; a linear scan only on a miss
			if t.former[holder] && t.Event == g.m.Event {
				return nil, no(TicketResold, "this card's ticket was resold")
			}
		}
		return nil, no(NoTicket, "no ticket of this person for the event")
	}
	var last Decision
	for _, t := range ts {
		if d := g.ticketUsable(t, now); d.Reason != "" {
			last = d
			continue
		}
		g.mu.Lock()
		_, in := g.admitted[t.ID]
		g.mu.Unlock()
		if in {
			last = Decision{Reason: AlreadyEntered, Detail: "ticket " + t.ID + " was admitted already", Ticket: t.ID, Seat: t.Seat, Name: t.Name}
			continue
		}
		return t, Decision{}
	}
	return nil, last
}

func (g *Gate) admit(t *ticket, now time.Time, method, holder string) Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	if at, in := g.admitted[t.ID]; in {
		return Decision{Reason: AlreadyEntered, Detail: "admitted at " + at.In(jst).Format("15:04:05"), Ticket: t.ID, Seat: t.Seat, Name: t.Name}
	}
	g.seq++
	rec := Record{Event: g.m.Event, Ticket: t.ID, Generation: t.Generation, Gate: g.id, Lane: g.lane, Seq: g.seq, At: now.UTC(), Method: method, Holder: holder}
	sr, err := rec.Sign(g.key)
	if err == nil && g.journal != nil {
		err = writeJournal(g.journal, sr)
	}
	if err != nil {
		g.seq--
		return no(Malformed, "the admission could not be recorded: "+err.Error())
	}
	g.admitted[t.ID] = now
	return Decision{Admit: true, Ticket: t.ID, Seat: t.Seat, Name: t.Name, Record: &sr}
}

// Admitted is how many tickets this gate knows as admitted (its own and the manifest's).
func (g *Gate) Admitted() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.admitted)
}

// PublicKey is the gate's record-signing key.
func (g *Gate) PublicKey() ed25519.PublicKey { return g.key.Public().(ed25519.PublicKey) }
