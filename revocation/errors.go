package revocation

import (
	"fmt"
	"log/slog"
)

// Reason says why a CRL was refused.
type Reason int

// Reasons a CRL is refused. Whatever the reason, a caller holding a previous index MUST keep
// using it (and report the failure): a refused CRL tells nothing about any certificate.
const (
	// ReasonMalformed: the bytes are not a DER CertificateList, or not one that follows the
	// RFC 5280 §5 profile (no nextUpdate, no cRLNumber, a non-minimal INTEGER, a duplicate
	// extension, trailing bytes, fractional seconds, ...). A truncated download lands here.
	ReasonMalformed Reason = iota + 1
	// ReasonUnsupported: well formed, but outside what this reader handles: a signature algorithm
	// other than RSA PKCS #1 v1.5, ECDSA or Ed25519 with SHA-2, an unknown critical extension
	// (RFC 5280 §5.2 and §5.3 then forbid using the CRL), a delta or indirect CRL, a partial CRL
	// (onlySomeReasons), or a revocation time outside 1970–2106.
	ReasonUnsupported
	// ReasonBadSignature: the issuer's key did not sign these bytes.
	ReasonBadSignature
	// ReasonWrongIssuer: the CRL names another issuer or another issuer key (authority key
	// identifier), or the given issuer certificate may not sign CRLs.
	ReasonWrongIssuer
	// ReasonNumberWentBackwards: the cRLNumber is lower than the one of the previous CRL
	// (RFC 5280 §5.2.3: it MUST increase). A replayed old CRL lands here.
	ReasonNumberWentBackwards
	// ReasonNumberReused: the cRLNumber equals the previous CRL's but the contents differ.
	ReasonNumberReused
	// ReasonThisUpdateInFuture: thisUpdate is later than the caller's clock plus the allowed skew.
	ReasonThisUpdateInFuture
)

var reasonNames = map[Reason]string{
	ReasonMalformed:           "malformed",
	ReasonUnsupported:         "unsupported",
	ReasonBadSignature:        "bad-signature",
	ReasonWrongIssuer:         "wrong-issuer",
	ReasonNumberWentBackwards: "number-went-backwards",
	ReasonNumberReused:        "number-reused",
	ReasonThisUpdateInFuture:  "this-update-in-future",
}

// String returns the stable kebab-case name of r, fit for metrics labels and problem types.
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Error is the error returned for a refused CRL. Compare kinds with errors.Is against the
// sentinels below, or errors.As and Reason; never by message.
type Error struct {
	Reason Reason
	Detail string // what was wrong and where (byte offset, entry number), for logs
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "revocation: CRL " + e.Reason.String()
	}
	return "revocation: CRL " + e.Reason.String() + ": " + e.Detail
}

// Is reports whether target is an *Error of the same Reason, so that
// errors.Is(err, revocation.ErrBadSignature) works whatever the detail.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// LogValue logs the reason and the detail as separate attributes.
func (e *Error) LogValue() slog.Value {
	return slog.GroupValue(slog.String("reason", e.Reason.String()), slog.String("detail", e.Detail))
}

// Sentinels for errors.Is, one per Reason. Every one of them means "refuse this CRL and keep the
// previous index"; they differ in what an operator should look at.
var (
	// ErrMalformed: the download may be truncated or corrupt; fetch again later.
	ErrMalformed = &Error{Reason: ReasonMalformed}
	// ErrUnsupported: the CA uses a feature this reader lacks; a fetch retry will not help.
	ErrUnsupported = &Error{Reason: ReasonUnsupported}
	// ErrBadSignature: tampered with in transit, or the configured issuer key is wrong. Alert.
	ErrBadSignature = &Error{Reason: ReasonBadSignature}
	// ErrWrongIssuer: the URL serves another CA's CRL; check the configuration.
	ErrWrongIssuer = &Error{Reason: ReasonWrongIssuer}
	// ErrNumberWentBackwards: a replay or a stale cache; keep the newer CRL. Alert if repeated.
	ErrNumberWentBackwards = &Error{Reason: ReasonNumberWentBackwards}
	// ErrNumberReused: the CA published two different CRLs under one number. Alert.
	ErrNumberReused = &Error{Reason: ReasonNumberReused}
	// ErrThisUpdateInFuture: the CA's clock or ours is wrong; retry after the skew passes.
	ErrThisUpdateInFuture = &Error{Reason: ReasonThisUpdateInFuture}
)

func errorf(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
