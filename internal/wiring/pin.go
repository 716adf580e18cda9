package wiring

// Pinned trust: the J-LIS CA certificates fetched at start are compared with the ones the
// operator pinned (serve --trust FILE, --trust-sha256) or, without pins, with the ones recorded
// at the platform's first start (trust on first use), so that a J-LIS endpoint that starts
// serving other CAs — a swapped or spoofed service — is refused before anything is verified.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// AnchorStore records the trusted CA certificates by J-LIS name; store implements it
// (migration 00024).
type AnchorStore interface {
	TrustAnchors(ctx context.Context) (map[string][]byte, error)
	RecordTrustAnchors(ctx context.Context, anchors map[string][]byte, replace bool, at time.Time) error
}

// Pins are CA certificates an operator pinned, by SHA-256 of the DER certificate.
type Pins struct {
	sums map[[sha256.Size]byte]bool
}

// Len returns the number of pinned certificates.
func (p *Pins) Len() int { return len(p.sums) }

// LoadPins reads a PEM bundle of CA certificates (file, may be empty) and SHA-256 fingerprints
// (hex, colons allowed). It returns nil when neither is given.
func LoadPins(file string, fingerprints []string) (*Pins, error) {
	if file == "" && len(fingerprints) == 0 {
		return nil, nil
	}
	p := &Pins{sums: map[[sha256.Size]byte]bool{}}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--trust: %w", err)
		}
		for n := 1; ; n++ {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("--trust %s: PEM block %d is %q, not CERTIFICATE", file, n, blk.Type)
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("--trust %s: certificate %d: %v", file, n, err)
			}
			if !c.IsCA {
				return nil, fmt.Errorf("--trust %s: certificate %d (%s) is not a CA certificate", file, n, c.Subject)
			}
			p.sums[sha256.Sum256(c.Raw)] = true
		}
		if strings.TrimSpace(string(b)) != "" {
			return nil, fmt.Errorf("--trust %s: trailing data that is not PEM", file)
		}
		if len(p.sums) == 0 {
			return nil, fmt.Errorf("--trust %s: no CA certificate in the file", file)
		}
	}
	for _, f := range fingerprints {
		h, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(f), ":", ""))
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("--trust-sha256 %q: not a SHA-256 fingerprint (64 hex digits)", f)
		}
		p.sums[[sha256.Size]byte(h)] = true
	}
	return p, nil
}

// PinCertificates pins the given CA certificates (the demo pins its own simulator's).
func PinCertificates(certs ...*x509.Certificate) *Pins {
	p := &Pins{sums: map[[sha256.Size]byte]bool{}}
	for _, c := range certs {
		p.sums[sha256.Sum256(c.Raw)] = true
	}
	return p
}

// Fingerprint is the SHA-256 of a certificate in hex, the form --trust-sha256 takes.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// ErrUntrustedAnchor is wrapped by every refusal of CheckTrust.
var ErrUntrustedAnchor = errors.New("untrusted J-LIS CA")

// CheckTrust compares the CAs fetched from J-LIS with pins, or — without pins — with the
// anchors recorded at an earlier start, and records them: replacing the record when pinned,
// adding names not seen before otherwise. A CA is trusted when it is pinned (with pins), when it
// is the one recorded under its name (without pins), or when its link certificate from J-LIS
// (NewWithOld: the new generation's key certified by an older generation of the same DN) verifies
// against a CA trusted so — so a planned J-LIS rollover needs no new pin, while a new "generation"
// that no trusted key vouches for is refused. Without pins and with nothing recorded (the first
// start) every fetched CA is trusted. A CA that is none of these is refused with a one-line error,
// and nothing is recorded then.
func CheckTrust(ctx context.Context, cas []platform.CA, pins *Pins, st AnchorStore, now time.Time) error {
	fetched := map[string][]byte{}
	for _, ca := range cas {
		fetched[ca.Name] = ca.Cert.Raw
	}
	trusted := map[string]bool{}
	var recorded map[string][]byte
	if pins != nil {
		for _, ca := range cas {
			trusted[ca.Name] = pins.sums[sha256.Sum256(ca.Cert.Raw)]
		}
	} else {
		var err error
		if recorded, err = st.TrustAnchors(ctx); err != nil {
			return fmt.Errorf("read the recorded J-LIS CAs: %w", err)
		}
		for _, name := range sortedNames(cas) {
			der := fetched[name]
			old, ok := recorded[name]
			if ok && string(old) != string(der) {
				oldSum, newSum := sha256.Sum256(old), sha256.Sum256(der)
				return fmt.Errorf("%w: J-LIS CA %s changed since it was first trusted (now SHA-256 %s, recorded %s) — if the change is genuine, pin the new CA certificates with serve --trust FILE",
					ErrUntrustedAnchor, name, hex.EncodeToString(newSum[:]), hex.EncodeToString(oldSum[:]))
			}
			trusted[name] = ok || len(recorded) == 0
		}
	}
	// Follow link certificates from trusted generations to the newer ones, as far as they go.
	for changed := true; changed; {
		changed = false
		for _, ca := range cas {
			if trusted[ca.Name] || ca.Link == nil {
				continue
			}
			for _, by := range cas {
				if trusted[by.Name] && LinkVerifies(ca.Link, ca.Cert, by.Cert, now) == nil {
					trusted[ca.Name], changed = true, true
					break
				}
			}
		}
	}
	for _, name := range sortedNames(cas) {
		if trusted[name] {
			continue
		}
		sum := sha256.Sum256(fetched[name])
		if pins != nil {
			return fmt.Errorf("%w: J-LIS serves CA %s with SHA-256 %s, which is not pinned by --trust/--trust-sha256 and has no link certificate from a pinned CA", ErrUntrustedAnchor, name, hex.EncodeToString(sum[:]))
		}
		return fmt.Errorf("%w: J-LIS serves CA %s (SHA-256 %s), which was not trusted at the first start and has no link certificate from a trusted CA — if it is genuine, pin it with serve --trust FILE", ErrUntrustedAnchor, name, hex.EncodeToString(sum[:]))
	}
	if pins != nil {
		if err := st.RecordTrustAnchors(ctx, fetched, true, now); err != nil {
			return fmt.Errorf("record the pinned J-LIS CAs: %w", err)
		}
		return nil
	}
	if err := st.RecordTrustAnchors(ctx, fetched, false, now); err != nil {
		return fmt.Errorf("record the J-LIS CAs: %w", err)
	}
	// Two nodes starting at once: the first record wins; read it back.
	recorded, err := st.TrustAnchors(ctx)
	if err != nil {
		return fmt.Errorf("read the recorded J-LIS CAs: %w", err)
	}
	for _, name := range sortedNames(cas) {
		if string(recorded[name]) != string(fetched[name]) {
			return fmt.Errorf("%w: J-LIS CA %s differs from the one another node recorded at the same time", ErrUntrustedAnchor, name)
		}
	}
	return nil
}

func sortedNames(cas []platform.CA) []string {
	names := make([]string, 0, len(cas))
	for _, ca := range cas {
		names = append(names, ca.Name)
	}
	sort.Strings(names)
	return names
}

// LinkVerifies checks that link is a link certificate by which trusted certifies next: the
// link's subject and key are next's, it names trusted as issuer (DN and key id) and is signed by
// trusted's key, it is valid at now, and next keeps trusted's DN (a rollover keeps the name).
func LinkVerifies(link, next, trusted *x509.Certificate, now time.Time) error {
	switch {
	case !bytes.Equal(link.RawSubject, next.RawSubject) || !bytes.Equal(link.RawSubjectPublicKeyInfo, next.RawSubjectPublicKeyInfo):
		return errors.New("the link certificate is not for this CA's name and key")
	case !bytes.Equal(next.RawSubject, trusted.RawSubject):
		return errors.New("the new generation does not keep the trusted CA's name")
	case !bytes.Equal(link.RawIssuer, trusted.RawSubject) || !bytes.Equal(link.AuthorityKeyId, trusted.SubjectKeyId):
		return errors.New("the link certificate is not issued by the trusted CA")
	case now.Before(link.NotBefore) || now.After(link.NotAfter):
		return errors.New("the link certificate is not valid now")
	case !link.IsCA:
		return errors.New("the link certificate is not a CA certificate")
	}
	if err := link.CheckSignatureFrom(trusted); err != nil {
		return fmt.Errorf("the link certificate's signature: %w", err)
	}
	return nil
}
