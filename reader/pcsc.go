package reader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	pcsc "github.com/gballet/go-libpcsclite"
)

// SocketEnv is the environment variable that names pcscd's socket, as C libpcsclite clients
// read it. A private pcscd (tests, internal/pcsctest) is reached by setting it.
const SocketEnv = "PCSCLITE_CSOCK_NAME"

// DefaultSocket returns the pcscd socket DialPCSC uses without WithSocket: $PCSCLITE_CSOCK_NAME
// when set, else the platform default of the PC/SC client library (/run/pcscd/pcscd.comm on
// Linux).
func DefaultSocket() string {
	if s := os.Getenv(SocketEnv); s != "" {
		return s
	}
	return pcsc.PCSCDSockName
}

// PCSC is a connection to the PC/SC daemon. It lists readers and connects to cards. Its methods
// are safe for concurrent use (calls to pcscd are serialized).
type PCSC struct {
	client  *pcsc.Client
	socket  string
	timeout time.Duration
	poll    time.Duration

	mu     sync.Mutex
	broken error // set when a call to pcscd never returned; the connection is unusable
}

// PCSCOption configures DialPCSC.
type PCSCOption func(*PCSC)

// WithSocket dials pcscd at path instead of DefaultSocket().
func WithSocket(path string) PCSCOption { return func(p *PCSC) { p.socket = path } }

// WithCallTimeout bounds every single call to pcscd (one APDU, one connect). A card that takes
// longer to answer is reported as ReasonTimeout. The default is 30 s, far above the second or
// two a real card needs to sign.
func WithCallTimeout(d time.Duration) PCSCOption { return func(p *PCSC) { p.timeout = d } }

// WithPollInterval sets how often WaitForCard looks for a card (default 200 ms). The PC/SC
// client library has no blocking wait for reader events, so waiting is polling.
func WithPollInterval(d time.Duration) PCSCOption { return func(p *PCSC) { p.poll = d } }

// DialPCSC connects to pcscd and establishes a PC/SC context.
func DialPCSC(ctx context.Context, opts ...PCSCOption) (*PCSC, error) {
	p := &PCSC{timeout: 30 * time.Second, poll: 200 * time.Millisecond}
	for _, o := range opts {
		o(p)
	}
	if p.socket == "" {
		p.socket = DefaultSocket()
	}
	var client *pcsc.Client
	err := p.call(ctx, func() error {
		var err error
		client, err = pcsc.EstablishContext(p.socket, pcsc.ScopeSystem)
		return err
	})
	if err != nil {
		if ReasonOf(err) == ReasonTimeout {
			return nil, withOp("connect to pcscd", err)
		}
		return nil, &Error{Reason: ReasonNoService, Op: "connect to pcscd", Detail: p.socket, Err: unwrapPCSC(err)}
	}
	p.client = client
	return p, nil
}

// Socket returns the path of the pcscd socket in use.
func (p *PCSC) Socket() string { return p.socket }

// Close releases the PC/SC context. (The library keeps its socket open after that; a
// long-running program should keep one PCSC rather than dial per operation.)
func (p *PCSC) Close() error {
	return p.call(context.Background(), func() error { return p.client.ReleaseContext() })
}

// call runs fn (one call into the PC/SC library) bounded by ctx and the call timeout. The
// library offers neither deadlines nor cancellation, so fn runs in its own goroutine; if it does
// not return in time the connection is marked broken (the library still holds its lock) and
// every later call fails at once.
func (p *PCSC) call(ctx context.Context, fn func() error) error {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken != nil {
		return &Error{Reason: ReasonTimeout, Detail: "an earlier call to pcscd never returned", Err: broken}
	}
	if err := ctx.Err(); err != nil {
		return &Error{Reason: ReasonTimeout, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		p.mu.Lock()
		p.broken = ctx.Err()
		p.mu.Unlock()
		return &Error{Reason: ReasonTimeout, Detail: "pcscd did not answer", Err: ctx.Err()}
	}
}

// pcscCodeRE extracts the PC/SC return code from the library's errors, which carry it only in
// their text ("invalid return code: 8010000c (no smart card inserted)").
var pcscCodeRE = regexp.MustCompile(`return code: ([0-9a-fA-F]{1,8})\b`)

// pcscCode returns the SCARD_* code in err, or 0 when err is not a PC/SC error (for example a
// broken socket).
func pcscCode(err error) pcsc.ErrorCode {
	if err == nil {
		return 0
	}
	m := pcscCodeRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	v, perr := strconv.ParseUint(m[1], 16, 32)
	if perr != nil {
		return 0
	}
	return pcsc.ErrorCode(v)
}

// pcscError is an error from pcscd with its code, for Error.Err.
type pcscError struct {
	code pcsc.ErrorCode
	err  error
}

func (e *pcscError) Error() string {
	return fmt.Sprintf("pcscd: %s (%08X)", e.code.Error(), uint32(e.code))
}
func (e *pcscError) Unwrap() error { return e.err }

func unwrapPCSC(err error) error {
	if c := pcscCode(err); c != 0 {
		return &pcscError{code: c, err: err}
	}
	return err
}

// classify maps a library error to an *Error. during says whether a card session was open (a
// missing card then means it was removed).
func classify(err error, duringSession bool) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	code := pcscCode(err)
	r := ReasonCardError
	switch code {
	case 0:
		// Not a PC/SC code: the socket to pcscd broke.
		r = ReasonNoService
	case pcsc.ErrSCardNoSmartCard, pcsc.ErrSCardRemovedCard, pcsc.ErrSCardUnpoweredCard,
		pcsc.ErrSCardUnresponsiveCard, pcsc.ErrSCardResetCard, pcsc.ErrSCardNotTransacted,
		pcsc.ErrSCardCommError, pcsc.ErrSCardCommDataLost, pcsc.ErrSCardInvalidHandle:
		r = ReasonNoCard
		if duringSession {
			r = ReasonCardRemoved
		}
	case pcsc.ErrSCardReaderUnavailable, pcsc.ErrScardUnknownReader, pcsc.ErrSCardNoReadersAvailable:
		r = ReasonNoReader
		if duringSession {
			r = ReasonCardRemoved
		}
	case pcsc.ErrSCardSharingViolation:
		r = ReasonBusy
	case pcsc.ErrScardNoService, pcsc.ErrSCardServiceStopped, pcsc.ErrSCardShutdown:
		r = ReasonNoService
	case pcsc.ErrSCardTimeout:
		r = ReasonTimeout
	}
	return &Error{Reason: r, Err: unwrapPCSC(err)}
}

// ReaderStatus is one PC/SC reader and whether a card is in it.
type ReaderStatus struct {
	// Name is the reader name with pcscd's NUL/space padding removed.
	Name string `json:"name"`
	// CardPresent reports a card in the reader.
	CardPresent bool `json:"card_present"`
	// Busy reports that a program (possibly this one) holds the card exclusively.
	Busy bool `json:"busy,omitempty"`
	// ATR is the card's answer to reset, when a card is present.
	ATR []byte `json:"atr,omitempty"`
}

// trimReaderName removes the NUL and space padding pcscd puts after reader names.
func trimReaderName(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " ")
}

// states returns pcscd's reader states, bounded by ctx and the call timeout.
func (p *PCSC) states(ctx context.Context) ([]readerState, error) {
	return readerStates(ctx, p.socket, p.timeout)
}

// Readers lists the readers, whether each holds a card and whether that card is held
// exclusively. It reads pcscd's reader states and connects to nothing.
func (p *PCSC) Readers(ctx context.Context) ([]ReaderStatus, error) {
	sts, err := p.states(ctx)
	if err != nil {
		return nil, withOp("list readers", err)
	}
	out := make([]ReaderStatus, 0, len(sts))
	for _, st := range sts {
		out = append(out, ReaderStatus{Name: st.name, CardPresent: st.present, Busy: st.present && st.held, ATR: st.atr})
	}
	return out, nil
}

// resolve finds the reader called name among sts: an exact match, else the one reader whose
// name contains name (case-insensitive).
func resolve(sts []readerState, name string) (readerState, error) {
	if len(sts) == 0 {
		return readerState{}, &Error{Reason: ReasonNoReader, Detail: "pcscd lists no readers"}
	}
	var names []string
	var matches []readerState
	for _, st := range sts {
		if st.name == name {
			return st, nil
		}
		names = append(names, st.name)
		if strings.Contains(strings.ToLower(st.name), strings.ToLower(name)) {
			matches = append(matches, st)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return readerState{}, &Error{Reason: ReasonNoReader, Detail: fmt.Sprintf("no reader named %q (have %s)", name, strings.Join(names, ", "))}
	}
	var ms []string
	for _, m := range matches {
		ms = append(ms, m.name)
	}
	return readerState{}, &Error{Reason: ReasonNoReader, Detail: fmt.Sprintf("%q matches several readers: %s", name, strings.Join(ms, ", "))}
}

// Connect opens an exclusive session with the card in reader name (an exact name, or a part of
// exactly one reader's name). Exclusive, so that no other program can interleave commands
// between this client's VERIFY and its signature.
func (p *PCSC) Connect(ctx context.Context, name string) (*PCSCCard, error) {
	sts, err := p.states(ctx)
	if err != nil {
		return nil, withOp("connect", err)
	}
	st, err := resolve(sts, name)
	if err != nil {
		return nil, withOp("connect", err)
	}
	return p.connect(ctx, st)
}

func (p *PCSC) connect(ctx context.Context, st readerState) (*PCSCCard, error) {
	var card *pcsc.Card
	err := p.call(ctx, func() error {
		var err error
		card, err = p.client.Connect(st.name, pcsc.ShareExclusive, pcsc.ProtocolAny)
		return err
	})
	if err != nil {
		err = classify(err, false)
		if e := (*Error)(nil); errors.As(err, &e) && e.Detail == "" {
			e.Detail = st.name
		}
		return nil, withOp("connect", err)
	}
	return &PCSCCard{p: p, card: card, name: st.name, events: st.events, atr: st.atr}, nil
}

// WaitForCard waits until a card is in reader name (any reader when name is empty) and opens an
// exclusive session with it. It gives up when ctx ends, with ReasonNoCard. A card another
// program holds is waited for, like an empty reader.
func (p *PCSC) WaitForCard(ctx context.Context, name string) (*PCSCCard, error) {
	timedOut := func() error {
		return &Error{Reason: ReasonNoCard, Op: "wait for card", Detail: "no card was inserted in time", Err: ctx.Err()}
	}
	for {
		c, err := p.tryCard(ctx, name)
		if c != nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, timedOut()
		}
		if err != nil && ReasonOf(err) != ReasonBusy {
			return nil, err
		}
		t := time.NewTimer(p.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, timedOut()
		case <-t.C:
		}
	}
}

// FirstCard opens a session with the card in reader name, or in the first reader that holds
// one when name is empty, without waiting.
func (p *PCSC) FirstCard(ctx context.Context, name string) (*PCSCCard, error) {
	c, err := p.tryCard(ctx, name)
	if err != nil {
		return nil, err
	}
	if c == nil {
		d := "no reader holds a card"
		if name != "" {
			d = "the reader is empty"
		}
		return nil, &Error{Reason: ReasonNoCard, Op: "connect", Detail: d}
	}
	return c, nil
}

// tryCard returns a session with a card, nil if none is present now, or an error: ReasonBusy
// when the only cards present are held by another program, or one that waiting would not cure.
func (p *PCSC) tryCard(ctx context.Context, name string) (*PCSCCard, error) {
	sts, err := p.states(ctx)
	if err != nil {
		return nil, withOp("connect", err)
	}
	if name != "" {
		st, err := resolve(sts, name)
		if err != nil {
			return nil, withOp("connect", err)
		}
		sts = []readerState{st}
	} else if len(sts) == 0 {
		return nil, &Error{Reason: ReasonNoReader, Op: "connect", Detail: "pcscd lists no readers"}
	}
	var busy error
	for _, st := range sts {
		if !st.present {
			continue
		}
		c, err := p.connect(ctx, st)
		if err == nil {
			return c, nil
		}
		switch ReasonOf(err) {
		case ReasonBusy:
			busy = &Error{Reason: ReasonBusy, Op: "connect", Detail: fmt.Sprintf("another program holds the card in %s", st.name)}
			continue
		case ReasonNoCard, ReasonNoReader:
			continue // pulled (or the reader vanished) between the listing and the connect
		}
		return nil, err
	}
	return nil, busy
}

// PCSCCard is an exclusive session with a card in a PC/SC reader. It implements Transport.
type PCSCCard struct {
	p      *PCSC
	card   *pcsc.Card
	name   string
	events uint32 // pcscd's event counter of the reader when the session began
	atr    []byte

	verified bool // a VERIFY was sent: reset the card on Close
	closed   bool
}

// Reader returns the reader's name.
func (c *PCSCCard) Reader() string { return c.name }

// ATR returns the card's answer to reset, as pcscd reported it when the session began.
func (c *PCSCCard) ATR() []byte { return append([]byte(nil), c.atr...) }

// Transmit sends one APDU through pcscd. pcscd reports a pulled card in more than one way: an
// error code (removed, no card, transaction failed) or, with vpcd, one empty response first;
// both become ReasonCardRemoved (an empty response once pcscd confirms the card is gone).
func (c *PCSCCard) Transmit(ctx context.Context, capdu []byte) ([]byte, error) {
	if c.closed {
		return nil, &Error{Reason: ReasonCardRemoved, Detail: "session closed"}
	}
	if len(capdu) >= 2 && capdu[1] == 0x20 {
		c.verified = true
	}
	var resp []byte
	err := c.p.call(ctx, func() error {
		var err error
		resp, _, err = c.card.Transmit(capdu)
		return err
	})
	if err != nil {
		return nil, classify(err, true)
	}
	if len(resp) < 2 {
		if c.waitGone(ctx) {
			return nil, &Error{Reason: ReasonCardRemoved, Detail: c.name}
		}
		return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("reader returned %d bytes, no status word", len(resp))}
	}
	return resp, nil
}

// waitGone polls the reader state for up to 2 s (pcscd checks card presence every 400 ms) and
// reports whether the card is gone.
func (c *PCSCCard) waitGone(ctx context.Context) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		present, err := c.Present(ctx)
		if err != nil || !present {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Present reports whether the card of this session is still in the reader: a card is present
// and pcscd counted no removal or insertion since the session began.
func (c *PCSCCard) Present(ctx context.Context) (bool, error) {
	sts, err := c.p.states(ctx)
	if err != nil {
		return false, err
	}
	for _, st := range sts {
		if st.name == c.name {
			return st.present && st.events == c.events, nil
		}
	}
	return false, nil
}

// Close ends the session, resetting the card if a PIN was presented so that no other program
// inherits the verified state. A card already gone is not an error.
func (c *PCSCCard) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	disp := uint32(pcsc.LeaveCard)
	if c.verified {
		disp = pcsc.ResetCard
	}
	err := c.p.call(context.Background(), func() error { return c.card.Disconnect(disp) })
	err = classify(err, true)
	if r := ReasonOf(err); r == ReasonCardRemoved || r == ReasonNoCard {
		return nil
	}
	return withOp("disconnect", err)
}
