package verify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Reason says why a certificate or a signature was rejected. Each reason is one problem type of
// the platform's API; String gives its stable slug.
type Reason int

// The reasons, in the order Certificate checks them.
const (
	// ReasonMalformed: the input is not one strict DER X.509 v3 certificate with an RSA key of
	// 2048 to 4096 bits signed with sha256WithRSAEncryption (trailing bytes, truncation,
	// garbage, a v1 certificate, an EC key, a short key).
	ReasonMalformed Reason = iota + 1
	// ReasonChainInvalid: the certificate is not signed by the key of any of Options.Roots (an
	// unknown issuer, or a lookalike CA with the same name and another key), or the root it
	// names is not valid at Options.At.
	ReasonChainInvalid
	// ReasonExpired: Options.At is after the certificate's notAfter.
	ReasonExpired
	// ReasonNotYetValid: Options.At is before the certificate's notBefore.
	ReasonNotYetValid
	// ReasonWrongKind: an authentication certificate presented for identity, or a signing
	// certificate presented for login.
	ReasonWrongKind
	// ReasonProfile: the certificate chains and is valid but does not follow the JPKI profile
	// of its kind (key usage, certificate policy, basic-4 subjectAltName, CA flag, unknown
	// critical extensions).
	ReasonProfile
	// ReasonSignatureInvalid: the signature is not an RSASSA-PKCS1-v1_5 SHA-256 signature by the
	// certificate's key over the message.
	ReasonSignatureInvalid
)

var reasonSlugs = map[Reason]string{
	ReasonMalformed:        "malformed-certificate",
	ReasonChainInvalid:     "chain-invalid",
	ReasonExpired:          "cert-expired",
	ReasonNotYetValid:      "cert-not-yet-valid",
	ReasonWrongKind:        "wrong-certificate-kind",
	ReasonProfile:          "profile-invalid",
	ReasonSignatureInvalid: "signature-invalid",
}

// String returns the stable problem-type slug of the reason (for example "chain-invalid"). The
// slugs are part of the API: they never change.
func (r Reason) String() string {
	if s, ok := reasonSlugs[r]; ok {
		return s
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error is the verdict of Certificate or Signature when the input is rejected. Callers branch on
// Reason (errors.As, or ReasonOf); Detail is for logs and for people, and is free of personal
// data: it never repeats the basic 4 facts or the subject of a signing certificate.
type Error struct {
	Reason Reason
	// Detail explains the rejection in one line.
	Detail string
	// Cert is the presented certificate, or nil when it could not be parsed. It may hold
	// personal data; log the error through LogValue, which does not.
	Cert *x509.Certificate
}

// Error returns "verify: <reason>: <detail>".
func (e *Error) Error() string {
	return "verify: " + e.Reason.String() + ": " + e.Detail
}

// LogValue implements slog.LogValuer. It logs the reason, the detail and the certificate's
// serial number and issuer, never its subject or subjectAltName: a signing certificate's subject
// names the holder's municipality and its subjectAltName carries the basic 4 facts.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", e.Reason.String()), slog.String("detail", e.Detail)}
	if e.Cert != nil {
		if e.Cert.SerialNumber != nil {
			attrs = append(attrs, slog.String("serial", strings.ToUpper(e.Cert.SerialNumber.Text(16))))
		}
		attrs = append(attrs, slog.String("issuer", e.Cert.Issuer.String()))
	}
	return slog.GroupValue(attrs...)
}

// ReasonOf returns the Reason of the *Error in err's chain, and false when err is not a
// verification verdict (nil, or ErrUsage).
func ReasonOf(err error) (Reason, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason, true
	}
	return 0, false
}

// ErrUsage is returned, wrapped with the particulars, when the caller breaks the contract of
// Certificate or Signature: Options.At is zero, there are no roots, the purpose is unknown, or
// the certificate is nil. It is a bug in the caller, not a verdict on the holder's input:
// report it as an internal error and do not show it to the holder.
var ErrUsage = errors.New("verify: invalid use")

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, a...)...)
}

func reject(r Reason, cert *x509.Certificate, format string, a ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, a...), Cert: cert}
}
