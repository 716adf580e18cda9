package platform

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Webhook egress policy.
//
// Tenants choose the URLs the platform POSTs to, so without a policy any tenant could make the
// platform send requests into the network it runs in: the cloud metadata service, an admin
// port on loopback, a database on the private network (server-side request forgery). By
// default the platform therefore delivers only to public addresses:
//
//   - at registration, an endpoint whose host is an IP literal of a non-public range, or
//     "localhost", is refused with a problem naming the rule;
//   - at delivery, the deliverer's dialer refuses to connect to a non-public address whatever
//     the name resolved to (which also stops DNS rebinding), and it ignores proxy settings of
//     the environment, so that the address checked is the address connected to.
//
// WithPrivateWebhookTargets lifts the rule for a platform whose relying parties live on the
// same private network (and for the demo and tests, whose receivers listen on loopback).
//
// The ranges are netip's loopback, private (RFC 1918, fc00::/7), link-local, multicast and
// unspecified ones, plus the special-purpose blocks below.
var specialPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: would reach an IPv4 address unchecked
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ...)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: would reach an IPv4 address unchecked
}

// publicAddr reports whether a webhook may be delivered to a.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range specialPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// WithPrivateWebhookTargets lets tenants register webhook endpoints on loopback, private and
// other non-public addresses, and the deliverer connect to them (see the egress policy above).
func WithPrivateWebhookTargets() Option { return func(p *Platform) { p.privateTargets = true } }

// checkEndpointHost refuses, under the default policy, an endpoint host that is plainly not
// public: an IP literal of a non-public range, or localhost. Names are checked when delivering.
func (p *Platform) checkEndpointHost(host string) error {
	if p.privateTargets {
		return nil
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return newError(KindInvalid, "invalid-request", "url: %s is this machine; webhooks are delivered to public addresses only", host)
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && !publicAddr(a) {
		return newError(KindInvalid, "invalid-request", "url: %s is not a public address; webhooks are delivered to public addresses only", host)
	}
	return nil
}

// errEgress is the dialer's refusal.
type errEgress struct{ addr string }

func (e errEgress) Error() string {
	return fmt.Sprintf("webhook target %s is not a public address: refused by the egress policy", e.addr)
}

// publicOnlyControl is a net.Dialer Control function that lets connections reach public
// addresses only: it runs after name resolution, on the address actually dialled.
func publicOnlyControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook target %q: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return errEgress{ap.Addr().String()}
	}
	return nil
}

// deliveryClient is the deliverer's default HTTP client: 10 s timeout, redirects not followed
// (a redirect is a failed attempt), and — unless private targets are allowed — connections to
// public addresses only, direct (no proxy from the environment).
func (p *Platform) deliveryClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !p.privateTargets {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: publicOnlyControl}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
		tr.Proxy = nil
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
