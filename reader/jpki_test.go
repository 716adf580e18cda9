package reader_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

// bench is how a test reaches a card: in-process or through a real pcscd. open returns a client
// to a fresh card made from cf, and pull, which makes the card vanish when the APDU numbered
// after (counting from 1) reaches it, without an answer to that APDU.
type bench struct {
	name string
	open func(t *testing.T, cf *jpki.CardFile) (c *reader.Client, pull func(after int))
}

// puller wraps a card so that the test can pull it in the middle of an operation: from the
// APDU numbered after on, onPull runs instead of the card answering.
type puller struct {
	*card.Card
	n      atomic.Int64
	after  atomic.Int64
	onPull func()
	once   sync.Once
	gone   atomic.Bool
}

func (p *puller) Transmit(capdu []byte) []byte {
	n := p.n.Add(1)
	if a := p.after.Load(); a > 0 && n >= a {
		p.gone.Store(true)
		p.once.Do(p.onPull)
		return nil
	}
	return p.Card.Transmit(capdu)
}

// arm sets the APDU (counted from now) at which the card disappears.
func (p *puller) arm(after int) { p.after.Store(p.n.Load() + int64(after)) }

// inProcessTransport is InProcess with a test hook: a nil answer from the card means it was
// pulled (InProcess itself trusts its card to always answer).
type inProcessTransport struct{ *reader.InProcess }

func (t inProcessTransport) Transmit(ctx context.Context, capdu []byte) ([]byte, error) {
	resp, err := t.InProcess.Transmit(ctx, capdu)
	if err == nil && len(resp) == 0 {
		t.Remove()
		return t.InProcess.Transmit(ctx, capdu)
	}
	return resp, err
}

var inProcess = bench{"inprocess", func(t *testing.T, cf *jpki.CardFile) (*reader.Client, func(int)) {
	c, err := card.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	p := &puller{Card: c, onPull: func() {}}
	tr := reader.NewInProcess(p, "in-process test card")
	client := reader.NewClient(inProcessTransport{tr})
	t.Cleanup(func() { client.Close() })
	return client, p.arm
}}

// benches are the ways every test below reaches the card; pcscd is added by pcsc_test.go.
var benches = []bench{inProcess}

// freshCard returns a new card file (new certificates, the shared test keys).
func freshCard(t *testing.T, medium jpki.Medium) *jpki.CardFile {
	return cardtest.CardFile(t, medium)
}

// each runs f against every bench, in parallel: most of a pcscd test is waiting for the
// daemon and the card, and every test has its own daemon.
func each(t *testing.T, f func(t *testing.T, b bench)) {
	t.Parallel()
	for _, b := range benches {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

func TestCertificates(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		ctx := context.Background()
		auth, err := c.ReadAuthCert(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(auth.Raw, cf.Auth.Cert) {
			t.Fatal("auth certificate differs from the card file")
		}
		for kind, want := range map[jpki.Kind][]byte{jpki.KindAuth: cf.Auth.CACert, jpki.KindSign: cf.Sign.CACert} {
			ca, err := c.ReadCACert(ctx, kind)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ca.Raw, want) {
				t.Fatalf("%s CA certificate differs", kind)
			}
		}
		sign, err := c.ReadSignCert(ctx, "abc123") // the password is upper-cased
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sign.Raw, cf.Sign.Cert) {
			t.Fatal("signing certificate differs")
		}
		b4, err := jpki.ParseSubjectAltName(sanOf(t, sign))
		if err != nil || b4 != cardtest.Holder {
			t.Fatalf("basic 4 of the signing certificate: %+v %v", b4, err)
		}
		label, err := c.TokenLabel(ctx)
		if err != nil || label != "JPKIAPICCTOKEN2" {
			t.Fatalf("token label %q %v", label, err)
		}
	})
}

func sanOf(t *testing.T, c *x509.Certificate) []byte {
	for _, e := range c.Extensions {
		if e.Id.Equal([]int{2, 5, 29, 17}) {
			return e.Value
		}
	}
	t.Fatal("no subjectAltName")
	return nil
}

func TestSigners(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		ctx := context.Background()
		for _, tc := range []struct {
			kind jpki.Kind
			pin  string
		}{{jpki.KindAuth, cardtest.AuthPIN}, {jpki.KindSign, cardtest.SignPassword}} {
			s, err := c.Signer(ctx, tc.kind, tc.pin)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				hh := h.New()
				hh.Write([]byte("challenge"))
				digest := hh.Sum(nil)
				sig, err := s.Sign(rand.Reader, digest, h)
				if err != nil {
					t.Fatalf("%s %v: %v", tc.kind, h, err)
				}
				if err := rsa.VerifyPKCS1v15(s.Public().(*rsa.PublicKey), h, digest, sig); err != nil {
					t.Fatalf("%s %v signature does not verify: %v", tc.kind, h, err)
				}
			}
			// It plugs into crypto/x509: a CSR signed on the card verifies.
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: "on-card key"}, SignatureAlgorithm: x509.SHA256WithRSA,
			}, s)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil || csr.CheckSignature() != nil {
				t.Fatalf("CSR from the %s key: %v", tc.kind, err)
			}
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.PINs {
			if p.TriesLeft != p.MaxTries {
				t.Fatalf("correct PINs must leave full counters: %+v", p)
			}
		}
	})
}

func TestSupportApplication(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		ctx := context.Background()
		b4, err := c.ReadBasic4(ctx, cardtest.SupportPIN)
		if err != nil {
			t.Fatal(err)
		}
		if b4 != cardtest.Holder {
			t.Fatalf("basic 4 %+v, want %+v", b4, cardtest.Holder)
		}
		n, err := c.ReadMyNumber(ctx, cardtest.SupportPIN)
		if err != nil || n != cardtest.MyNumber {
			t.Fatalf("my number %q %v", n, err)
		}
		if _, err := c.ReadBasic4(ctx, "0000"); !errors.Is(err, reader.ErrWrongPIN) {
			t.Fatalf("wrong support PIN: %v", err)
		}
		if n, _ := c.TriesLeft(ctx, reader.PINSupport); n != 2 {
			t.Fatalf("support tries %d after one wrong PIN", n)
		}
	})
}

func TestStatus(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		st, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.TokenLabel != "JPKIAPICCTOKEN2" || st.Medium != jpki.MediumCard || st.Reader == "" {
			t.Fatalf("status %+v", st)
		}
		for _, a := range st.Applications {
			if !a.Present {
				t.Fatalf("application %s does not answer", a.Name)
			}
		}
		want := map[string]int{"auth": 3, "sign": 5, "support": 3}
		for _, p := range st.PINs {
			if p.TriesLeft != want[p.PIN] || p.MaxTries != want[p.PIN] || p.Blocked || p.Absent {
				t.Fatalf("PIN %+v", p)
			}
			delete(want, p.PIN)
		}
		if len(want) != 0 {
			t.Fatalf("PINs missing from status: %v", want)
		}
	})
}

// Tries left and blocking follow the card exactly: each wrong PIN costs one try, the last one
// blocks, a correct PIN then fails too, and a correct PIN before that resets the counter.
func TestTriesAndBlocking(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		tests := []struct {
			pin   reader.PIN
			good  string
			bad   string
			tries int
		}{
			{reader.PINAuth, cardtest.AuthPIN, "9999", 3},
			{reader.PINSign, cardtest.SignPassword, "WRONG1", 5},
			{reader.PINSupport, cardtest.SupportPIN, "0000", 3},
		}
		for _, tt := range tests {
			t.Run(tt.pin.Name(), func(t *testing.T) {
				t.Parallel()
				cf := freshCard(t, jpki.MediumCard)
				c, _ := b.open(t, cf)
				ctx := context.Background()
				// One wrong, then right: the counter is full again.
				if err := c.VerifyPIN(ctx, tt.pin, tt.bad); !errors.Is(err, reader.ErrWrongPIN) {
					t.Fatalf("wrong PIN: %v", err)
				}
				if err := c.VerifyPIN(ctx, tt.pin, tt.good); err != nil {
					t.Fatal(err)
				}
				for left := tt.tries - 1; left >= 0; left-- {
					err := c.VerifyPIN(ctx, tt.pin, tt.bad)
					var e *reader.Error
					if !errors.As(err, &e) {
						t.Fatalf("not a reader error: %v", err)
					}
					if left > 0 && (e.Reason != reader.ReasonWrongPIN || e.TriesLeft != left) {
						t.Fatalf("want wrong PIN with %d left, got %v", left, err)
					}
					if left == 0 && e.Reason != reader.ReasonPINBlocked {
						t.Fatalf("the last wrong PIN must block: %v", err)
					}
					n, err := c.TriesLeft(ctx, tt.pin)
					if err != nil || n != left {
						t.Fatalf("tries left %d %v, want %d", n, err, left)
					}
					if left == 1 {
						if _, err := c.CheckTries(ctx, tt.pin, false); !errors.Is(err, reader.ErrLastTry) {
							t.Fatalf("one try left must be refused: %v", err)
						}
					}
				}
				if err := c.VerifyPIN(ctx, tt.pin, tt.good); !errors.Is(err, reader.ErrPINBlocked) {
					t.Fatalf("correct PIN on a blocked counter: %v", err)
				}
				if _, err := c.CheckTries(ctx, tt.pin, true); !errors.Is(err, reader.ErrPINBlocked) {
					t.Fatalf("CheckTries on a blocked PIN: %v", err)
				}
				// The card file holds the counter too, so pulling the card does not reset it.
				slot := map[reader.PIN]int{reader.PINAuth: cf.Auth.PIN.Tries, reader.PINSign: cf.Sign.PIN.Tries, reader.PINSupport: cf.SupportPIN.Tries}
				if slot[tt.pin] != 0 {
					t.Fatalf("card file counter %d", slot[tt.pin])
				}
			})
		}
	})
}

// A signer that the card refuses stops before it can use up the remaining tries.
func TestSignerStopsAfterRejection(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		ctx := context.Background()
		s, err := c.AuthSigner(ctx, cardtest.AuthPIN)
		if err != nil {
			t.Fatal(err)
		}
		cf.Auth.PIN.Value = "4321" // the holder changed the PIN behind the signer's back
		digest := sha256.Sum256([]byte("x"))
		for i := 0; i < 3; i++ {
			if _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, reader.ErrWrongPIN) {
				t.Fatalf("sign %d: %v", i, err)
			}
		}
		if n, _ := c.TriesLeft(ctx, reader.PINAuth); n != 2 {
			t.Fatalf("the signer used %d tries, want 1", 3-n)
		}
	})
}

// Pulling the card at any point of an operation gives "card removed", promptly.
func TestCardRemovedMidOperation(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		ops := []struct {
			name  string
			after int // APDU of the operation at which the card vanishes
			run   func(ctx context.Context, c *reader.Client) error
		}{
			{"cert read, header", 3, func(ctx context.Context, c *reader.Client) error { _, err := c.ReadAuthCert(ctx); return err }},
			{"cert read, body", 5, func(ctx context.Context, c *reader.Client) error { _, err := c.ReadAuthCert(ctx); return err }},
			{"signature", 5, func(ctx context.Context, c *reader.Client) error {
				s, err := c.AuthSigner(ctx, cardtest.AuthPIN)
				if err != nil {
					return err
				}
				d := sha256.Sum256(nil)
				_, err = s.SignContext(ctx, d[:], crypto.SHA256)
				return err
			}},
			{"basic 4", 4, func(ctx context.Context, c *reader.Client) error {
				_, err := c.ReadBasic4(ctx, cardtest.SupportPIN)
				return err
			}},
		}
		for _, op := range ops {
			t.Run(op.name, func(t *testing.T) {
				t.Parallel()
				cf := freshCard(t, jpki.MediumCard)
				c, pull := b.open(t, cf)
				if op.name == "signature" {
					// Pull during the signature, after the signer was opened.
					ctx := context.Background()
					s, err := c.AuthSigner(ctx, cardtest.AuthPIN)
					if err != nil {
						t.Fatal(err)
					}
					pull(op.after)
					d := sha256.Sum256(nil)
					start := time.Now()
					_, err = s.SignContext(ctx, d[:], crypto.SHA256)
					checkRemoved(t, err, start)
					return
				}
				pull(op.after)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				start := time.Now()
				err := op.run(ctx, c)
				checkRemoved(t, err, start)
				// And it stays removed.
				if _, err := c.ReadAuthCert(ctx); !errors.Is(err, reader.ErrCardRemoved) {
					t.Fatalf("after removal: %v", err)
				}
			})
		}
	})
}

func checkRemoved(t *testing.T, err error, start time.Time) {
	t.Helper()
	if !errors.Is(err, reader.ErrCardRemoved) {
		t.Fatalf("got %v, want card removed", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("noticing the removal took %v", d)
	}
}

// A smartphone credential gives the auth certificate only after the PIN.
func TestPhoneCredential(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumAndroid)
		c, _ := b.open(t, cf)
		ctx := context.Background()
		if _, err := c.ReadAuthCert(ctx); !errors.Is(err, reader.ErrAccessDenied) {
			t.Fatalf("auth cert without PIN on a phone: %v", err)
		}
		s, err := c.AuthSigner(ctx, cardtest.AuthPIN)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Certificate().Raw, cf.Auth.Cert) {
			t.Fatal("phone auth certificate differs")
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Medium != jpki.MediumAndroid || st.TokenLabel != "JPKIAPGPSETOKEN" || st.Applications[1].Present || st.AuthBiometric {
			t.Fatalf("phone status %+v", st)
		}
		if _, err := c.ReadBasic4(ctx, cardtest.SupportPIN); !errors.Is(err, reader.ErrNotJPKI) {
			t.Fatalf("basic 4 on a phone: %v", err)
		}
	})
}

// A card issued to a holder under 15 has no signing certificate or password.
func TestNoSigningCertificate(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		cf.Sign = nil
		c, _ := b.open(t, cf)
		ctx := context.Background()
		if _, err := c.ReadSignCert(ctx, cardtest.SignPassword); !errors.Is(err, reader.ErrNoCertificate) {
			t.Fatalf("signing cert: %v", err)
		}
		if _, err := c.TriesLeft(ctx, reader.PINSign); !errors.Is(err, reader.ErrNoCertificate) {
			t.Fatalf("signing tries: %v", err)
		}
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.PINs[1].Absent {
			t.Fatalf("status must show the signing password absent: %+v", st.PINs)
		}
		if _, err := c.ReadAuthCert(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Concurrent users of one client never interleave their command sequences.
func TestConcurrentOperations(t *testing.T) {
	each(t, func(t *testing.T, b bench) {
		cf := freshCard(t, jpki.MediumCard)
		c, _ := b.open(t, cf)
		ctx := context.Background()
		s, err := c.AuthSigner(ctx, cardtest.AuthPIN)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 4; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				d := sha256.Sum256([]byte{byte(i)})
				_, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, err := c.ReadBasic4(ctx, cardtest.SupportPIN)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
