package reader

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/mynagate/mynagate/apdu"
	"github.com/mynagate/mynagate/jpki"
)

// digestInfoPrefix is the DER of DigestInfo up to the digest for each hash the signer offers
// (RFC 8017 §9.2 note 1). The card pads with PKCS#1 v1.5 type 1 whatever it is sent
// (REFERENCE §3.3), so the host builds the DigestInfo.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// DigestInfo returns the DER DigestInfo of digest for hash (SHA-256, SHA-384 or SHA-512), as
// the card expects it for COMPUTE DIGITAL SIGNATURE.
func DigestInfo(hash crypto.Hash, digest []byte) ([]byte, error) {
	prefix, ok := digestInfoPrefix[hash]
	if !ok {
		return nil, &Error{Reason: ReasonUnsupported, Detail: fmt.Sprintf("hash %v: the signer offers SHA-256, SHA-384 and SHA-512", hash)}
	}
	if len(digest) != hash.Size() {
		return nil, &Error{Reason: ReasonUnsupported, Detail: fmt.Sprintf("digest is %d bytes, %v needs %d", len(digest), hash, hash.Size())}
	}
	return append(append([]byte(nil), prefix...), digest...), nil
}

// Signer is a crypto.Signer whose private key stays on the card: the auth key (EF 0017, unlocked
// by the 4-digit PIN) or the signing key (EF 001A, unlocked by the signing password). It plugs
// into crypto/x509, crypto/tls and PKCS#7/CMS code.
//
// It signs RSASSA-PKCS1-v1_5 only (the card's P1=00 mode): opts must be a crypto.Hash (or
// *rsa.PSSOptions is rejected with ReasonUnsupported). For TLS this means a client certificate
// works up to TLS 1.2; TLS 1.3 requires RSA-PSS.
//
// The card forgets a verified PIN when another application is selected, so the Signer keeps the
// PIN in memory and presents it before each signature. After the card rejects it once (the PIN
// was changed, or blocked) the Signer refuses every further call, so it can never use up the
// remaining tries on its own.
type Signer struct {
	c    *Client
	kind jpki.Kind
	pin  PIN
	val  string
	cert *x509.Certificate
	pub  *rsa.PublicKey

	mu   sync.Mutex
	dead error
}

// AuthSigner presents the auth PIN, reads the auth certificate and returns a Signer for the
// auth key (利用者証明用). A wrong PIN fails here, with ReasonWrongPIN and the tries left.
func (c *Client) AuthSigner(ctx context.Context, pin string) (*Signer, error) {
	return c.newSigner(ctx, jpki.KindAuth, PINAuth, pin, jpki.EFAuthCert)
}

// SignSigner presents the signing password, reads the signing certificate and returns a Signer
// for the signing key (署名用).
func (c *Client) SignSigner(ctx context.Context, password string) (*Signer, error) {
	return c.newSigner(ctx, jpki.KindSign, PINSign, password, jpki.EFSignCert)
}

// Signer returns a Signer for the auth or signing key.
func (c *Client) Signer(ctx context.Context, kind jpki.Kind, pin string) (*Signer, error) {
	switch kind {
	case jpki.KindAuth:
		return c.AuthSigner(ctx, pin)
	case jpki.KindSign:
		return c.SignSigner(ctx, pin)
	}
	return nil, &Error{Reason: ReasonUnsupported, Op: "open signer", Detail: fmt.Sprintf("key %q is neither auth nor sign", kind)}
}

func (c *Client) newSigner(ctx context.Context, kind jpki.Kind, p PIN, value string, ef uint16) (*Signer, error) {
	op := fmt.Sprintf("open %s key", kind)
	v, err := p.Normalize(value)
	if err != nil {
		return nil, withOp(op, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, err := c.readVerified(ctx, p, v, ef)
	if err != nil {
		return nil, withOp(op, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, &Error{Reason: ReasonMalformed, Op: op, Detail: fmt.Sprintf("certificate key is %T, not RSA", cert.PublicKey)}
	}
	return &Signer{c: c, kind: kind, pin: p, val: v, cert: cert, pub: pub}, nil
}

// Public returns the public key of the certificate.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Certificate returns the certificate read from the card.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// Kind says whether this is the auth or the signing key.
func (s *Signer) Kind() jpki.Kind { return s.kind }

// Sign implements crypto.Signer; see SignContext. rand is not used: PKCS#1 v1.5 is
// deterministic.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest, the hash of the message under opts.HashFunc() (SHA-256, SHA-384 or
// SHA-512), with PKCS#1 v1.5. It sends the DigestInfo with COMPUTE DIGITAL SIGNATURE (80 2A 00
// 80) and checks the card's signature against the certificate before returning it.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	op := fmt.Sprintf("sign with %s key", s.kind)
	if opts == nil {
		return nil, &Error{Reason: ReasonUnsupported, Op: op, Detail: "no hash given (opts is nil)"}
	}
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, &Error{Reason: ReasonUnsupported, Op: op, Detail: "RSA-PSS is not offered; the card signs PKCS#1 v1.5"}
	}
	hash := opts.HashFunc()
	if hash == 0 {
		return nil, &Error{Reason: ReasonUnsupported, Op: op, Detail: "signing without a hash (raw PKCS#1) is not offered"}
	}
	di, err := DigestInfo(hash, digest)
	if err != nil {
		return nil, withOp(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return nil, &Error{Reason: ReasonOf(s.dead), Op: op, PIN: s.pin, Detail: "the card rejected this signer's PIN earlier; open a new signer", Err: s.dead}
	}
	s.c.mu.Lock()
	sig, err := s.sign(ctx, di)
	s.c.mu.Unlock()
	auditSign(ctx, s.c.t.Reader(), s.kind, hash, err)
	if err != nil {
		if r := ReasonOf(err); r == ReasonWrongPIN || r == ReasonPINBlocked {
			s.dead = err
		}
		return nil, withOp(op, err)
	}
	if err := rsa.VerifyPKCS1v15(s.pub, hash, digest, sig); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Op: op, Detail: "the card's signature does not verify against the certificate", Err: err}
	}
	return sig, nil
}

// sign runs SELECT AP, VERIFY, SELECT key, COMPUTE DIGITAL SIGNATURE. The caller holds c.mu.
func (s *Signer) sign(ctx context.Context, digestInfo []byte) ([]byte, error) {
	keyEF := jpki.EFAuthKey
	if s.kind == jpki.KindSign {
		keyEF = jpki.EFSignKey
	}
	if err := s.c.selectAID(ctx, jpki.AIDJPKI); err != nil {
		return nil, err
	}
	if err := s.c.verifyPIN(ctx, s.pin, s.val); err != nil {
		return nil, err
	}
	if err := s.c.mustSelectEF(ctx, keyEF, nil); err != nil {
		return nil, err
	}
	resp, err := s.c.transmit(ctx, apdu.Command{CLA: 0x80, INS: 0x2A, P1: 0x00, P2: 0x80, Data: digestInfo, Ne: 256})
	if err != nil {
		return nil, err
	}
	switch resp.SW {
	case apdu.SWOK:
	case apdu.SWSecurityNotSatisfied:
		return nil, &Error{Reason: ReasonAccessDenied, SW: uint16(resp.SW), Detail: "the card did not accept the verified PIN for its key"}
	default:
		return nil, cardError(resp.SW)
	}
	if len(resp.Data) != s.pub.Size() {
		return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("signature is %d bytes, the key needs %d", len(resp.Data), s.pub.Size())}
	}
	return resp.Data, nil
}

func auditSign(ctx context.Context, rdr string, kind jpki.Kind, hash crypto.Hash, err error) {
	result := "ok"
	if err != nil {
		result = ReasonOf(err).String()
		var e *Error
		if !errors.As(err, &e) {
			result = err.Error()
		}
	}
	slog.InfoContext(ctx, "reader: card signature", "event", "reader.sign", "reader", rdr, "key", string(kind), "hash", hash.String(), "result", result)
}
