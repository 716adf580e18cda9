package verify

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// Purpose is what a certificate is presented for: its two values decide which key and CA are
// expected. platform.Purpose, what a session proves, is a type of its own because it has a
// third value, chip_reading, that presents no certificate; the platform converts the two
// certificate purposes in one place (platform/session.go) when it calls Certificate.
type Purpose string

// The two purposes of the platform.
const (
	PurposeIdentity Purpose = "identity" // 本人確認: the signing certificate, basic 4 facts decoded
	PurposeLogin    Purpose = "login"    // 利用者認証: the authentication certificate, no personal data
)

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool { return p == PurposeIdentity || p == PurposeLogin }

// String returns "identity" or "login".
func (p Purpose) String() string {
	switch p {
	case PurposeIdentity:
		return "identity"
	case PurposeLogin:
		return "login"
	}
	return fmt.Sprintf("Purpose(%q)", string(p))
}

// Kind returns the kind of certificate the purpose needs (sign for identity, auth for login),
// and "" for an unknown purpose.
func (p Purpose) Kind() jpki.Kind {
	switch p {
	case PurposeIdentity:
		return jpki.KindSign
	case PurposeLogin:
		return jpki.KindAuth
	}
	return ""
}

// Options are the inputs of Certificate besides the certificate.
type Options struct {
	// Roots are the trusted CA certificates for the purpose: for identity the signing CA(s)
	// (card and phone), for login the authentication CA(s). Trust is pinned to these exact
	// certificates (keys), never to names: a lookalike CA with the same DN and another key fails.
	// Several generations of one CA (same DN, different keys) may be given together.
	Roots []*x509.Certificate
	// PhoneRoots are further trusted CAs that issue only smartphone credentials (the
	// simulator's --phone-cas). A certificate that chains to one of them is reported with
	// Result.Phone set. Optional: when phone credentials come from the card CAs, as by default,
	// put those in Roots and the two media cannot be told apart.
	PhoneRoots []*x509.Certificate
	// At is the time of verification. It is REQUIRED: the package reads no clock.
	At time.Time
	// Purpose selects the certificate kind and profile checks. It is REQUIRED.
	Purpose Purpose
}

// Result describes an accepted certificate.
type Result struct {
	// Cert is the parsed certificate.
	Cert *x509.Certificate
	// Issuer is the root from Options.Roots or Options.PhoneRoots that signed it.
	Issuer *x509.Certificate
	// Kind is jpki.KindSign for identity, jpki.KindAuth for login.
	Kind jpki.Kind
	// Basic4 are the holder's basic 4 facts from the signing certificate; nil for login.
	Basic4 *jpki.Basic4
	// Phone is true when the certificate chains to one of Options.PhoneRoots, i.e. it was
	// issued for a smartphone credential. False when that cannot be told.
	Phone bool
}

// Size limits of what Certificate accepts. A JPKI certificate is under 2 KiB; the limits keep
// a hostile input from costing more than a real one.
const (
	maxCertificateSize = 16 << 10
	minRSABits         = 2048
	maxRSABits         = 4096
)

// Certificate checks a DER certificate for opts.Purpose at opts.At against opts.Roots and returns
// what it learned, or an *Error whose Reason says why it was rejected. The checks and their order
// are in the package documentation. It does no revocation checking (package revocation does).
func Certificate(der []byte, opts Options) (*Result, error) {
	want, err := opts.check()
	if err != nil {
		return nil, err
	}
	cert, verr := parse(der)
	if verr != nil {
		return nil, verr
	}
	if kind, ok := KindOf(cert); ok && kind != want {
		return nil, wrongKind(cert, kind, opts.Purpose)
	}
	root, phone, rootExpired, verr := chain(cert, opts)
	if verr != nil {
		return nil, verr
	}
	if opts.At.Before(cert.NotBefore) {
		return nil, reject(ReasonNotYetValid, cert, "certificate is not valid before %s (verified at %s)",
			cert.NotBefore.UTC().Format(time.RFC3339), opts.At.UTC().Format(time.RFC3339))
	}
	if opts.At.After(cert.NotAfter) {
		return nil, reject(ReasonExpired, cert, "certificate expired at %s (verified at %s)",
			cert.NotAfter.UTC().Format(time.RFC3339), opts.At.UTC().Format(time.RFC3339))
	}
	if rootExpired {
		return nil, reject(ReasonChainInvalid, cert, "root %s (serial %X) expired at %s (verified at %s)", root.Subject, root.SerialNumber,
			root.NotAfter.UTC().Format(time.RFC3339), opts.At.UTC().Format(time.RFC3339))
	}
	if verr := profile(cert, want, opts.Purpose); verr != nil {
		return nil, verr
	}
	res := &Result{Cert: cert, Issuer: root, Kind: want, Phone: phone}
	if want == jpki.KindSign {
		b4, verr := basic4(cert)
		if verr != nil {
			return nil, verr
		}
		res.Basic4 = b4
	}
	return res, nil
}

// check validates the options and returns the certificate kind the purpose needs.
func (o *Options) check() (jpki.Kind, error) {
	want := o.Purpose.Kind()
	switch {
	case want == "":
		return "", usagef("unknown purpose %v", o.Purpose)
	case o.At.IsZero():
		return "", usagef("Options.At is required")
	case len(o.Roots)+len(o.PhoneRoots) == 0:
		return "", usagef("no trusted roots")
	}
	for _, set := range [][]*x509.Certificate{o.Roots, o.PhoneRoots} {
		for _, r := range set {
			if r == nil {
				return "", usagef("nil root certificate")
			}
		}
	}
	return want, nil
}

// parse is step 1: strict DER and the cryptographic shape of a JPKI certificate.
func parse(der []byte) (*x509.Certificate, *Error) {
	switch {
	case len(der) == 0:
		return nil, reject(ReasonMalformed, nil, "certificate is empty")
	case len(der) > maxCertificateSize:
		return nil, reject(ReasonMalformed, nil, "certificate is %d bytes, more than %d", len(der), maxCertificateSize)
	}
	// ParseCertificate is strict DER (cryptobyte: minimal lengths, no indefinite lengths), and
	// rejects trailing data, duplicate extensions and mismatched inner and outer algorithms.
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, reject(ReasonMalformed, nil, "%v", err)
	}
	if cert.Version != 3 {
		return nil, reject(ReasonMalformed, cert, "certificate is X.509 v%d, want v3", cert.Version)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, reject(ReasonMalformed, cert, "public key is %v, want RSA", cert.PublicKeyAlgorithm)
	}
	if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, reject(ReasonMalformed, cert, "RSA key is %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if cert.SignatureAlgorithm != x509.SHA256WithRSA {
		return nil, reject(ReasonMalformed, cert, "certificate is signed with %v, want %v", cert.SignatureAlgorithm, x509.SHA256WithRSA)
	}
	return cert, nil
}

// chain is step 3: the certificate is signed by the key of a trusted root of the same name.
// Roots are matched by name (a byte compare), and tried first where the certificate's
// authorityKeyIdentifier equals the root's subjectKeyIdentifier, only to avoid needless RSA
// operations when several generations of a CA share one DN; the signature decides, and roots
// whose key identifier differs are still tried when no other verifies. A root that has expired
// at opts.At is used only when no other root fits, and is returned as expired: Certificate
// rejects it after the leaf's own validity check, so that an expired leaf is reported as expired.
//
// A root's notBefore is not checked. RFC 5280 §6.1.1 (d) makes the trust anchor a name and a
// key, not a certificate with a validity; and J-LIS dates leaves from 00:00 JST of the issue
// day, which on a CA's first day is before the CA's own certificate starts.
func chain(cert *x509.Certificate, opts Options) (*x509.Certificate, bool, bool, *Error) {
	named := 0
	var lastErr error
	var expired *x509.Certificate // a root that verifies but has expired: the fallback
	var expiredPhone bool
	for pass := range 2 {
		for i, set := range [][]*x509.Certificate{opts.Roots, opts.PhoneRoots} {
			for _, r := range set {
				if !bytes.Equal(r.RawSubject, cert.RawIssuer) {
					continue
				}
				keyIDMatch := len(cert.AuthorityKeyId) == 0 || len(r.SubjectKeyId) == 0 ||
					bytes.Equal(cert.AuthorityKeyId, r.SubjectKeyId)
				if keyIDMatch != (pass == 0) {
					continue
				}
				named++
				if err := cert.CheckSignatureFrom(r); err != nil {
					lastErr = err
					continue
				}
				if opts.At.After(r.NotAfter) {
					if expired == nil {
						expired, expiredPhone = r, i == 1
					}
					continue
				}
				return r, i == 1, false, nil
			}
		}
	}
	if expired != nil {
		return expired, expiredPhone, true, nil
	}
	if named == 0 {
		return nil, false, false, reject(ReasonChainInvalid, cert, "issuer %s is not a trusted root for %v", cert.Issuer, opts.Purpose)
	}
	return nil, false, false, reject(ReasonChainInvalid, cert, "signature does not verify with the key of any of the %d trusted roots named %s: %v",
		named, cert.Issuer, lastErr)
}

// profile is step 5: the JPKI end-entity profile of the certificate's kind.
func profile(cert *x509.Certificate, want jpki.Kind, purpose Purpose) *Error {
	if len(cert.UnhandledCriticalExtensions) > 0 {
		return reject(ReasonProfile, cert, "certificate has an unknown critical extension %v", cert.UnhandledCriticalExtensions[0])
	}
	if cert.BasicConstraintsValid && cert.IsCA {
		return reject(ReasonProfile, cert, "certificate is a CA certificate")
	}
	if cert.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		return reject(ReasonProfile, cert, "keyUsage allows signing certificates or CRLs")
	}
	kind, problem := policyKind(cert)
	if kind == "" {
		return reject(ReasonProfile, cert, "%s", problem)
	}
	if kind != want {
		return wrongKind(cert, kind, purpose)
	}
	if problem := keyUsageProblem(cert, kind); problem != "" {
		return reject(ReasonProfile, cert, "%s", problem)
	}
	if kind == jpki.KindAuth {
		if san := subjectAltName(cert); san != nil {
			if _, err := jpki.ParseSubjectAltName(san); !errors.Is(err, jpki.ErrNoBasic4) {
				return reject(ReasonProfile, cert, "authentication certificate carries personal data in its subjectAltName")
			}
		}
	}
	return nil
}

// basic4 is step 6. The error detail is generic on purpose: jpki's parse errors quote the values
// they reject, which are personal data.
func basic4(cert *x509.Certificate) (*jpki.Basic4, *Error) {
	san := subjectAltName(cert)
	if san == nil {
		return nil, reject(ReasonProfile, cert, "signing certificate has no subjectAltName")
	}
	b4, err := jpki.ParseSubjectAltName(san)
	if errors.Is(err, jpki.ErrNoBasic4) {
		return nil, reject(ReasonProfile, cert, "signing certificate has no basic 4 facts in its subjectAltName")
	}
	if err != nil {
		return nil, reject(ReasonProfile, cert, "signing certificate's basic 4 facts are not well formed")
	}
	return &b4, nil
}

func wrongKind(cert *x509.Certificate, kind jpki.Kind, purpose Purpose) *Error {
	return reject(ReasonWrongKind, cert, "%s certificate presented for %v, which needs a %s certificate", kind, purpose, purpose.Kind())
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// subjectAltName returns the raw subjectAltName extension value, or nil. ParseCertificate has
// already rejected duplicate extensions.
func subjectAltName(cert *x509.Certificate) []byte {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidSubjectAltName) {
			return e.Value
		}
	}
	return nil
}

// KindOf returns the kind of a JPKI end-entity certificate: the kind its single JPKI
// certificate policy names (production or test), provided its key usage agrees
// (digitalSignature and nonRepudiation for signing, digitalSignature for authentication). It
// returns false for anything else: no policy, several, a foreign one, or a contradicting key
// usage. It checks nothing else, in particular not who signed the certificate.
func KindOf(cert *x509.Certificate) (jpki.Kind, bool) {
	if cert == nil {
		return "", false
	}
	kind, _ := policyKind(cert)
	if kind == "" || keyUsageProblem(cert, kind) != "" {
		return "", false
	}
	return kind, true
}

// policyKind returns the kind named by the certificate's one policy, or "" and the problem.
func policyKind(cert *x509.Certificate) (jpki.Kind, string) {
	switch len(cert.Policies) {
	case 0:
		return "", "certificate has no certificate policy"
	case 1:
	default:
		return "", fmt.Sprintf("certificate has %d certificate policies, want one", len(cert.Policies))
	}
	p := cert.Policies[0]
	switch {
	case p.EqualASN1OID(jpki.OIDPolicySign), p.EqualASN1OID(jpki.OIDPolicySignTest):
		return jpki.KindSign, ""
	case p.EqualASN1OID(jpki.OIDPolicyAuth), p.EqualASN1OID(jpki.OIDPolicyAuthTest):
		return jpki.KindAuth, ""
	}
	return "", fmt.Sprintf("certificate policy %s is not a JPKI signing or authentication policy", p)
}

// keyUsageProblem checks keyUsage for the kind. nonRepudiation is not forbidden on an
// authentication certificate: its exact bits are not published (jpki-reference §5.2).
func keyUsageProblem(cert *x509.Certificate, kind jpki.Kind) string {
	ku := cert.KeyUsage
	if ku&x509.KeyUsageDigitalSignature == 0 {
		return "keyUsage lacks digitalSignature"
	}
	if kind == jpki.KindSign && ku&x509.KeyUsageContentCommitment == 0 {
		return "signing certificate's keyUsage lacks nonRepudiation"
	}
	return ""
}
