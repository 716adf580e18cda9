package benchkit

import (
	"context"
	"testing"
	"time"

	"github.com/mynagate/mynagate/store"
)

// TestOIDCMeasures runs `bench oidc`'s measurements at a small size: they complete, and each
// counts what it did (a failed refresh or userinfo fails the measurement).
func TestOIDCMeasures(t *testing.T) {
	ctx := context.Background()
	w, err := NewWorld(ctx, "", 2, store.WithRelaxedSync())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	o, err := NewOIDC(ctx, w, 3)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := o.Refresh(30)
	if err != nil || tok.N != 30 {
		t.Fatalf("refresh: %+v %v", tok, err)
	}
	ui, err := o.Userinfo(30)
	if err != nil || ui.N != 30 {
		t.Fatalf("userinfo: %+v %v", ui, err)
	}
	sign, err := o.IDTokenSigning(ctx, 100*time.Millisecond)
	if err != nil || sign.N == 0 {
		t.Fatalf("ID-token signing: %+v %v", sign, err)
	}
	raw, err := RawES256(100 * time.Millisecond)
	if err != nil || raw.N == 0 {
		t.Fatalf("raw: %+v %v", raw, err)
	}
}
