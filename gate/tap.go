package gate

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"

	"github.com/mynagate/mynagate/reader"
)

// TapCard has the card behind c answer ch: it presents the authentication PIN (the lane's PIN
// pad), signs the challenge message with the authentication key and reads the authentication
// certificate. The same works for a card in a PC/SC reader and for a virtual card in-process.
func TapCard(ctx context.Context, c *reader.Client, pin string, ch Challenge) (*Tap, error) {
	s, err := c.AuthSigner(ctx, pin)
	if err != nil {
		return nil, fmt.Errorf("gate: card: %w", err)
	}
	d := sha256.Sum256(ch.Message)
	sig, err := s.SignContext(ctx, d[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("gate: card signature: %w", err)
	}
	return &Tap{Nonce: ch.Nonce, Certificate: s.Certificate().Raw, Signature: sig}, nil
}
