package vpcd_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	pcsc "github.com/gballet/go-libpcsclite"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/card/vpcd"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// inserted is a card served to a private pcscd.
type inserted struct {
	d    *pcsctest.Daemon
	card *card.Card
	cf   *jpki.CardFile
	path string
}

// insert starts a private pcscd, has the J-LIS simulator issue a card of the medium, serves
// it into the first slot and waits until pcscd reports the card present.
func insert(t testing.TB, medium jpki.Medium, opts ...card.Option) *inserted {
	t.Helper()
	return insertIssued(t, jlis.IssueRequest{Basic4: testkit.Taro(), Medium: medium}, opts...)
}

// insertIssued is insert for a card issued on req.
func insertIssued(t testing.TB, req jlis.IssueRequest, opts ...card.Option) *inserted {
	t.Helper()
	d := pcsctest.Start(t)
	sim, _, _ := testkit.Simulator(t)
	iss, err := sim.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "card.json")
	if err := iss.Card.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := card.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); vpcd.Serve(ctx, d.VPCDAddr, c) }()
	t.Cleanup(func() { cancel(); <-done })
	cf, _ := jpki.LoadCardFile(path)
	in := &inserted{d: d, card: c, cf: cf, path: path}
	// pcscd polls vpcd for presence; wait until a PC/SC connect succeeds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		pc, err := connect(d, pcsc.ShareShared)
		if err == nil {
			pc.close()
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("card never appeared in %s: %v", pcsctest.ReaderName(0), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pcscCard is a PC/SC session through go-libpcsclite.
type pcscCard struct {
	client *pcsc.Client
	card   *pcsc.Card
	d      *pcsctest.Daemon
}

func connect(d *pcsctest.Daemon, share uint32) (*pcscCard, error) {
	client, err := pcsc.EstablishContext(d.Socket, pcsc.ScopeSystem)
	if err != nil {
		return nil, err
	}
	c, err := client.Connect(pcsctest.ReaderName(0), share, pcsc.ProtocolT1)
	if err != nil {
		client.ReleaseContext()
		return nil, err
	}
	return &pcscCard{client: client, card: c, d: d}, nil
}

func (p *pcscCard) close() {
	p.card.Disconnect(pcsc.LeaveCard)
	p.client.ReleaseContext()
}

func (p *pcscCard) Transmit(b []byte) ([]byte, error) {
	out, _, err := p.card.Transmit(b)
	return out, err
}

// Reset disconnects with SCARD_RESET_CARD and connects again: pcscd resets the card.
func (p *pcscCard) Reset() error {
	if err := p.card.Disconnect(pcsc.ResetCard); err != nil {
		return err
	}
	c, err := p.client.Connect(pcsctest.ReaderName(0), pcsc.ShareExclusive, pcsc.ProtocolT1)
	if err != nil {
		return err
	}
	p.card = c
	return nil
}

func TestConformanceThroughPCSCD(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	in := insert(t, jpki.MediumCard)
	pc, err := connect(in.d, pcsc.ShareExclusive)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.close()
	cardtest.Conformance(t, pc, in.cf)
}

// When pcscd restarts, the bridge reconnects and the card is back in the reader.
func TestReconnectAfterPCSCDRestart(t *testing.T) {
	t.Parallel() // each test has its own pcscd
	in := insert(t, jpki.MediumCard)
	if err := in.d.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		pc, err := connect(in.d, pcsc.ShareShared)
		if err == nil {
			out, err := pc.Transmit(cardtest.SelectAID(jpki.AIDJPKI))
			pc.close()
			if err != nil || len(out) != 2 || out[0] != 0x90 {
				t.Fatalf("after restart: % X, %v", out, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("card not back after pcscd restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
