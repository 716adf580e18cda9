// Package apdu encodes and decodes ISO/IEC 7816-4 application protocol data units: command
// APDUs in the four cases with short and extended length fields (§5.1), response APDUs, and the
// status words the My Number Card uses.
//
// It owns the byte format only. It does not know any card's files or commands (package card
// is the card, package reader the host) and does no transport framing (T=0 GET RESPONSE,
// chaining, vpcd frames).
//
// Parsing is strict: ParseCommand accepts exactly the encodings §5.1 allows and reports every
// other byte string with a *ParseError whose Reason says what is wrong, so that a card can map
// it to a status word. The package is small enough that writing it is cheaper and easier to
// fuzz than depending on a general smart-card library.
//
// [ISO/IEC 7816-4:2020 §5]: https://www.iso.org/standard/77180.html
package apdu

import (
	"errors"
	"fmt"
)

// Limits of the length fields (ISO/IEC 7816-4 §5.1).
const (
	MaxShortNc    = 255   // Lc in one byte
	MaxShortNe    = 256   // Le 00 in one byte
	MaxExtendedNc = 65535 // Lc in 00 + two bytes
	MaxExtendedNe = 65536 // Le 0000 in two (or 00 + two) bytes
)

// Command is a command APDU.
type Command struct {
	CLA, INS, P1, P2 byte
	// Data is the command data field (Nc = len(Data)); nil or empty means no Lc field.
	Data []byte
	// Ne is the maximum number of response data bytes expected; 0 means no Le field. A short
	// Le 00 decodes as 256 and an extended Le 0000 as 65536.
	Ne int
	// Extended forces extended length fields when encoding; it is set by ParseCommand when the
	// input used them. Encoding also uses them whenever Nc > 255 or Ne > 256.
	Extended bool
}

// Case returns the ISO 7816-4 case of the command: 1 (no data, no Le), 2 (Le only), 3 (data
// only) or 4 (data and Le).
func (c Command) Case() int {
	switch {
	case len(c.Data) == 0 && c.Ne == 0:
		return 1
	case len(c.Data) == 0:
		return 2
	case c.Ne == 0:
		return 3
	}
	return 4
}

// Reason says why a byte string is not a command APDU.
type Reason int

// The reasons ParseCommand reports.
const (
	// ReasonTooShort: fewer than the four header bytes.
	ReasonTooShort Reason = iota + 1
	// ReasonLength: the body does not match any case; a card answers 6700.
	ReasonLength
	// ReasonZeroLc: an extended Lc of 0000, which §5.1 forbids; a card answers 6700.
	ReasonZeroLc
	// ReasonInvalidCLA: CLA FF, reserved for protocol type selection; a card answers 6E00.
	ReasonInvalidCLA
	// ReasonTooLong: Nc or Ne above the extended limits when encoding.
	ReasonTooLong
)

func (r Reason) String() string {
	switch r {
	case ReasonTooShort:
		return "shorter than the 4-byte header"
	case ReasonLength:
		return "body length matches no case of ISO 7816-4 §5.1"
	case ReasonZeroLc:
		return "extended Lc is zero"
	case ReasonInvalidCLA:
		return "CLA FF is invalid"
	case ReasonTooLong:
		return "field too long for extended length"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// ParseError is returned by ParseCommand and Command.Bytes for an ill-formed APDU.
type ParseError struct {
	Reason Reason
	Len    int // length of the input (ParseCommand) or of the field (Bytes)
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("apdu: malformed command APDU (%d bytes): %s", e.Len, e.Reason)
}

// Is lets errors.Is(err, ErrMalformed) match every ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// ErrMalformed matches every *ParseError with errors.Is. Callers that need the reason use
// errors.As; a card maps it with StatusFor.
var ErrMalformed = errors.New("apdu: malformed command APDU")

// ParseCommand decodes a command APDU (ISO/IEC 7816-4 §5.1). The returned Data aliases b.
func ParseCommand(b []byte) (Command, error) {
	n := len(b)
	if n < 4 {
		return Command{}, &ParseError{ReasonTooShort, n}
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	if c.CLA == 0xFF {
		return Command{}, &ParseError{ReasonInvalidCLA, n}
	}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2S
		c.Ne = shortNe(body[0])
		return c, nil
	case body[0] != 0: // case 3S or 4S
		nc := int(body[0])
		switch len(body) {
		case 1 + nc:
			c.Data = body[1:]
			return c, nil
		case 2 + nc:
			c.Data = body[1 : 1+nc]
			c.Ne = shortNe(body[1+nc])
			return c, nil
		}
		return Command{}, &ParseError{ReasonLength, n}
	case len(body) == 3: // case 2E: 00 Le1 Le2
		c.Ne = extendedNe(body[1], body[2])
		c.Extended = true
		return c, nil
	case len(body) < 3:
		return Command{}, &ParseError{ReasonLength, n}
	}
	// case 3E or 4E: 00 Lc1 Lc2 data [Le1 Le2]
	nc := int(body[1])<<8 | int(body[2])
	if nc == 0 {
		return Command{}, &ParseError{ReasonZeroLc, n}
	}
	c.Extended = true
	switch len(body) {
	case 3 + nc:
		c.Data = body[3:]
		return c, nil
	case 5 + nc:
		c.Data = body[3 : 3+nc]
		c.Ne = extendedNe(body[3+nc], body[4+nc])
		return c, nil
	}
	return Command{}, &ParseError{ReasonLength, n}
}

func shortNe(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

func extendedNe(hi, lo byte) int {
	ne := int(hi)<<8 | int(lo)
	if ne == 0 {
		return MaxExtendedNe
	}
	return ne
}

// Bytes encodes the command. It uses short length fields unless Extended is set or Nc > 255
// or Ne > 256. It fails only when Nc or Ne exceed the extended limits or Ne is negative.
func (c Command) Bytes() ([]byte, error) {
	nc, ne := len(c.Data), c.Ne
	if nc > MaxExtendedNc {
		return nil, &ParseError{ReasonTooLong, nc}
	}
	if ne > MaxExtendedNe || ne < 0 {
		return nil, &ParseError{ReasonTooLong, ne}
	}
	if c.CLA == 0xFF {
		return nil, &ParseError{ReasonInvalidCLA, 4}
	}
	out := make([]byte, 4, 4+3+nc+3)
	out[0], out[1], out[2], out[3] = c.CLA, c.INS, c.P1, c.P2
	extended := c.Extended || nc > MaxShortNc || ne > MaxShortNe
	if !extended {
		if nc > 0 {
			out = append(out, byte(nc))
			out = append(out, c.Data...)
		}
		if ne > 0 {
			out = append(out, byte(ne)) // 256 → 00
		}
		return out, nil
	}
	if nc > 0 {
		out = append(out, 0, byte(nc>>8), byte(nc))
		out = append(out, c.Data...)
	}
	if ne > 0 {
		if nc == 0 {
			out = append(out, 0)
		}
		out = append(out, byte(ne>>8), byte(ne)) // 65536 → 00 00
	}
	return out, nil
}

// MustBytes is Bytes for commands known to be well formed (constants in tests and readers).
// It panics on an encoding error.
func (c Command) MustBytes() []byte {
	b, err := c.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// String formats the command as hex: "00 A4 04 0C [0A] D392…".
func (c Command) String() string {
	s := fmt.Sprintf("%02X %02X %02X %02X", c.CLA, c.INS, c.P1, c.P2)
	if len(c.Data) > 0 {
		s += fmt.Sprintf(" [%d] %X", len(c.Data), c.Data)
	}
	if c.Ne > 0 {
		s += fmt.Sprintf(" Ne=%d", c.Ne)
	}
	return s
}

// Response is a response APDU: the data field and the status word.
type Response struct {
	Data []byte
	SW   StatusWord
}

// ErrShortResponse is returned by ParseResponse for fewer than two bytes: there is no status
// word, which a transport must treat as a broken exchange.
var ErrShortResponse = errors.New("apdu: response shorter than a status word")

// ParseResponse splits a response APDU into data and status word. Data aliases b.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, ErrShortResponse
	}
	n := len(b) - 2
	return Response{Data: b[:n], SW: StatusWord(uint16(b[n])<<8 | uint16(b[n+1]))}, nil
}

// Bytes encodes the response: data followed by SW1 SW2.
func (r Response) Bytes() []byte {
	out := make([]byte, 0, len(r.Data)+2)
	out = append(out, r.Data...)
	return append(out, r.SW.SW1(), r.SW.SW2())
}

// Err returns nil when the status word is 9000 and a *StatusError otherwise.
func (r Response) Err() error { return r.SW.Err() }
