package store_test

import (
	"bytes"
	"context"
	"math/big"
	"sync"
	"testing"

	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
)

var (
	_ revocation.HighWater = (*store.Store)(nil)
	_ wiring.AnchorStore   = (*store.Store)(nil)
)

func testTrustAnchors(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	got, err := s.TrustAnchors(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("anchors of a new store: %v", got)
	}
	must(t, s.RecordTrustAnchors(ctx, map[string][]byte{"sign": []byte("A-sign"), "auth": []byte("A-auth")}, false, t0))
	// First use keeps what is recorded and adds new names.
	must(t, s.RecordTrustAnchors(ctx, map[string][]byte{"sign": []byte("B-sign"), "sign-phone": []byte("A-phone")}, false, t0))
	got, err = s.TrustAnchors(ctx)
	must(t, err)
	if string(got["sign"]) != "A-sign" || string(got["auth"]) != "A-auth" || string(got["sign-phone"]) != "A-phone" || len(got) != 3 {
		t.Errorf("after a second first use: %q", got)
	}
	// Pinned: replaces.
	must(t, s.RecordTrustAnchors(ctx, map[string][]byte{"sign": []byte("B-sign")}, true, t0))
	if got, _ = s.TrustAnchors(ctx); string(got["sign"]) != "B-sign" || string(got["auth"]) != "A-auth" {
		t.Errorf("after pinning: %q", got)
	}
	if err := s.RecordTrustAnchors(ctx, map[string][]byte{"auth": nil}, true, t0); err == nil {
		t.Error("an empty certificate was recorded")
	}
	if got, _ = s.TrustAnchors(ctx); string(got["auth"]) != "A-auth" {
		t.Errorf("a refused record changed the anchors: %q", got)
	}
}

func testCRLHighWater(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	n, d, err := s.CRLHighWater(ctx, "ca1")
	if err != nil || n != nil || d != nil {
		t.Fatalf("mark of an unknown CA: %v %x %v", n, d, err)
	}
	digest := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	want := func(ca string, num int64, dg []byte) {
		t.Helper()
		n, d, err := s.CRLHighWater(ctx, ca)
		must(t, err)
		if n == nil || n.Int64() != num || !bytes.Equal(d, dg) {
			t.Errorf("mark of %s: %v %x, want %d %x", ca, n, d, num, dg)
		}
	}
	must(t, s.RaiseCRLHighWater(ctx, "ca1", big.NewInt(9), digest(9), t0, t0))
	must(t, s.RaiseCRLHighWater(ctx, "ca1", big.NewInt(10), digest(10), t0, t0)) // 10 > 9 in number order, not text
	must(t, s.RaiseCRLHighWater(ctx, "ca1", big.NewInt(2), digest(2), t0, t0))   // never lowered
	must(t, s.RaiseCRLHighWater(ctx, "ca1", big.NewInt(10), digest(11), t0, t0)) // nor replaced by an equal number
	want("ca1", 10, digest(10))
	huge, _ := new(big.Int).SetString("1461501637330902918203684832716283019655932542975", 10) // 2^160 - 1
	must(t, s.RaiseCRLHighWater(ctx, "ca2", huge, digest(1), t0, t0))
	if n, _, _ := s.CRLHighWater(ctx, "ca2"); n == nil || n.Cmp(huge) != 0 {
		t.Errorf("20-octet number: %v", n)
	}
	if err := s.RaiseCRLHighWater(ctx, "ca2", new(big.Int).Lsh(big.NewInt(1), 160), digest(1), t0, t0); err == nil {
		t.Error("a 21-octet number was recorded")
	}
	must(t, s.RaiseCRLHighWater(ctx, "ca3", big.NewInt(0), digest(0), t0, t0))
	want("ca3", 0, digest(0))
	// Nodes racing on consecutive CRLs end at the highest.
	var wg sync.WaitGroup
	for i := int64(11); i <= 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.RaiseCRLHighWater(ctx, "ca1", big.NewInt(i), digest(byte(i)), t0, t0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want("ca1", 30, digest(30))
}
