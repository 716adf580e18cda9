package egress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"0.1.2.3", false}, {"224.0.0.1", false},
		{"255.255.255.255", false}, {"198.18.0.1", false}, {"192.0.2.1", false}, {"192.0.0.170", false},
		{"192.88.99.1", false}, {"192.31.196.1", false}, {"192.175.48.1", false}, {"192.52.193.1", false}, {"240.0.0.1", false},
		{"::1", false}, {"::", false}, {"fe80::1", false}, {"fc00::1", false}, {"fd12:3456::1", false}, {"ff02::1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::a00:1", false}, {"64:ff9b:1::1", false},
		{"2002:a00:1::1", false}, {"2002:808:808::1", false}, {"2001:db8::1", false}, {"2001::1", false}, {"2001:0:4136:e378::1", false},
		{"::127.0.0.1", false}, {"::8.8.8.8", false}, {"fec0::1", false}, {"100::1", false}, {"3fff::1", false},
		{"5f00::1", false}, {"2620:4f:8000::1", false}, {"4000::1", false}, {"fe80::1%eth0", false},
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"203.0.114.1", true}, {"100.128.0.1", true}, {"::ffff:8.8.8.8", true},
		{"2001:4860:4860::8888", true}, {"2400:cb00::1", true}, {"2a00:1450::1", true},
	} {
		if got := PublicAddr(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct{ scheme, host string }{
		{"https", "127.0.0.1"}, {"https", "localhost"}, {"https", "LOCALHOST."}, {"https", "api.localhost"}, {"https", "::1"},
		{"https", "169.254.169.254"}, {"https", "10.0.0.8"}, {"https", "::ffff:192.168.0.1"},
		// the forms of issue #14: IPv4-compatible IPv6, site-local, the 6to4 relay anycast, numeric hosts
		{"https", "::127.0.0.1"}, {"https", "fec0::1"}, {"https", "192.88.99.1"},
		{"https", "127.1"}, {"https", "2130706433"}, {"https", "0x7f000001"}, {"https", "0X7F000001"}, {"https", "0177.0.0.1"},
		{"https", "127.0.0.01"}, {"https", "0x7f.1"}, {"https", "10.1"}, {"https", "hooks.example.0x10"}, {"https", "017700000001"},
		{"https", "fe80::1%eth0"}, {"https", "3fff::1"},
		// http to a public name
		{"http", "hooks.example.com"}, {"http", "8.8.8.8"},
	} {
		if err := CheckURL(c.scheme, c.host); err == nil || !strings.Contains(err.Error(), "public addresses only") {
			t.Errorf("%s://%s: %v, want a refusal naming the egress rule", c.scheme, c.host, err)
		}
	}
	for _, h := range []string{"hooks.example.com", "8.8.8.8", "2001:4860:4860::8888", "localhost.example.com", "1password.com", "a.b.c9", "0x.example.com", "hooks.example.com."} {
		if err := CheckURL("https", h); err != nil {
			t.Errorf("public host %s refused: %v", h, err)
		}
	}
}

// The dialer refuses a non-public address whatever name led to it, and what the tenant is told
// does not name the address; with private targets allowed the same request goes through.
func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := Client(false).Post(u, "application/json", nil)
		var eg errEgress
		if !errors.As(err, &eg) || !netip.MustParseAddr(eg.addr).IsLoopback() {
			t.Fatalf("POST to %s under the default policy: %v, want the egress refusal", u, err)
		}
		if msg := Describe(context.Background(), err, "we_1"); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "::1") || strings.Contains(msg, srv.URL) {
			t.Errorf("the tenant's delivery error names the resolved address: %q", msg)
		}
	}
	resp, err := Client(true).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("POST with private targets allowed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
