// Package gatetest has virtual cards answer a gate's challenge in tests: the one way the gate,
// kiosk and staff-page tests tap a card. It cannot live in gate/ (that tree may not import card
// or jlis) nor in internal/testkit (gate's own internal tests import testkit).
package gatetest

import (
	"context"
	"testing"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

// TapCard has the card file cf answer the gate challenge ch in-process, with the default
// authentication PIN, as a card tapped at a lane does.
func TapCard(t testing.TB, cf *jpki.CardFile, ch gate.Challenge) *gate.Tap {
	t.Helper()
	tp, _ := tapCard(t, cf, ch, false, false)
	return tp
}

// TapCardWithFacts is TapCard, then reads the card's support application with its default PIN
// (with photo also the face photo), as a lane that shows or records the holder's facts does.
func TapCardWithFacts(t testing.TB, cf *jpki.CardFile, ch gate.Challenge, photo bool) (*gate.Tap, *gate.CardFacts) {
	t.Helper()
	return tapCard(t, cf, ch, true, photo)
}

func tapCard(t testing.TB, cf *jpki.CardFile, ch gate.Challenge, facts, photo bool) (*gate.Tap, *gate.CardFacts) {
	t.Helper()
	c, err := card.New(cf)
	if err != nil {
		t.Fatal(err)
	}
	rc := reader.NewClient(reader.NewInProcess(c, "virtual"))
	defer rc.Close()
	tp, err := gate.TapCard(context.Background(), rc, jlis.DefaultAuthPIN, ch)
	if err != nil {
		t.Fatal(err)
	}
	if !facts {
		return tp, nil
	}
	f, err := gate.ReadCardFacts(context.Background(), rc, jlis.DefaultSupportPIN, photo, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tp, f
}
