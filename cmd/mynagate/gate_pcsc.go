package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/reader"
	"github.com/spf13/cobra"
)

// pcscTaps is a lane's or kiosk's PC/SC reader as its tap source: each tap waits for a card in
// the reader, has it answer the gate's challenge through pcscd, and ends the session; the next
// tap first waits for that card to leave the reader, so a card left lying on the reader is not
// taken for the next person's tap.
type pcscTaps struct {
	reader string
	socket string
	wait   time.Duration

	p    *reader.PCSC
	last *reader.PCSCCard // the closed session of the last tap; its card must leave first
}

// register adds --reader, --pcsc-socket and --tap-wait to cmd.
func (t *pcscTaps) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.reader, "reader", "", "tap cards in this PC/SC reader (exact name or a unique part of it) instead of --card files")
	cmd.Flags().StringVar(&t.socket, "pcsc-socket", "", "pcscd socket (default: $PCSCLITE_CSOCK_NAME, else /run/pcscd/pcscd.comm)")
	cmd.Flags().DurationVar(&t.wait, "tap-wait", 30*time.Second, "with --reader, how long a tap waits for a card, and for the last card to be removed")
}

// open connects to pcscd and checks that the reader exists, so that a lane without its reader
// stops at start rather than at the first person. It does nothing without --reader.
func (t *pcscTaps) open(ctx context.Context, cards []string) error {
	if t.reader == "" {
		if t.socket != "" {
			return errors.New("--pcsc-socket needs --reader")
		}
		return nil
	}
	if len(cards) > 0 {
		return errors.New("--reader and --card exclude each other")
	}
	if t.wait <= 0 {
		return errors.New("--tap-wait must be positive")
	}
	var opts []reader.PCSCOption
	if t.socket != "" {
		opts = append(opts, reader.WithSocket(t.socket))
	}
	p, err := reader.DialPCSC(ctx, append(opts, reader.WithPollInterval(100*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("PC/SC reader %q: %w", t.reader, err)
	}
	// FirstCard names the reader (or says none matches) without waiting; a card already there
	// is left alone.
	c, err := p.FirstCard(ctx, t.reader)
	if c != nil {
		c.Close()
	}
	if err != nil && reader.ReasonOf(err) != reader.ReasonNoCard && reader.ReasonOf(err) != reader.ReasonBusy {
		p.Close()
		return fmt.Errorf("PC/SC reader %q: %w", t.reader, err)
	}
	t.p = p
	return nil
}

// enabled reports whether taps come from the PC/SC reader.
func (t *pcscTaps) enabled() bool { return t.p != nil }

// Close releases the PC/SC context.
func (t *pcscTaps) Close() {
	if t.p != nil {
		t.p.Close()
	}
}

// tap waits for the last tap's card to leave and for a card, then has it answer ch with pin,
// reading its facts too as tapCardFile does.
func (t *pcscTaps) tap(ctx context.Context, pin string, ch gate.Challenge, facts, photo bool) (tp *gate.Tap, f *gate.CardFacts, ferr, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.wait)
	defer cancel()
	if t.last != nil {
		if err := t.waitRemoved(ctx); err != nil {
			return nil, nil, nil, err
		}
		t.last = nil
	}
	c, err := t.p.WaitForCard(ctx, t.reader)
	if err != nil {
		return nil, nil, nil, err
	}
	// Closing resets the card when a PIN was presented; the session is kept to see it leave.
	defer func() { c.Close(); t.last = c }()
	rc := reader.NewClient(c)
	if tp, err = gate.TapCard(ctx, rc, pin, ch); err != nil {
		return nil, nil, nil, err
	}
	if facts {
		f, ferr = gate.ReadCardFacts(ctx, rc, pin, photo, nil)
	}
	return tp, f, ferr, nil
}

// waitRemoved polls until the card of the last tap is out of the reader (pcscd counted a
// removal), or ctx ends.
func (t *pcscTaps) waitRemoved(ctx context.Context) error {
	for {
		present, err := t.last.Present(ctx)
		if err != nil {
			return err
		}
		if !present {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the card of the last tap is still in the reader: remove it before the next tap")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isAuthPIN reports whether s has the authentication PIN's shape, four digits, checked before a
// tap so that a mistyped line never costs the card a try.
func isAuthPIN(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
