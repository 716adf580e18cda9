package ticket

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/kdf"
)

// TestManifestKeyIsOnlyTheCodeKey: the code_key a gate manifest carries is neither the service's
// secret nor any other key of it. It still makes rotating codes the service accepts, but vouchers
// minted with it (as the raw voucher key, or as the secret a service would derive one from) are
// unknown codes, while the buyer's real voucher redeems.
func TestManifestKeyIsOnlyTheCodeKey(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	gf := newGateFixture(t, w)
	secret := []byte(strings.Repeat("k", 32)) // the world's and the fixture's secret
	today := gf.clk.Now().Format("2006-01-02")
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: today, Identity: IdentityNone, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	a, _ := w.account("Taro")
	ts, err := w.s().Purchase(ctx, a, ev.ID, "S", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	m := gf.manifest(t, w, ev.ID)

	k, err := kdf.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CodeKey) != kdf.Size || bytes.Equal(m.CodeKey, secret) {
		t.Errorf("the manifest's code_key is the service's secret (or not a 32-byte key): %x", m.CodeKey)
	}
	for _, l := range []kdf.Label{kdf.TicketVouchers, kdf.TicketPages} {
		if bytes.Equal(m.CodeKey, k.Key(l)) {
			t.Errorf("the manifest's code_key is the service's %s key", l)
		}
	}

	// The gate's key still makes codes the service admits.
	step := stepOf(gf.clk.Now())
	code := codePrefix + ts[0].ID + "." + strconv.FormatInt(step, 10) + "." + manifest.CodeMAC(m.CodeKey, ts[0].ID, m.Tickets[0].Generation, step)
	if _, err := gf.svc.Check(ctx, w.org, ev.ID, code, false); err != nil {
		t.Fatalf("a code made with the manifest's key: %v", err)
	}

	// A voucher minted with the gate's key is refused; the real one redeems.
	vev := w.event(EventRequest{Kind: "voucher", Name: "商品券", Date: "2026-06-30", Identity: IdentityFull, MaxPerPerson: 1,
		Classes: []SeatClass{{Name: "券", Price: 8000, Capacity: 10}}})
	vs, err := w.s().Purchase(ctx, w.buyer(vev, "Hanako", taro()), vev.ID, "券", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := hmac.New(sha256.New, m.CodeKey)
	raw.Write([]byte("mynagate-voucher-v1\x00" + vs[0].ID))
	asSecret, err := New(w.s().DB(), w.plat, m.CodeKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, forged := range map[string]string{
		"HMAC under the manifest key":                   base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw.Sum(nil))[:16],
		"a service with the manifest key as its secret": asSecret.voucherCode(vs[0].ID),
	} {
		if forged == vs[0].Voucher {
			t.Errorf("%s: the forged voucher is the real one", name)
		}
		if _, err := w.s().Redeem(ctx, w.org, forged); ReasonOf(err) != "unknown-code" {
			t.Errorf("%s: redeem = %v, want unknown-code", name, err)
		}
	}
	if _, err := w.s().Redeem(ctx, w.org, vs[0].Voucher); err != nil {
		t.Fatalf("the real voucher: %v", err)
	}
}
