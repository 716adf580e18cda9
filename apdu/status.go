package apdu

import (
	"errors"
	"fmt"
)

// StatusWord is SW1 SW2 of a response (ISO/IEC 7816-4 §5.6).
type StatusWord uint16

// Status words used by the My Number Card and by this project (ISO/IEC 7816-4 Table 5–6;
// the JPKI meanings follow JICSAP and the reference's §3.4).
const (
	SWOK                     StatusWord = 0x9000 // normal processing
	SWVerifyFailed           StatusWord = 0x63C0 // VERIFY failed / retry query; low nibble = tries left
	SWMemoryFailure          StatusWord = 0x6581 // memory failure (a counter could not be persisted)
	SWWrongLength            StatusWord = 0x6700 // wrong length (Lc or Le)
	SWLogicalChannelNotSupp  StatusWord = 0x6881 // logical channel not supported
	SWSecureMessagingNotSupp StatusWord = 0x6882 // secure messaging not supported
	SWChainingNotSupported   StatusWord = 0x6884 // command chaining not supported
	SWIncompatibleFile       StatusWord = 0x6981 // command incompatible with file structure
	SWSecurityNotSatisfied   StatusWord = 0x6982 // security status not satisfied
	SWAuthMethodBlocked      StatusWord = 0x6983 // authentication method blocked
	SWReferenceDataBlocked   StatusWord = 0x6984 // reference data not usable (blocked PIN IEF)
	SWConditionsNotSatisfied StatusWord = 0x6985 // conditions of use not satisfied
	SWNoCurrentEF            StatusWord = 0x6986 // command not allowed (no current EF)
	SWIncorrectData          StatusWord = 0x6A80 // incorrect parameters in the data field
	SWFunctionNotSupported   StatusWord = 0x6A81 // function not supported
	SWFileNotFound           StatusWord = 0x6A82 // file or application not found
	SWRecordNotFound         StatusWord = 0x6A83 // record not found
	SWIncorrectP1P2          StatusWord = 0x6A86 // incorrect parameters P1-P2
	SWReferenceDataNotFound  StatusWord = 0x6A88 // referenced data not found
	SWWrongP1P2              StatusWord = 0x6B00 // wrong parameters P1-P2 (offset beyond EOF)
	SWINSNotSupported        StatusWord = 0x6D00 // instruction code not supported
	SWCLANotSupported        StatusWord = 0x6E00 // class not supported
	SWNoPreciseDiagnosis     StatusWord = 0x6F00 // no precise diagnosis
	swBytesRemainingBase     StatusWord = 0x6100 // 61xx: xx more bytes (T=0)
	swWrongLeBase            StatusWord = 0x6C00 // 6Cxx: wrong Le, xx is exact
)

var swNames = map[StatusWord]string{
	SWOK:                     "success",
	SWMemoryFailure:          "memory failure",
	SWWrongLength:            "wrong length",
	SWLogicalChannelNotSupp:  "logical channel not supported",
	SWSecureMessagingNotSupp: "secure messaging not supported",
	SWChainingNotSupported:   "command chaining not supported",
	SWIncompatibleFile:       "command incompatible with file structure",
	SWSecurityNotSatisfied:   "security status not satisfied",
	SWAuthMethodBlocked:      "authentication method blocked",
	SWReferenceDataBlocked:   "reference data blocked",
	SWConditionsNotSatisfied: "conditions of use not satisfied",
	SWNoCurrentEF:            "command not allowed (no current EF)",
	SWIncorrectData:          "incorrect data",
	SWFunctionNotSupported:   "function not supported",
	SWFileNotFound:           "file not found",
	SWRecordNotFound:         "record not found",
	SWIncorrectP1P2:          "incorrect P1-P2",
	SWReferenceDataNotFound:  "referenced data not found",
	SWWrongP1P2:              "wrong P1-P2 (offset beyond end of file)",
	SWINSNotSupported:        "instruction not supported",
	SWCLANotSupported:        "class not supported",
	SWNoPreciseDiagnosis:     "no precise diagnosis",
}

// SW1 returns the first status byte.
func (sw StatusWord) SW1() byte { return byte(sw >> 8) }

// SW2 returns the second status byte.
func (sw StatusWord) SW2() byte { return byte(sw) }

// VerifyFailed returns 63Cx for x tries left (x is clamped to 0..15).
func VerifyFailed(triesLeft int) StatusWord {
	triesLeft = max(0, min(15, triesLeft))
	return SWVerifyFailed | StatusWord(triesLeft)
}

// TriesLeft reports the retry counter of a 63Cx status word.
func (sw StatusWord) TriesLeft() (int, bool) {
	if sw&0xFFF0 != SWVerifyFailed {
		return 0, false
	}
	return int(sw & 0x0F), true
}

// String returns the hex status word and its meaning, e.g. "6A82 (file not found)".
func (sw StatusWord) String() string {
	if n, ok := swNames[sw]; ok {
		return fmt.Sprintf("%04X (%s)", uint16(sw), n)
	}
	if n, ok := sw.TriesLeft(); ok {
		return fmt.Sprintf("%04X (verification failed, %d tries left)", uint16(sw), n)
	}
	switch sw & 0xFF00 {
	case swBytesRemainingBase:
		return fmt.Sprintf("%04X (%d more bytes available)", uint16(sw), int(sw.SW2()))
	case swWrongLeBase:
		return fmt.Sprintf("%04X (wrong Le, exact length %d)", uint16(sw), int(sw.SW2()))
	}
	return fmt.Sprintf("%04X", uint16(sw))
}

// StatusError is a response whose status word is not 9000.
type StatusError struct {
	SW StatusWord
}

func (e *StatusError) Error() string { return "apdu: card returned " + e.SW.String() }

// Err returns nil for 9000 and a *StatusError otherwise.
func (sw StatusWord) Err() error {
	if sw == SWOK {
		return nil
	}
	return &StatusError{SW: sw}
}

// IsStatus reports whether err is (or wraps) a *StatusError with the given status word.
func IsStatus(err error, sw StatusWord) bool {
	var se *StatusError
	return errors.As(err, &se) && se.SW == sw
}

// StatusFor maps a ParseCommand error to the status word a card answers with: 6E00 for an
// invalid class, 6700 for every length error.
func StatusFor(err error) StatusWord {
	var pe *ParseError
	if errors.As(err, &pe) && pe.Reason == ReasonInvalidCLA {
		return SWCLANotSupported
	}
	return SWWrongLength
}
