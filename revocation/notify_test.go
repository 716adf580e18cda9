package revocation

import (
	"math/big"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

func TestNewlyRevokedAndLookupText(t *testing.T) {
	ca := cas(t).rsa
	at := testNow.Add(-24 * time.Hour)
	long, _ := new(big.Int).SetString("1234567890ABCDEF12", 16)
	prevEntries := []crlwriter.Entry{{Serial: big.NewInt(0x10), RevokedAt: at, Reason: 1}, {Serial: big.NewInt(0x20), RevokedAt: at, Reason: 4}}
	nextEntries := append(prevEntries[1:], // 0x10 expired and dropped
		crlwriter.Entry{Serial: big.NewInt(0xFF), RevokedAt: at.Add(time.Hour), Reason: 3},
		crlwriter.Entry{Serial: long, RevokedAt: at.Add(2 * time.Hour), Reason: crlwriter.NoReason})
	opts := Options{At: testNow}
	prev, err := Read(writerCRL(t, ca, 1, prevEntries), ca.cert, opts)
	if err != nil {
		t.Fatal(err)
	}
	next, err := Read(writerCRL(t, ca, 2, nextEntries), ca.cert, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewlyRevoked(prev, next)
	if err != nil {
		t.Fatal(err)
	}
	want := []Revoked{{"FF", at.Add(time.Hour), AffiliationChanged}, {"1234567890ABCDEF12", at.Add(2 * time.Hour), NoReason}}
	if len(got) != len(want) {
		t.Fatalf("NewlyRevoked = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Serial != want[i].Serial || !got[i].RevokedAt.Equal(want[i].RevokedAt) || got[i].Reason != want[i].Reason {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := NewlyRevoked(next, prev); err == nil {
		t.Error("a CRL number going backwards was diffed")
	}
	for _, tt := range []struct {
		serial string
		want   bool
		reason CRLReason
	}{{"FF", true, AffiliationChanged}, {"20", true, Superseded}, {"10", false, NoReason}, {"1234567890ABCDEF12", true, NoReason},
		{"1234567890ABCDEF13", false, NoReason}, {"", false, NoReason}, {"XYZ", false, NoReason}, {"-5", false, NoReason}} {
		ok, _, r := next.LookupText(tt.serial)
		if ok != tt.want || r != tt.reason {
			t.Errorf("LookupText(%q) = %v %v, want %v %v", tt.serial, ok, r, tt.want, tt.reason)
		}
	}
	if s := SerialText([]byte{0x00, 0xFF}); s != "FF" {
		t.Errorf("SerialText = %s", s)
	}
}
