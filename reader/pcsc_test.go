package reader_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/card/vpcd"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

func init() { benches = append(benches, viaPCSCD) }

// served is a virtual card inserted into a private pcscd's first slot.
type served struct {
	d      *pcsctest.Daemon
	remove func() // stops serving: pcscd sees the card pulled
}

// serve inserts c into slot 0 of d and waits until pcscd reports it. The card is removed when
// the test ends.
func serve(t *testing.T, d *pcsctest.Daemon, c vpcd.Card) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	in := make(chan struct{}, 1)
	go func() {
		defer close(done)
		vpcd.Serve(ctx, d.VPCDAddr, c, vpcd.WithStateHook(func(s vpcd.State) {
			if s == vpcd.Inserted {
				select {
				case in <- struct{}{}:
				default:
				}
			}
		}))
	}()
	var once sync.Once
	remove := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(remove)
	select {
	case <-in:
	case <-time.After(15 * time.Second):
		t.Fatal("the card never connected to vpcd")
	}
	return &served{d: d, remove: remove}
}

// dial connects to the private pcscd and closes the PC/SC context at the end of the test.
func dial(t *testing.T, d *pcsctest.Daemon) *reader.PCSC {
	t.Helper()
	p, err := reader.DialPCSC(context.Background(), reader.WithSocket(d.Socket), reader.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitCard waits for the card in slot 0 and opens a session.
func waitCard(t *testing.T, p *reader.PCSC) *reader.PCSCCard {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tr, err := p.WaitForCard(ctx, pcsctest.ReaderName(0))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

var viaPCSCD = bench{"pcscd", func(t *testing.T, cf *jpki.CardFile) (*reader.Client, func(int)) {
	d := pcsctest.Start(t)
	c, err := card.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	pl := &puller{Card: c}
	s := serve(t, d, pl)
	// Pulling from inside the card's Transmit: stop serving (vpcd closes the connection) and
	// give the bridge a moment to do so, so that this APDU gets no answer.
	pl.onPull = func() {
		go s.remove()
		time.Sleep(100 * time.Millisecond)
	}
	p := dial(t, d)
	client := reader.NewClient(waitCard(t, p))
	t.Cleanup(func() { client.Close() })
	return client, pl.arm
}}

func TestPCSCReaders(t *testing.T) {
	t.Parallel()
	d := pcsctest.Start(t)
	p := dial(t, d)
	ctx := context.Background()
	rs, err := p.Readers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Name != pcsctest.ReaderName(0) || rs[1].Name != pcsctest.ReaderName(1) {
		t.Fatalf("readers %+v (names must be trimmed of their padding)", rs)
	}
	if rs[0].CardPresent || rs[1].CardPresent {
		t.Fatalf("no card was inserted: %+v", rs)
	}
	if _, err := p.FirstCard(ctx, ""); !errors.Is(err, reader.ErrNoCard) {
		t.Fatalf("first card of empty readers: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = p.WaitForCard(wctx, "")
	cancel()
	if !errors.Is(err, reader.ErrNoCard) {
		t.Fatalf("wait without a card: %v", err)
	}

	c, err := card.New(cardtest.CardFile(t, jpki.MediumCard))
	if err != nil {
		t.Fatal(err)
	}
	// Waiting, then the card is inserted.
	got := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		tr, err := p.WaitForCard(wctx, "")
		if err == nil {
			if tr.Reader() != pcsctest.ReaderName(0) {
				err = errors.New("connected to " + tr.Reader())
			}
			tr.Close()
		}
		got <- err
	}()
	time.Sleep(200 * time.Millisecond)
	serve(t, d, c)
	if err := <-got; err != nil {
		t.Fatalf("wait for an inserted card: %v", err)
	}

	rs, err = p.Readers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].CardPresent || rs[0].Busy || rs[1].CardPresent {
		t.Fatalf("readers after insertion %+v", rs)
	}
	tests := []struct {
		name string
		want error
	}{
		{"00 01", reader.ErrNoCard},     // the empty slot, by a part of its name
		{"Virtual", reader.ErrNoReader}, // ambiguous
		{"no such reader", reader.ErrNoReader},
	}
	for _, tt := range tests {
		if _, err := p.FirstCard(ctx, tt.name); !errors.Is(err, tt.want) {
			t.Errorf("FirstCard(%q): %v, want %v", tt.name, err, tt.want)
		}
	}
	// Sessions are exclusive: a second one is refused as busy, and the listing says so.
	tr, err := p.Connect(ctx, "00 00")
	if err != nil {
		t.Fatal(err)
	}
	rs, err = p.Readers(ctx)
	if err != nil || !rs[0].Busy || !rs[0].CardPresent {
		t.Fatalf("readers during a session: %+v %v", rs, err)
	}
	other := dial(t, d)
	if _, err := other.FirstCard(ctx, ""); !errors.Is(err, reader.ErrBusy) {
		t.Fatalf("second session: %v", err)
	}
	if present, err := tr.Present(ctx); !present || err != nil {
		t.Fatalf("present during session: %v %v", present, err)
	}
	tr.Close()
}

func TestPCSCNoService(t *testing.T) {
	_, err := reader.DialPCSC(context.Background(), reader.WithSocket(filepath.Join(t.TempDir(), "nothing.comm")))
	if !errors.Is(err, reader.ErrNoService) {
		t.Fatalf("dial without pcscd: %v", err)
	}
	t.Setenv(reader.SocketEnv, "/x/y")
	if reader.DefaultSocket() != "/x/y" {
		t.Fatalf("DefaultSocket ignores %s", reader.SocketEnv)
	}
}

// pcscd going away mid-session is reported, not a hang.
func TestPCSCDaemonStops(t *testing.T) {
	t.Parallel()
	d := pcsctest.Start(t)
	c, err := card.New(cardtest.CardFile(t, jpki.MediumCard))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, d, c)
	p := dial(t, d)
	client := reader.NewClient(waitCard(t, p))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.ReadAuthCert(ctx); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	_, err = client.ReadAuthCert(ctx)
	if r := reader.ReasonOf(err); r != reader.ReasonNoService && r != reader.ReasonCardRemoved {
		t.Fatalf("after pcscd stopped: %v", err)
	}
}

// A session that presented a PIN resets the card when it closes, so that the next program does
// not find the auth key unlocked.
func TestPCSCCloseResetsVerifiedCard(t *testing.T) {
	t.Parallel()
	d := pcsctest.Start(t)
	c, err := card.New(cardtest.CardFile(t, jpki.MediumCard))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, d, c)
	p := dial(t, d)
	ctx := context.Background()
	signAPDU := append([]byte{0x80, 0x2A, 0x00, 0x80, 0x33}, append(cardtest.DigestInfoSHA256([]byte("x")), 0x00)...)

	// Control: without a reset, the key stays usable after the session (LeaveCard).
	tr := waitCard(t, p)
	for _, capdu := range [][]byte{cardtest.SelectAID(jpki.AIDJPKI), cardtest.SelectEF(jpki.EFAuthPIN)} {
		mustTransmit(t, tr, capdu, 0x9000)
	}
	// A VERIFY makes the session "verified"; Close must reset.
	mustTransmit(t, tr, cardtest.Verify(cardtest.AuthPIN), 0x9000)
	mustTransmit(t, tr, cardtest.SelectEF(jpki.EFAuthKey), 0x9000)
	resp := mustTransmit(t, tr, signAPDU, 0x9000)
	if len(resp) != 258 {
		t.Fatalf("signature response %d bytes", len(resp))
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = waitCard(t, p)
	defer tr.Close()
	// No application is selected after the reset, so the key cannot even be selected.
	raw, err := tr.Transmit(ctx, cardtest.SelectEF(jpki.EFAuthKey))
	if err != nil {
		t.Fatal(err)
	}
	if swOf(raw) == 0x9000 {
		raw, _ = tr.Transmit(ctx, signAPDU)
		if swOf(raw) == 0x9000 {
			t.Fatal("the next session could sign without the PIN")
		}
	}
}

func swOf(resp []byte) uint16 {
	if len(resp) < 2 {
		return 0
	}
	return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1])
}

func mustTransmit(t *testing.T, tr reader.Transport, capdu []byte, want uint16) []byte {
	t.Helper()
	resp, err := tr.Transmit(context.Background(), capdu)
	if err != nil {
		t.Fatal(err)
	}
	if got := swOf(resp); got != want {
		t.Fatalf("% X → %04X, want %04X", capdu, got, want)
	}
	return resp
}

// foreignCard is a smart card that is not a My Number Card: it knows no JPKI application.
type foreignCard struct{}

func (foreignCard) ATR() []byte { return []byte{0x3B, 0x80, 0x80, 0x01, 0x01} }
func (foreignCard) Reset()      {}
func (foreignCard) Transmit(capdu []byte) []byte {
	if len(capdu) >= 2 && capdu[1] == 0xA4 {
		return []byte{0x6A, 0x82}
	}
	return []byte{0x6D, 0x00}
}

func TestNotAMyNumberCard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	check := func(t *testing.T, c *reader.Client) {
		if _, err := c.ReadAuthCert(ctx); !errors.Is(err, reader.ErrNotJPKI) {
			t.Fatalf("auth certificate: %v", err)
		}
		if _, err := c.AuthSigner(ctx, "1234"); !errors.Is(err, reader.ErrNotJPKI) {
			t.Fatalf("signer: %v", err)
		}
		if _, err := c.ReadBasic4(ctx, "1234"); !errors.Is(err, reader.ErrNotJPKI) {
			t.Fatalf("basic 4: %v", err)
		}
		_, err := c.Status(ctx)
		if !errors.Is(err, reader.ErrNotJPKI) || !strings.Contains(err.Error(), "not a My Number Card") {
			t.Fatalf("status: %v", err)
		}
	}
	t.Run("inprocess", func(t *testing.T) {
		check(t, reader.NewClient(reader.NewInProcess(foreignCard{}, "foreign")))
	})
	t.Run("pcscd", func(t *testing.T) {
		d := pcsctest.Start(t)
		serve(t, d, foreignCard{})
		c := reader.NewClient(waitCard(t, dial(t, d)))
		defer c.Close()
		check(t, c)
	})
}

// BenchmarkAuthCertAndSignature measures a full login-style exchange: present the PIN, read the
// auth certificate (header, then chunks) and sign a SHA-256 digest with the auth key, as
// operations per second through a real pcscd and vpcd, against the same exchange in-process
// measured in the same run (metric pcscd/inprocess = how many times slower PC/SC is). ns/op
// covers one exchange on each path.
func BenchmarkAuthCertAndSignature(b *testing.B) {
	op := func(c *reader.Client) error {
		ctx := context.Background()
		// AuthSigner presents the PIN and reads the whole certificate (7-byte header, then
		// chunks); the signature presents the PIN again, as every signature must.
		s, err := c.AuthSigner(ctx, cardtest.AuthPIN)
		if err != nil {
			return err
		}
		d := sha256.Sum256([]byte("nonce"))
		_, err = s.SignContext(ctx, d[:], crypto.SHA256)
		return err
	}
	cf := cardtest.CardFile(b, jpki.MediumCard)
	c, err := card.New(cf)
	if err != nil {
		b.Fatal(err)
	}
	base, err := card.New(cardtest.CardFile(b, jpki.MediumCard))
	if err != nil {
		b.Fatal(err)
	}
	inproc := reader.NewClient(reader.NewInProcess(base, "baseline"))

	d := pcsctest.Start(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); vpcd.Serve(ctx, d.VPCDAddr, c) }()
	defer func() { cancel(); <-done }()
	p, err := reader.DialPCSC(ctx, reader.WithSocket(d.Socket), reader.WithPollInterval(50*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	tr, err := p.WaitForCard(wctx, pcsctest.ReaderName(0))
	wcancel()
	if err != nil {
		b.Fatal(err)
	}
	client := reader.NewClient(tr)
	defer client.Close()
	// The two paths alternate within each iteration, so that load from elsewhere on the
	// machine falls on both alike and the ratio stays meaningful.
	var viaPCSC, inProc time.Duration
	ops := 0
	for b.Loop() {
		t0 := time.Now()
		if err := op(client); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := op(inproc); err != nil {
			b.Fatal(err)
		}
		viaPCSC += t1.Sub(t0)
		inProc += time.Since(t1)
		ops++
	}
	b.ReportMetric(float64(ops)/viaPCSC.Seconds(), "pcscd-ops/s")
	b.ReportMetric(float64(ops)/inProc.Seconds(), "inprocess-ops/s")
	b.ReportMetric(viaPCSC.Seconds()/inProc.Seconds(), "pcscd/inprocess")
}
