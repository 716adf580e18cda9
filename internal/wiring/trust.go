package wiring

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
)

// Trust fetches the CAs of J-LIS at base — every generation of the signing and authentication
// CAs, and of the smartphone CAs when J-LIS has separate ones — and returns them as the
// platform's trusted CAs (signing CAs for identity, authentication CAs for login; each
// generation a CA of its own, told apart by key, not by DN) and as the revocation sources of
// the CRL fetcher and OCSP checker (base/crl/NAME.crl, base/ocsp/NAME: each generation signs
// the CRL of the certificates it issued). A J-LIS without the generation list (GET /ca) is
// asked for the four CAs by name. serve, the end-to-end tests and the benchmarks all start from
// it; CheckTrust decides whether the CAs are to be trusted.
func Trust(ctx context.Context, jc *jlisapi.Client, base string) ([]platform.CA, []revocation.Source, error) {
	base = strings.TrimRight(base, "/")
	list, err := jc.CAs(ctx)
	if errors.Is(err, jlisapi.ErrNotFound) {
		list, err = nil, nil
		for _, name := range []string{"sign", "auth", "sign-phone", "auth-phone"} {
			cert, err := jc.CACertificate(ctx, name)
			if errors.Is(err, jlisapi.ErrNotFound) && strings.HasSuffix(name, "-phone") {
				continue // no separate phone CAs
			}
			if err != nil {
				return nil, nil, fmt.Errorf("fetch CA %s from J-LIS: %w", name, err)
			}
			list = append(list, jlisapi.CA{Name: name, Base: name, Generation: 1, Issuing: true, Cert: cert})
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("fetch the CA list from J-LIS: %w", err)
	}
	var cas []platform.CA
	var sources []revocation.Source
	for _, ca := range list {
		if !validCAName(ca.Name) {
			return nil, nil, fmt.Errorf("J-LIS lists a CA named %q, which is not a JPKI CA name (sign, auth, sign-phone, auth-phone, or a generation such as sign-g2)", ca.Name)
		}
		purpose := platform.PurposeLogin
		if strings.HasPrefix(ca.Name, "sign") {
			purpose = platform.PurposeIdentity
		}
		cas = append(cas, platform.CA{Name: ca.Name, Cert: ca.Cert, Purpose: purpose, Link: ca.Link})
		sources = append(sources, revocation.Source{Name: ca.Name, CRLURL: base + "/crl/" + ca.Name + ".crl", OCSPURL: base + "/ocsp/" + ca.Name, Issuer: ca.Cert})
	}
	if len(cas) == 0 {
		return nil, nil, errors.New("J-LIS lists no CA")
	}
	return cas, sources, nil
}

// validCAName accepts the J-LIS CA names: a kind, an optional generation "-gN" (N ≥ 2) and an
// optional "-phone". The name goes into URL paths and the platform's records.
func validCAName(name string) bool {
	rest, ok := strings.CutPrefix(name, "sign")
	if !ok {
		if rest, ok = strings.CutPrefix(name, "auth"); !ok {
			return false
		}
	}
	rest = strings.TrimSuffix(rest, "-phone")
	if rest == "" {
		return true
	}
	digits, ok := strings.CutPrefix(rest, "-g")
	if !ok || digits == "" || len(digits) > 3 || digits[0] == '0' || digits == "1" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
