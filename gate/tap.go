package gate

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

	"github.com/mynagate/mynagate/jpki"
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

// CardFacts are what a lane or kiosk reads from the card's own applications, with the support
// PIN: the name and date of birth from the 券面事項入力補助AP, and, when asked, the face photo
// from the 券面事項確認AP, which the individual number just read opens (the card's collation
// number A). The individual number itself is used for that and dropped: a gate or kiosk neither
// shows nor keeps it.
type CardFacts struct {
	Name  string
	Birth jpki.Date
	// Photo is the face photo as the card holds it: JPEG 2000.
	Photo []byte
}

// ReadCardFacts reads the facts with the support PIN. The applications' signatures are checked
// against their AP certificates, and those against apCA when it is given (the card-AP CA's
// key); a card whose data does not check is an error. Unlike a tap's signature, this proves the
// issuer wrote the data, not that the person holding the card is its holder.
//
// The PIN typed is the authentication PIN; most holders set the support PIN to the same four
// digits, but not all. So the support PIN is presented only while its counter is full: a holder
// whose PINs differ loses at most one try, which their next correct entry anywhere restores,
// and a gate never blocks it.
func ReadCardFacts(ctx context.Context, c *reader.Client, supportPIN string, photo bool, apCA *rsa.PublicKey) (*CardFacts, error) {
	n, err := c.TriesLeft(ctx, reader.PINSupport)
	if err != nil {
		return nil, fmt.Errorf("gate: card facts: %w", err)
	}
	if n < reader.PINSupport.MaxTries() {
		return nil, fmt.Errorf("gate: card facts: the support PIN has %d of %d tries left; not presented, so as not to use another", n, reader.PINSupport.MaxTries())
	}
	d, err := c.ReadSupportAPData(ctx, supportPIN)
	if err != nil {
		return nil, fmt.Errorf("gate: card facts: %w", err)
	}
	number, b4, err := d.Verify(apCA)
	if err != nil {
		return nil, fmt.Errorf("gate: the card's support data does not verify: %w", err)
	}
	f := &CardFacts{Name: b4.Name, Birth: b4.Birth}
	if photo {
		sd, err := c.ReadSurfaceAPData(ctx, number, b4.Birth)
		if err != nil {
			return nil, fmt.Errorf("gate: card face: %w", err)
		}
		face, err := sd.Verify(apCA)
		if err != nil {
			return nil, fmt.Errorf("gate: the card-face data does not verify: %w", err)
		}
		f.Photo = face.Photo
	}
	return f, nil
}
