package testkit

import (
	"context"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/reader"
)

// AnswerWithCard answers the session behind a holder URL with the card file at cardPath,
// in-process, as `mynagate reader verify` does (the challenge checked by the client first): the signing key (with the default password) for
// an identity challenge, the authentication key (with the default PIN) for a login, the
// support AP's signed files (default PIN) for a chip reading, consent
// given for the named facts. The card reads time from clk.
func AnswerWithCard(ctx context.Context, cardPath string, clk clockwork.Clock, holderURL string, consent ...string) (*client.HolderResult, error) {
	base, id, tok, err := client.ParseHolderURL(holderURL)
	if err != nil {
		return nil, err
	}
	hc := client.New(base)
	// The client checks the challenge against the holder URL before anything can be signed.
	ch, err := hc.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: holderURL, Now: clk.Now()})
	if err != nil {
		return nil, err
	}
	c, err := card.Open(cardPath, card.WithClock(clk))
	if err != nil {
		return nil, err
	}
	rc := reader.NewClient(reader.NewInProcess(c, "in-process"))
	defer rc.Close()
	if ch.Fields.Purpose == "chip_reading" { // the support AP's files, with its default PIN
		d, err := rc.ReadSupportAPData(ctx, jlis.DefaultSupportPIN)
		if err != nil {
			return nil, err
		}
		return hc.AnswerCardData(ctx, ch, client.CardData{Basic4: d.Basic4, Signature: d.Signature, Certificate: d.Cert})
	}
	var signer *reader.Signer
	if ch.Fields.Purpose == "identity" {
		signer, err = rc.SignSigner(ctx, jlis.DefaultSignPassword)
	} else {
		signer, err = rc.AuthSigner(ctx, jlis.DefaultAuthPIN)
	}
	if err != nil {
		return nil, err
	}
	sig, err := ch.Sign(signer)
	if err != nil {
		return nil, err
	}
	return hc.AnswerWithConsent(ctx, id, tok, signer.Certificate().Raw, sig, consent)
}
