// Package egress is the webhook egress policy: which URLs a tenant may register as webhook
// endpoints and which addresses the platform's outbound HTTP client may connect to.
//
// Tenants choose the URLs the platform POSTs to, so without a policy any tenant could make the
// platform send requests into the network it runs in: the cloud metadata service, an admin
// port on loopback, a database on the private network (server-side request forgery). By
// default the platform therefore delivers only to public addresses, over https:
//
//   - at registration, an endpoint URL must be https; its host must be a DNS name or a
//     canonical IP literal of a public address: "localhost" and its subdomains, IP literals of
//     the ranges below, IPv6 zones, and the numeric forms that resolvers take for IPv4 addresses
//     (inet_aton's "127.1", "2130706433", "0x7f000001", "0177.0.0.1") are refused with a
//     problem naming the rule;
//   - at delivery, the deliverer's dialer refuses to connect to a non-public address whatever
//     the name resolved to (which also stops DNS rebinding), and it ignores proxy settings of
//     the environment, so that the address checked is the address connected to. The refusal
//     recorded for the tenant does not say which address the name resolved to (the operator's
//     log does).
//
// Allowing private targets (platform.WithPrivateWebhookTargets, serve --allow-private-webhooks) lifts the rule for a platform whose relying parties live on the
// same private network (and for the demo and tests, whose receivers listen on loopback):
// http, loopback and private addresses are then allowed.
//
// A public address is an IPv4 address outside every range below, or an IPv6 address in the
// global unicast block 2000::/3 (RFC 4291 §2.4; the rest of the IPv6 space is special or
// unallocated) outside every range below. The ranges are those of the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890, as updated by RFC 8190; registries at
// https://www.iana.org/assignments/iana-ipv4-special-registry and
// https://www.iana.org/assignments/iana-ipv6-special-registry, checked 2026) that are not
// globally reachable or that lead to another address the dialer would not check (translation
// and tunnelling prefixes), plus multicast and the deprecated forms that still route on some
// stacks. A kept Go list of these ranges does not exist in the standard library (netip's
// IsPrivate and friends cover a few) nor, as a maintained module, in the module proxy here; so
// the list is kept in this file, each entry with its source.
package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"time"
)

var specialPrefixes = []netip.Prefix{
	// IPv4 Special-Purpose Address Registry.
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network" (RFC 791)
	netip.MustParsePrefix("10.0.0.0/8"),         // private use (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space, carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback (RFC 1122)
	netip.MustParsePrefix("169.254.0.0/16"),     // link local, cloud metadata (RFC 3927)
	netip.MustParsePrefix("172.16.0.0/12"),      // private use (RFC 1918)
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments, DS-Lite, NAT64 discovery (RFC 6890, 7335, 7050)
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation TEST-NET-1 (RFC 5737)
	netip.MustParsePrefix("192.31.196.0/24"),    // AS112-v4 (RFC 7535): DNS sinks, never a webhook
	netip.MustParsePrefix("192.52.193.0/24"),    // AMT relay anycast (RFC 7450)
	netip.MustParsePrefix("192.88.99.0/24"),     // deprecated 6to4 relay anycast (RFC 7526): reaches an IPv4 address unchecked
	netip.MustParsePrefix("192.168.0.0/16"),     // private use (RFC 1918)
	netip.MustParsePrefix("192.175.48.0/24"),    // direct delegation AS112 (RFC 7534)
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking (RFC 2544)
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation TEST-NET-2 (RFC 5737)
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation TEST-NET-3 (RFC 5737)
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved (RFC 1112)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast (RFC 919)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast (RFC 5771; IANA multicast registry)
	// IPv6 Special-Purpose Address Registry, within 2000::/3 (everything outside it is refused:
	// ::/128, ::1/128, ::ffff:0:0/96 IPv4-mapped (checked as the IPv4 address it maps),
	// ::/96 IPv4-compatible (deprecated, RFC 4291 §2.5.5.1), 64:ff9b::/96 and 64:ff9b:1::/48
	// NAT64, 100::/64 discard, 5f00::/16 SRv6 SIDs, fc00::/7 unique local, fe80::/10 link
	// local, fec0::/10 site local (deprecated, RFC 3879), ff00::/8 multicast).
	netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments: Teredo 2001::/32 reaches an IPv4 address unchecked, ORCHID, AMT, … (RFC 2928)
	netip.MustParsePrefix("2001:db8::/32"),     // documentation (RFC 3849)
	netip.MustParsePrefix("2002::/16"),         // 6to4 (RFC 3056): reaches an IPv4 address unchecked
	netip.MustParsePrefix("2620:4f:8000::/48"), // direct delegation AS112 (RFC 7534)
	netip.MustParsePrefix("3fff::/20"),         // documentation (RFC 9637)
}

// globalUnicast6 is the IPv6 global unicast block; the rest of the IPv6 space is special.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// PublicAddr reports whether a webhook may be delivered to a.
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap() // an IPv4-mapped address is the IPv4 address it maps
	if a.Is6() && !globalUnicast6.Contains(a) {
		return false
	}
	for _, p := range specialPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// numericHost matches a last label that makes resolvers read a host as an IPv4 address in one
// of inet_aton's forms (decimal, octal with a leading 0, hex with 0x): no top-level domain is
// numeric (RFC 3696 §2), so such a host is an address in disguise.
var numericHost = regexp.MustCompile(`(?i)^(0x[0-9a-f]*|[0-9]+)$`)

// CheckURL refuses an endpoint that is plainly not a public https one: another scheme,
// localhost, an IP literal of a non-public range, or a numeric host form. Names are checked when
// delivering (Client). The error's text is for the tenant.
func CheckURL(scheme, host string) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("url: "+format+"; webhooks are delivered over https to public addresses only", a...)
	}
	if scheme != "https" {
		return refuse("%s is not https", scheme)
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return refuse("%s is this machine", host)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if !PublicAddr(a) {
			return refuse("%s is not a public address", host)
		}
		return nil
	}
	if strings.Contains(h, ":") || strings.Contains(h, "%") {
		return refuse("%s is not a canonical IP address", host)
	}
	labels := strings.Split(h, ".")
	if numericHost.MatchString(labels[len(labels)-1]) {
		return refuse("%s is a numeric host form (an IPv4 address in disguise); write a DNS name or a dotted-quad address", host)
	}
	return nil
}

// errEgress is the dialer's refusal. Its text does not name the address, since it is shown to
// the tenant (the delivery's error): a tenant must not learn what names resolve to inside the
// platform's network.
type errEgress struct{ addr string }

func (e errEgress) Error() string {
	return "the endpoint's host resolved to a non-public address: refused by the egress policy"
}

// publicOnlyControl is a net.Dialer Control function that lets connections reach public
// addresses only: it runs after name resolution, on the address actually dialled.
func publicOnlyControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errEgress{address}
	}
	if !PublicAddr(ap.Addr()) {
		return errEgress{ap.Addr().String()}
	}
	return nil
}

// Describe is the text of a failed delivery as the tenant sees it: an egress refusal
// without the address (which the operator's log keeps), else the error.
func Describe(ctx context.Context, err error, endpointID string) string {
	var eg errEgress
	if errors.As(err, &eg) {
		slog.WarnContext(ctx, "egress: webhook delivery refused by the egress policy", "endpoint", endpointID, "addr", eg.addr)
		return eg.Error()
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		// Without the resolver's address, which is the platform's network's.
		return "the endpoint's host name could not be resolved: " + dns.Err
	}
	return err.Error()
}

// Client is the webhook deliverer's default HTTP client: 10 s timeout, redirects not followed
// (a redirect is a failed attempt), and — unless allowPrivate — connections to public addresses
// only, direct (no proxy from the environment).
func Client(allowPrivate bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !allowPrivate {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: publicOnlyControl}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
		tr.Proxy = nil
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
