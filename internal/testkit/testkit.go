// Package testkit builds what tests across mynagate need: a J-LIS simulator in a temporary
// directory on a fake clock, cards issued by it, and a pool of RSA-2048 keys generated once per
// test binary (key generation takes tens of milliseconds, and a suite issues hundreds of
// certificates).
//
// It is test plumbing: production code never imports it.
package testkit

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// poolSize is how many distinct keys the pool holds; keys are handed out round robin.
const poolSize = 12

var (
	poolOnce sync.Once
	pool     []*rsa.PrivateKey
	poolErr  error
	poolMu   sync.Mutex
	poolNext int
)

func generatePool() {
	var wg sync.WaitGroup
	pool = make([]*rsa.PrivateKey, poolSize)
	errs := make([]error, poolSize)
	for i := range pool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool[i], errs[i] = rsa.GenerateKey(rand.Reader, 2048)
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			poolErr = e
		}
	}
}

// Key returns the next key of the pool (generated on first use).
func Key() (*rsa.PrivateKey, error) {
	poolOnce.Do(generatePool)
	if poolErr != nil {
		return nil, poolErr
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	k := pool[poolNext%poolSize]
	poolNext++
	return k, nil
}

// Epoch is the fixed time test clocks start at: 2026-04-01 10:00 JST.
var Epoch = time.Date(2026, time.April, 1, 10, 0, 0, 0, jpki.JST)

// Simulator opens a J-LIS simulator in a temporary directory with a fake clock at Epoch and
// the key pool; it is closed when the test ends.
func Simulator(t testing.TB, opts ...jlis.Option) (*jlis.Simulator, *clockwork.FakeClock, string) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(Epoch)
	dir := filepath.Join(t.TempDir(), "jlis")
	all := append([]jlis.Option{jlis.WithClock(clk), jlis.WithKeyGenerator(Key)}, opts...)
	sim, err := jlis.Open(context.Background(), dir, all...)
	if err != nil {
		t.Fatalf("open simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim, clk, dir
}

// Taro is a sample resident record.
func Taro() jpki.Basic4 {
	return jpki.Basic4{Name: "山田　太郎", Birth: jpki.Date{Year: 1985, Month: time.April, Day: 2}, Sex: jpki.SexMale, Address: "東京都千代田区霞が関２丁目１番２号"}
}

// Hanako is a second sample resident, with a name outside JIS levels 1–2.
func Hanako() jpki.Basic4 {
	return jpki.Basic4{Name: "𠮷田　花子", Birth: jpki.Date{Year: 1992, Month: time.February, Day: 29}, Sex: jpki.SexFemale, Address: "東京都清瀬市中里５丁目８４２番地"}
}

// Issue issues a card for b4 and fails the test on error.
func Issue(t testing.TB, sim *jlis.Simulator, b4 jpki.Basic4) *jlis.Issued {
	t.Helper()
	iss, err := sim.Issue(context.Background(), jlis.IssueRequest{Basic4: b4})
	if err != nil {
		t.Fatalf("issue card: %v", err)
	}
	return iss
}

// CardFile issues a card for b4 (default PINs) and writes it to a file in a temporary
// directory, returning the path.
func CardFile(t testing.TB, sim *jlis.Simulator, b4 jpki.Basic4) string {
	t.Helper()
	iss := Issue(t, sim, b4)
	path := filepath.Join(t.TempDir(), "card.json")
	if err := iss.Card.Save(path); err != nil {
		t.Fatalf("save card: %v", err)
	}
	return path
}

// AuthTrust returns what a gate or kiosk is given to check taps offline: the simulator's
// authentication CA certificate (DER), a CRL of it made now (DER) and that CRL's file.
func AuthTrust(t testing.TB, sim *jlis.Simulator) (ca, crl []byte, crlPath string) {
	t.Helper()
	c, err := sim.CRL(context.Background(), "auth")
	if err != nil {
		t.Fatalf("auth CRL: %v", err)
	}
	if crl, err = os.ReadFile(c.Path); err != nil {
		t.Fatalf("auth CRL: %v", err)
	}
	cert, err := sim.CACertificate("auth")
	if err != nil {
		t.Fatalf("auth CA: %v", err)
	}
	return cert.Raw, crl, c.Path
}
