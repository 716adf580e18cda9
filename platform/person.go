package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/verify"
)

// MaxLinkLookups bounds how many certificates one person resolution may ask J-LIS about. A real
// chain is a handful of renewals, moves and re-issues.
const MaxLinkLookups = 32

// resolvePerson finds the person of a verified certificate. A certificate seen before is linked
// already. Otherwise the renewal-link service is asked, and the certificates it relates — the
// predecessors (renewal, move, re-issue) and the other certificate of the same card — are walked
// until one linked to a person is found; the new certificate and every certificate met on the way
// are then linked to that person. When none is, the certificate starts a new person.
func (p *Platform) resolvePerson(ctx context.Context, res *verify.Result) ([]PersonCert, string, error) {
	ca, serial := CAKey(res.Issuer), SerialHex(res.Cert.SerialNumber)
	person, err := p.personByCert(ctx, ca, serial)
	if err == nil {
		return nil, person, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, "", internal(err)
	}
	now := p.clk.Now().UTC()
	found := []PersonCert{{CA: ca, Serial: serial, Kind: string(res.Kind), LinkedAt: now}}
	name := p.caName(res.Issuer.SubjectKeyId)
	if name != "" && res.Cert.SerialNumber.IsInt64() {
		queue := []jlisapi.CertRef{{CA: name, Serial: res.Cert.SerialNumber.Int64()}}
		seen := map[jlisapi.CertRef]bool{queue[0]: true}
		for lookups := 0; len(queue) > 0 && person == "" && lookups < MaxLinkLookups; lookups++ {
			ref := queue[0]
			queue = queue[1:]
			info, err := p.links.Links(ctx, ref)
			if errors.Is(err, jlisapi.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, "", &Error{Kind: KindUnavailable, Type: "jlis-unavailable", Detail: "the renewal-link service of J-LIS cannot be reached; retry later", Err: err}
			}
			related := []jlisapi.CertRef{}
			for _, l := range info.Previous {
				related = append(related, l.Old)
			}
			if info.Counterpart != nil {
				related = append(related, *info.Counterpart)
			}
			for _, r := range related {
				if seen[r] {
					continue
				}
				seen[r] = true
				key := p.caKeyByName(r.CA)
				if key == "" {
					continue
				}
				pc := PersonCert{CA: key, Serial: fmt.Sprintf("%X", r.Serial), Kind: kindOfCA(r.CA), LinkedAt: now}
				found = append(found, pc)
				pid, err := p.personByCert(ctx, pc.CA, pc.Serial)
				if err == nil {
					person = pid
					break
				}
				if !errors.Is(err, ErrNotFound) {
					return nil, "", internal(err)
				}
				queue = append(queue, r)
			}
		}
	}
	if person == "" {
		if person, err = p.newID("p_"); err != nil {
			return nil, "", err
		}
	}
	for i := range found {
		found[i].PersonID = person
	}
	return found, person, nil
}

// caName returns the J-LIS name of a trusted CA by its key identifier.
func (p *Platform) caName(ski []byte) string {
	for _, ca := range p.trustedCAs() {
		if string(ca.Cert.SubjectKeyId) == string(ski) {
			return ca.Name
		}
	}
	return ""
}

// caKeyByName returns the storage key of a trusted CA by its J-LIS name.
func (p *Platform) caKeyByName(name string) string {
	for _, ca := range p.trustedCAs() {
		if ca.Name == name {
			return CAKey(ca.Cert)
		}
	}
	return ""
}

// kindOfCA is the kind of certificate a CA issues by its J-LIS name: "sign", "sign-phone" and
// their later generations ("sign-g2", "sign-g2-phone") issue signing certificates.
func kindOfCA(name string) string {
	if strings.HasPrefix(name, "sign") {
		return "sign"
	}
	return "auth"
}

// CAName returns the J-LIS name of a trusted CA ("sign", "auth-phone", ...) by its storage key
// (CAKey, as in Verification.CertCA), or "" for an unknown key.
func (p *Platform) CAName(key string) string {
	for _, ca := range p.trustedCAs() {
		if CAKey(ca.Cert) == key {
			return ca.Name
		}
	}
	return ""
}
