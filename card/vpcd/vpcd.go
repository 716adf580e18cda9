// Package vpcd inserts a virtual card into pcscd through vsmartcard's virtual reader driver
// (vpcd). It is a driver of the card: it owns the vpcd wire protocol and the connection's life
// (connect, serve, reconnect, remove), and nothing of what the card answers.
//
// # The vpcd protocol
//
// vpcd is a pcscd reader driver that listens on TCP (Debian: /etc/reader.conf.d/vpcd, DEVICENAME
// /dev/null:0x8C7B → port 35963 for the first slot, 35964 for the second). The virtual card
// connects as a client; the connection being open means "a card is in the reader". Every
// message in both directions is a frame: a 2-byte big-endian length and that many bytes. From
// vpcd, a 1-byte frame is a control code — 00 power off, 01 power on, 02 reset, 04 get ATR —
// and anything longer is a command APDU. The card answers 04 with a frame holding its ATR,
// every APDU with a frame holding the response APDU, and the other control codes not at all.
// Closing the connection removes the card.
//
// Serve reconnects with exponential backoff whenever the connection fails or vpcd is not
// listening yet, so the card survives pcscd restarts. On cancellation it closes the connection,
// which vpcd reports to pcscd as a removal.
//
// [vsmartcard vpcd]: https://frankmorgner.github.io/vsmartcard/virtualsmartcard/api.html
package vpcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

// DefaultAddr is where Debian's vpcd waits for the card of its first slot.
const DefaultAddr = "127.0.0.1:35963"

// Control codes sent by vpcd in 1-byte frames.
const (
	CtrlPowerOff byte = 0x00
	CtrlPowerOn  byte = 0x01
	CtrlReset    byte = 0x02
	CtrlGetATR   byte = 0x04
)

// Card is what the bridge serves; *card.Card implements it.
type Card interface {
	// ATR returns the answer to reset.
	ATR() []byte
	// Transmit answers a command APDU with a response APDU (at least a status word).
	Transmit(capdu []byte) []byte
	// Reset clears the card's volatile state (warm reset).
	Reset()
}

// Option configures Serve.
type Option func(*options)

type options struct {
	minBackoff, maxBackoff time.Duration
	onState                func(State)
	onWait                 func(error)
}

// WithBackoff sets the reconnection delays: the first retry waits min, each next one twice as
// long, up to max (defaults 50 ms and 2 s).
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = min, max }
}

// WithStateHook calls f (from Serve's goroutine) whenever the card is inserted into or removed
// from the reader. Tests use it to wait for insertion.
func WithStateHook(f func(State)) Option { return func(o *options) { o.onState = f } }

// WithWaitHook calls f (from Serve's goroutine) when vpcd cannot be reached: at the first failed
// connection attempt and at the first one after each connection ends, not at every retry. The
// command line uses it to say that it waits for vpcd, and why.
func WithWaitHook(f func(err error)) Option { return func(o *options) { o.onWait = f } }

// State is the card's presence in the virtual reader.
type State int

// The states reported to a WithStateHook function.
const (
	Removed  State = iota // not connected to vpcd
	Inserted              // connected; pcscd sees a card
)

func (s State) String() string {
	if s == Inserted {
		return "inserted"
	}
	return "removed"
}

// maxFrame is the largest frame the protocol can carry (2-byte length).
const maxFrame = 0xFFFF

// Serve connects the card to vpcd at addr and answers it until ctx is done, reconnecting after
// any failure. It returns nil after a cancellation and an error only for an unusable address.
func Serve(ctx context.Context, addr string, c Card, opts ...Option) error {
	o := options{minBackoff: 50 * time.Millisecond, maxBackoff: 2 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("vpcd: address %q: %w", addr, err)
	}
	backoff := o.minBackoff
	var d net.Dialer
	waiting := false
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil && !waiting && ctx.Err() == nil && o.onWait != nil {
			o.onWait(err)
		}
		waiting = err != nil
		if err == nil {
			if o.onState != nil {
				o.onState(Inserted)
			}
			start := time.Now()
			err = serveConn(ctx, conn, c)
			c.Reset() // the card leaves the reader: security state is gone
			if o.onState != nil {
				o.onState(Removed)
			}
			if time.Since(start) > time.Second {
				backoff = o.minBackoff // it worked for a while: retry quickly
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		slog.Debug("vpcd: not connected, retrying", "addr", addr, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.maxBackoff)
	}
}

// serveConn answers vpcd on one connection until it fails or ctx is done.
func serveConn(ctx context.Context, conn net.Conn, c Card) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	var hdr [2]byte
	buf := make([]byte, maxFrame)
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return fmt.Errorf("vpcd: read frame: %w", err)
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		msg := buf[:n]
		if _, err := io.ReadFull(conn, msg); err != nil {
			return fmt.Errorf("vpcd: read frame: %w", err)
		}
		var reply []byte
		switch {
		case n == 0:
			continue // not part of the protocol; ignore rather than hang up
		case n == 1:
			switch msg[0] {
			case CtrlPowerOff, CtrlPowerOn, CtrlReset:
				c.Reset()
				continue
			case CtrlGetATR:
				reply = c.ATR()
			default:
				slog.Warn("vpcd: unknown control code", "code", msg[0])
				continue
			}
		default:
			reply = c.Transmit(msg)
			if len(reply) > maxFrame {
				reply = []byte{0x67, 0x00} // cannot be framed: wrong length
			}
		}
		if err := writeFrame(conn, reply); err != nil {
			return err
		}
	}
}

func writeFrame(w io.Writer, b []byte) error {
	if len(b) > maxFrame {
		return errors.New("vpcd: ATR or response longer than a frame")
	}
	out := make([]byte, 2+len(b))
	binary.BigEndian.PutUint16(out, uint16(len(b)))
	copy(out[2:], b)
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("vpcd: write frame: %w", err)
	}
	return nil
}
