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

// Trust fetches the CAs of J-LIS at base — signing and authentication, and the smartphone CAs
// when J-LIS has separate ones — and returns them as the platform's trusted CAs (signing CAs for
// identity, authentication CAs for login) and as the revocation sources of the CRL fetcher and
// OCSP checker (base/crl/NAME.crl, base/ocsp/NAME). serve, the end-to-end tests and the
// benchmarks all start from it.
func Trust(ctx context.Context, jc *jlisapi.Client, base string) ([]platform.CA, []revocation.Source, error) {
	base = strings.TrimRight(base, "/")
	var cas []platform.CA
	var sources []revocation.Source
	for _, name := range []string{"sign", "auth", "sign-phone", "auth-phone"} {
		cert, err := jc.CACertificate(ctx, name)
		if errors.Is(err, jlisapi.ErrNotFound) && strings.HasSuffix(name, "-phone") {
			continue // no separate phone CAs
		}
		if err != nil {
			return nil, nil, fmt.Errorf("fetch CA %s from J-LIS: %w", name, err)
		}
		purpose := platform.PurposeLogin
		if strings.HasPrefix(name, "sign") {
			purpose = platform.PurposeIdentity
		}
		cas = append(cas, platform.CA{Name: name, Cert: cert, Purpose: purpose})
		sources = append(sources, revocation.Source{Name: name, CRLURL: base + "/crl/" + name + ".crl", OCSPURL: base + "/ocsp/" + name, Issuer: cert})
	}
	return cas, sources, nil
}
