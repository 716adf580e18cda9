// Package jlis simulates J-LIS (地方公共団体情報システム機構), the issuer of JPKI certificates:
// the signing and user-authentication certification authorities, issuance of a card's key pairs
// and certificates for a resident, renewal and re-issue with links from old to new certificates
// (新旧紐付け), revocation with reasons, full CRLs, an OCSP responder per CA, and the latest basic
// 4 facts for a certificate asked for by a platform on the holder's behalf.
//
// Certificates follow the profiles in docs/design/jpki-reference.md §5 (names, extension order,
// key usages, policies, per-municipality CRL distribution points, validity until the fifth
// birthday after issuance). By default the simulator uses J-LIS's test naming (O=JPKI-TEST, the
// test policy OIDs) so that its certificates can never pass for production ones.
//
// The simulator holds CA private keys; it is its own security context. The platform never
// imports it: it reaches the simulator over HTTP (see Handler) exactly as it would reach J-LIS.
// The renewal-link and basic-4 interfaces of the real J-LIS are not public; the ones here are the
// simulator's own design, documented in docs/design/jlis.md.
//
// The package does no revocation checking of its own certificates for the platform (package
// revocation) and does not run cards (package card).
package jlis

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Simulator is the J-LIS simulator over one data directory. It is safe for concurrent use.
type Simulator struct {
	dir      string
	db       *sql.DB
	clk      clockwork.Clock
	rand     io.Reader
	naming   Naming
	phoneCAs bool
	ocspURL  string
	newKey   func() (*rsa.PrivateKey, error)
	crlEvery time.Duration

	schedule                     CRLSchedule // on-revocation unless WithCRLSchedule
	recordSchedule, loadSchedule bool
	crlBuilt                     func(ca string) // test hook, see export_test.go

	mu sync.Mutex // serialises state changes (SQLite has one writer)

	casMu  sync.RWMutex          // guards cas and newest, which Rollover changes
	cas    map[caName]*authority // every generation of every CA, by name
	newest map[caName]*authority // the issuing generation, by base name

	crlMu sync.Mutex // serialises CRL generation

	capMu  sync.Mutex      // guards capKey
	capKey *rsa.PrivateKey // the card-AP CA key, loaded on first use
}

// authority is one generation of a CA with its delegated OCSP responder.
type authority struct {
	name     caName
	gen      int               // 1 for the first generation
	link     *x509.Certificate // NewWithOld link certificate from generation gen-1 (nil for gen 1)
	cert     *x509.Certificate
	key      *rsa.PrivateKey
	ocspCert *x509.Certificate
	ocspKey  *rsa.PrivateKey
}

// Option configures a Simulator.
type Option func(*Simulator)

// WithClock sets the clock (default: the real clock).
func WithClock(c clockwork.Clock) Option { return func(s *Simulator) { s.clk = c } }

// WithRand sets the source of randomness for serial numbers, identifiers and PINs
// (default crypto/rand). RSA key generation always uses the system's secure source.
func WithRand(r io.Reader) Option { return func(s *Simulator) { s.rand = r } }

// WithNaming selects test (default) or production naming. It applies when the data directory is
// created; reopening a directory with another naming is an error.
func WithNaming(n Naming) Option { return func(s *Simulator) { s.naming = n } }

// WithPhoneCAs makes smartphone credentials come from separate CAs instead of the card CAs.
// Like the naming, it is fixed when the data directory is created.
func WithPhoneCAs(on bool) Option { return func(s *Simulator) { s.phoneCAs = on } }

// WithOCSPURL writes an authorityInfoAccess extension with this OCSP responder URL into
// end-entity certificates (default none, as the responder URL of J-LIS is not public).
func WithOCSPURL(u string) Option { return func(s *Simulator) { s.ocspURL = u } }

// WithKeyGenerator replaces RSA-2048 key generation for holders' keys (tests use a pool of
// pre-generated keys, since generation takes tens of milliseconds).
func WithKeyGenerator(f func() (*rsa.PrivateKey, error)) Option {
	return func(s *Simulator) { s.newKey = f }
}

// WithCRLInterval sets how often a CRL is regenerated when nothing changed, and so its
// nextUpdate (default 24 h, as J-LIS publishes daily).
func WithCRLInterval(d time.Duration) Option { return func(s *Simulator) { s.crlEvery = d } }

// ErrNotFound is returned when a certificate, card or resident is not known to the simulator.
// HTTP handlers answer 404.
var ErrNotFound = errors.New("jlis: not found")

// ErrInvalid is the parent of errors about bad requests (a malformed date, an unknown reason, a
// certificate already revoked). HTTP handlers answer 400 or 409; the CLI prints the message.
var ErrInvalid = errors.New("jlis: invalid request")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Open opens the simulator's state in dir, creating the directory, the database and the CA keys
// on first use.
func Open(ctx context.Context, dir string, opts ...Option) (*Simulator, error) {
	s := &Simulator{
		dir:      dir,
		clk:      clockwork.NewRealClock(),
		rand:     rand.Reader,
		naming:   NamingTest,
		crlEvery: 24 * time.Hour,
		schedule: CRLSchedule{OnRevocation: true},
	}
	for _, o := range opts {
		o(s)
	}
	if s.newKey == nil {
		s.newKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }
	}
	if dir == "" {
		return nil, errors.New("jlis: no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jlis: create data directory: %w", err)
	}
	// The directory holds the CA keys and the residents: its owner's alone, even when it was
	// made before (MkdirAll leaves an existing directory's mode as it was).
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jlis: data directory mode: %w", err)
	}
	db, err := openDB(ctx, dir)
	if err != nil {
		return nil, err
	}
	s.db = db
	if err := s.loadOrCreateCAs(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.setupSchedule(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the database.
func (s *Simulator) Close() error { return s.db.Close() }

// Naming returns the naming in force for this data directory.
func (s *Simulator) Naming() Naming { return s.naming }

// CANames lists the CA names accepted by the public API: "sign", "auth", with phone CAs
// "sign-phone", "auth-phone", and after a rollover their later generations ("sign-g2", ...),
// each family oldest first.
func (s *Simulator) CANames() []string {
	s.casMu.RLock()
	defer s.casMu.RUnlock()
	var out []string
	for _, n := range []caName{caSign, caAuth, caSignPhone, caAuthPhone} {
		if top, ok := s.newest[n]; ok {
			for g := 1; g <= top.gen; g++ {
				if _, ok := s.cas[n.generation(g)]; ok {
					out = append(out, string(n.generation(g)))
				}
			}
		}
	}
	return out
}

// CAGeneration is one generation of a CA as J-LIS publishes it.
type CAGeneration struct {
	Name       string            // "sign", "sign-g2", ...
	Base       string            // the family: "sign", "auth", "sign-phone", "auth-phone"
	Generation int               // 1, 2, ...
	Cert       *x509.Certificate // the self-signed root
	Link       *x509.Certificate // NewWithOld: this generation's key certified by the one before; nil for the first
	Issuing    bool              // the generation that issues new certificates
}

// CAGenerations lists every generation of every CA, each family oldest first.
func (s *Simulator) CAGenerations() []CAGeneration {
	names := s.CANames()
	s.casMu.RLock()
	defer s.casMu.RUnlock()
	out := make([]CAGeneration, 0, len(names))
	for _, n := range names {
		a := s.cas[caName(n)]
		out = append(out, CAGeneration{Name: n, Base: string(a.name.base()), Generation: a.gen, Cert: a.cert, Link: a.link, Issuing: s.newest[a.name.base()] == a})
	}
	return out
}

func (s *Simulator) authority(name string) (*authority, error) {
	s.casMu.RLock()
	a, ok := s.cas[caName(name)]
	s.casMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: CA %q (known: %v)", ErrNotFound, name, s.CANames())
	}
	return a, nil
}

// CACertificate returns the certificate of the named CA.
func (s *Simulator) CACertificate(name string) (*x509.Certificate, error) {
	a, err := s.authority(name)
	if err != nil {
		return nil, err
	}
	return a.cert, nil
}

// OCSPResponderCertificate returns the delegated OCSP responder certificate of the named CA.
func (s *Simulator) OCSPResponderCertificate(name string) (*x509.Certificate, error) {
	a, err := s.authority(name)
	if err != nil {
		return nil, err
	}
	return a.ocspCert, nil
}

// randomSerial returns a positive serial below 2^62 (the range above is for synthetic
// populations, see Populate).
func (s *Simulator) randomSerial() (int64, error) {
	n, err := rand.Int(s.rand, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return 0, fmt.Errorf("jlis: random serial: %w", err)
	}
	if n.Sign() == 0 {
		return s.randomSerial()
	}
	return n.Int64(), nil
}

// randomDigits returns n random decimal digits.
func (s *Simulator) randomDigits(n int) (string, error) {
	out := make([]byte, n)
	for i := range out {
		d, err := rand.Int(s.rand, big.NewInt(10))
		if err != nil {
			return "", fmt.Errorf("jlis: random digits: %w", err)
		}
		out[i] = byte('0' + d.Int64())
	}
	return string(out), nil
}

// endOfDayJST returns 23:59:59 JST of a date, as certificates end.
func endOfDayJST(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 23, 59, 59, 0, jstZone).UTC()
}
