package jlis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

func TestPhoneCredential(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	iss := testkit.Issue(t, sim, testkit.Taro())
	clk.Advance(24 * time.Hour)
	a1, err := sim.IssuePhone(ctx, iss.Card, jpki.MediumAndroid, "", "")
	if err != nil {
		t.Fatal(err)
	}
	p := a1.Card
	if p.Medium != jpki.MediumAndroid || p.MyNumber != iss.Card.MyNumber || a1.ResidentID != iss.ResidentID || p.Sign == nil || p.SupportAP != nil {
		t.Fatalf("phone credential %+v", p)
	}
	// validity follows the card's certificates
	for _, pair := range [][2][]byte{{p.Auth.Cert, iss.Card.Auth.Cert}, {p.Sign.Cert, iss.Card.Sign.Cert}} {
		if ph, c := mustParse(t, pair[0]), mustParse(t, pair[1]); ph.NotAfter.After(c.NotAfter) {
			t.Errorf("phone certificate ends %v, after the card's %v", ph.NotAfter, c.NotAfter)
		}
	}
	// linked from the card's certificates, which it does not replace
	cardSign, _ := sim.RefOf(iss.Card.Sign.Cert)
	phoneSign, _ := sim.RefOf(p.Sign.Cert)
	info, err := sim.Links(ctx, phoneSign)
	if err != nil || len(info.Previous) != 1 || info.Previous[0].Old != cardSign || info.Previous[0].Cause != jlis.CausePhone {
		t.Fatalf("phone signing certificate's links %+v %v", info, err)
	}
	if info, _ := sim.Links(ctx, cardSign); info.Latest == nil || *info.Latest != cardSign {
		t.Fatalf("the card's chain ends at %v, want the card's own certificate", info.Latest)
	}
	// the card keeps working in the simulator (renew, move) after a phone was issued
	moved := iss.Card.Basic4
	moved.Address = "大阪府大阪市北区梅田１丁目１番"
	if _, err := sim.Change(ctx, iss.Card, moved, jlis.CauseMove); err != nil {
		t.Fatalf("a move of a card with a phone credential: %v", err)
	}

	status := func(der []byte) *jlis.CertStatus {
		t.Helper()
		ref, _ := sim.RefOf(der)
		st, err := sim.Status(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// suspend, resume, revoke
	if err := sim.ChangePhone(ctx, p, jlis.PhoneSuspend); err != nil {
		t.Fatal(err)
	}
	if st := status(p.Auth.Cert); !st.Revoked || *st.Reason != jlis.ReasonCertificateHold {
		t.Fatalf("suspended: %+v", st)
	}
	if err := sim.ChangePhone(ctx, p, jlis.PhoneSuspend); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("suspending twice: %v", err)
	}
	if err := sim.ChangePhone(ctx, p, jlis.PhoneResume); err != nil {
		t.Fatal(err)
	}
	if st := status(p.Auth.Cert); st.Revoked {
		t.Fatalf("resumed: %+v", st)
	}
	// one active credential per person and OS: a new Android credential retires the first;
	// an iPhone one is independent
	a2, err := sim.IssuePhone(ctx, iss.Card, jpki.MediumAndroid, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if st := status(p.Auth.Cert); !st.Revoked || *st.Reason != jlis.ReasonCessationOfOperation {
		t.Fatalf("the replaced Android credential: %+v", st)
	}
	if err := sim.ChangePhone(ctx, p, jlis.PhoneResume); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("resuming a replaced credential: %v", err)
	}
	ios, err := sim.IssuePhone(ctx, iss.Card, jpki.MediumIPhone, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if st := status(a2.Card.Auth.Cert); st.Revoked {
		t.Fatal("an iPhone credential retired the Android one")
	}
	if err := sim.ChangePhone(ctx, ios.Card, jlis.PhoneRevoke); err != nil {
		t.Fatal(err)
	}
	if st := status(ios.Card.Auth.Cert); !st.Revoked || *st.Reason != jlis.ReasonCessationOfOperation {
		t.Fatalf("revoked iPhone credential: %+v", st)
	}
	// refused: from a phone, for another medium, from a lost card
	if _, err := sim.IssuePhone(ctx, a2.Card, jpki.MediumIPhone, "", ""); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("a phone credential from a phone: %v", err)
	}
	if _, err := sim.IssuePhone(ctx, iss.Card, jpki.MediumCard, "", ""); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("medium card: %v", err)
	}
	if _, err := sim.IssuePhone(ctx, iss.Card, jpki.MediumAndroid, "12", ""); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("malformed PIN: %v", err)
	}
	if _, err := sim.RevokeCard(ctx, iss.Card, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.IssuePhone(ctx, iss.Card, jpki.MediumAndroid, "", ""); !errors.Is(err, jlis.ErrInvalid) {
		t.Errorf("a phone credential from a lost card: %v", err)
	}
}
