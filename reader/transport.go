package reader

import (
	"context"
	"fmt"
	"sync"
)

// Transport carries APDUs to one card: a card in a PC/SC reader (PCSCCard) or a card object in
// this process (InProcess). Client speaks JPKI over any Transport.
//
// Implementations MUST be safe for use by one goroutine at a time; Client serializes its calls.
type Transport interface {
	// Transmit sends one command APDU and returns the response APDU, data followed by the two
	// status bytes. It MUST return an *Error with ReasonCardRemoved when the card went away
	// (rather than hang or return an empty response), and MUST give up when ctx ends.
	Transmit(ctx context.Context, capdu []byte) ([]byte, error)
	// Present reports whether the card is still in the reader.
	Present(ctx context.Context) (bool, error)
	// Reader names the reader the card is in.
	Reader() string
	// Close ends the session. It resets the card when a PIN may have been verified, so that
	// nobody inherits the verified security state.
	Close() error
}

// VirtualCard is what an in-process card must offer: an APDU handler that always answers
// (data + status word) and a reset. A card that also has ATR() []byte reports its ATR. It is the shape of package card's *card.Card; this package
// does not import card, the caller wires it in.
type VirtualCard interface {
	Transmit(capdu []byte) []byte
	Reset()
}

// InProcess is a Transport to a VirtualCard in the same process: no pcscd, no sockets. It is
// what `--card CARD.json` uses and what tests use to run the JPKI client without a reader.
type InProcess struct {
	mu      sync.Mutex
	card    VirtualCard
	name    string
	removed bool
}

// NewInProcess returns a transport to card; name is what Reader reports (for example the card
// file's path).
func NewInProcess(card VirtualCard, name string) *InProcess {
	return &InProcess{card: card, name: name}
}

// Transmit passes the APDU to the card.
func (t *InProcess) Transmit(ctx context.Context, capdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Reason: ReasonTimeout, Err: err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed {
		return nil, &Error{Reason: ReasonCardRemoved, Detail: fmt.Sprintf("%s was removed", t.name)}
	}
	resp := t.card.Transmit(capdu)
	return append([]byte(nil), resp...), nil
}

// Present reports false after Remove.
func (t *InProcess) Present(ctx context.Context) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.removed, nil
}

// ATR returns the card's answer to reset if the card offers one (as *card.Card does), else nil.
func (t *InProcess) ATR() []byte {
	if a, ok := t.card.(interface{ ATR() []byte }); ok {
		return a.ATR()
	}
	return nil
}

// Reader returns the name given to NewInProcess.
func (t *InProcess) Reader() string { return t.name }

// Remove simulates pulling the card: every later Transmit fails with ReasonCardRemoved. The
// card is reset, as a real card loses power.
func (t *InProcess) Remove() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.removed {
		t.removed = true
		t.card.Reset()
	}
}

// Close resets the card (clearing any verified PIN) and ends the session.
func (t *InProcess) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.removed {
		t.card.Reset()
	}
	t.removed = true
	return nil
}
