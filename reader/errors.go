package reader

import (
	"errors"
	"fmt"
	"log/slog"
)

// Reason says why a reader operation failed. Callers branch on it (errors.As plus a Reason
// compare, or errors.Is against the sentinels below), never on the message.
type Reason int

// The reasons a reader operation fails.
const (
	// ReasonUnknown is the zero value; it is never returned on purpose.
	ReasonUnknown Reason = iota
	// ReasonNoService: the PC/SC daemon (pcscd) cannot be reached. Start pcscd, or check
	// PCSCLITE_CSOCK_NAME.
	ReasonNoService
	// ReasonNoReader: no card reader is attached, or the named one does not exist.
	ReasonNoReader
	// ReasonNoCard: the reader is empty (or every reader is). Ask the holder to insert the card.
	ReasonNoCard
	// ReasonBusy: another program holds the card exclusively. Retry later.
	ReasonBusy
	// ReasonCardRemoved: the card was pulled (or reset by someone else) during the operation.
	// Nothing that needed the card completed; ask the holder to insert it and start again.
	ReasonCardRemoved
	// ReasonNotJPKI: the card does not answer SELECT of the JPKI application (or of the
	// 券面事項入力補助AP, for the facts): it is not a My Number Card.
	ReasonNotJPKI
	// ReasonInvalidPIN: the PIN is not in the form the card accepts (4 digits; 6–16 upper-case
	// letters and digits for the signing password). The card was not asked, no try was used.
	ReasonInvalidPIN
	// ReasonWrongPIN: the card rejected the PIN. Error.TriesLeft says how many tries remain
	// (at least 1; when the last try is used the reason is ReasonPINBlocked).
	ReasonWrongPIN
	// ReasonPINBlocked: the PIN has no tries left. Only the municipal office can reset it.
	ReasonPINBlocked
	// ReasonLastTry: the caller asked to be protected from using the last try of a PIN
	// (Client.CheckTries) and only one is left. The card was not asked.
	ReasonLastTry
	// ReasonAccessDenied: the card refused an operation for lack of a verified PIN (6982).
	ReasonAccessDenied
	// ReasonNoCertificate: the card holds no such certificate (for example no signing
	// certificate on the card of a holder under 15).
	ReasonNoCertificate
	// ReasonMalformed: the card (or the reader) answered something that is not a valid response
	// to the command: no status word, a wrong length, a certificate or record that does not
	// parse, a signature that does not verify.
	ReasonMalformed
	// ReasonCardError: the card answered with a status word this client does not expect.
	// Error.SW holds it.
	ReasonCardError
	// ReasonUnsupported: the caller asked for something this client does not do (a hash or a
	// padding the card cannot sign with).
	ReasonUnsupported
	// ReasonTimeout: the reader did not answer in time (or the context ended).
	ReasonTimeout
)

var reasonNames = map[Reason]string{
	ReasonUnknown:       "unknown",
	ReasonNoService:     "no PC/SC service",
	ReasonNoReader:      "no reader",
	ReasonNoCard:        "no card",
	ReasonBusy:          "card busy",
	ReasonCardRemoved:   "card removed",
	ReasonNotJPKI:       "not a My Number Card",
	ReasonInvalidPIN:    "invalid PIN",
	ReasonWrongPIN:      "wrong PIN",
	ReasonPINBlocked:    "PIN blocked",
	ReasonLastTry:       "last PIN try",
	ReasonAccessDenied:  "access denied",
	ReasonNoCertificate: "no certificate",
	ReasonMalformed:     "malformed response",
	ReasonCardError:     "card error",
	ReasonUnsupported:   "unsupported",
	ReasonTimeout:       "timeout",
}

// String returns a short English name of the reason ("card removed", "wrong PIN", …).
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error is the one error type of package reader.
type Error struct {
	Reason Reason
	// Op is what was being done ("read auth certificate", "verify sign PIN").
	Op string
	// PIN is the PIN concerned, for the PIN reasons.
	PIN PIN
	// TriesLeft is the number of tries the PIN has left, for ReasonWrongPIN and ReasonLastTry.
	TriesLeft int
	// SW is the card's status word when the failure came from the card, else 0.
	SW uint16
	// Detail is a human explanation; may be empty.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	msg := "reader: "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	switch {
	case e.Reason == ReasonWrongPIN:
		msg += fmt.Sprintf("wrong %s, %s left", e.PIN, tries(e.TriesLeft))
	case e.Reason == ReasonPINBlocked && e.PIN != 0:
		msg += fmt.Sprintf("%s blocked", e.PIN)
	case e.Reason == ReasonInvalidPIN && e.PIN != 0:
		msg += fmt.Sprintf("invalid %s", e.PIN)
	case e.Reason == ReasonLastTry:
		msg += fmt.Sprintf("the %s has one try left and a wrong entry blocks it", e.PIN)
	default:
		msg += e.Reason.String()
	}
	if e.SW != 0 {
		msg += fmt.Sprintf(" (SW %04X)", e.SW)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// tries formats a try count: "1 try", "3 tries".
func tries(n int) string {
	if n == 1 {
		return "1 try"
	}
	return fmt.Sprintf("%d tries", n)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is one of the sentinels below (an *Error with only a Reason) with
// the same reason, so that errors.Is(err, reader.ErrCardRemoved) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Reason == e.Reason && t.Op == "" && t.Detail == "" && t.Err == nil
}

// LogValue implements slog.LogValuer; it never logs a PIN (Error holds none).
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", e.Reason.String())}
	if e.Op != "" {
		attrs = append(attrs, slog.String("op", e.Op))
	}
	if e.SW != 0 {
		attrs = append(attrs, slog.String("sw", fmt.Sprintf("%04X", e.SW)))
	}
	if e.Reason == ReasonWrongPIN || e.Reason == ReasonLastTry {
		attrs = append(attrs, slog.Int("tries_left", e.TriesLeft))
	}
	if e.Detail != "" {
		attrs = append(attrs, slog.String("detail", e.Detail))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("err", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Sentinels, one per reason, for errors.Is. What the caller should do is documented on the
// Reason constants.
var (
	ErrNoService     = &Error{Reason: ReasonNoService}
	ErrNoReader      = &Error{Reason: ReasonNoReader}
	ErrNoCard        = &Error{Reason: ReasonNoCard}
	ErrBusy          = &Error{Reason: ReasonBusy}
	ErrCardRemoved   = &Error{Reason: ReasonCardRemoved}
	ErrNotJPKI       = &Error{Reason: ReasonNotJPKI}
	ErrInvalidPIN    = &Error{Reason: ReasonInvalidPIN}
	ErrWrongPIN      = &Error{Reason: ReasonWrongPIN}
	ErrPINBlocked    = &Error{Reason: ReasonPINBlocked}
	ErrLastTry       = &Error{Reason: ReasonLastTry}
	ErrAccessDenied  = &Error{Reason: ReasonAccessDenied}
	ErrNoCertificate = &Error{Reason: ReasonNoCertificate}
	ErrMalformed     = &Error{Reason: ReasonMalformed}
	ErrCardError     = &Error{Reason: ReasonCardError}
	ErrUnsupported   = &Error{Reason: ReasonUnsupported}
	ErrTimeout       = &Error{Reason: ReasonTimeout}
)

// ReasonOf returns the Reason of err if it is (or wraps) an *Error, else ReasonUnknown.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonUnknown
}

// withOp fills in the operation of err if it is an *Error without one, and wraps other errors.
func withOp(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Op != "" {
			return err
		}
		c := *e
		c.Op = op
		return &c
	}
	return &Error{Reason: ReasonUnknown, Op: op, Err: err}
}
