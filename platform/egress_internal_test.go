package platform

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"0.1.2.3", false}, {"224.0.0.1", false},
		{"255.255.255.255", false}, {"198.18.0.1", false}, {"192.0.2.1", false},
		{"::1", false}, {"::", false}, {"fe80::1", false}, {"fc00::1", false}, {"fd12:3456::1", false}, {"ff02::1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::a00:1", false}, {"2002:a00:1::1", false},
		{"2001:db8::1", false},
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"203.0.114.1", true}, {"100.128.0.1", true}, {"::ffff:8.8.8.8", true},
		{"2001:4860:4860::8888", true}, {"2400:cb00::1", true},
	} {
		if got := publicAddr(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("publicAddr(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
}

func TestCheckEndpointHost(t *testing.T) {
	strict, open := &Platform{}, &Platform{privateTargets: true}
	for _, h := range []string{"127.0.0.1", "localhost", "LOCALHOST.", "api.localhost", "::1", "[::1]", "169.254.169.254", "10.0.0.8", "::ffff:192.168.0.1"} {
		err := strict.checkEndpointHost(h)
		var pe *Error
		if !errors.As(err, &pe) || pe.Kind != KindInvalid {
			t.Errorf("host %s: %v, want an invalid-request problem", h, err)
		}
		if err := open.checkEndpointHost(h); err != nil {
			t.Errorf("host %s with private targets allowed: %v", h, err)
		}
	}
	for _, h := range []string{"hooks.example.com", "8.8.8.8", "2001:4860:4860::8888", "localhost.example.com"} {
		if err := strict.checkEndpointHost(h); err != nil {
			t.Errorf("public host %s refused: %v", h, err)
		}
	}
}

// The dialer refuses a non-public address whatever name led to it; with private targets allowed
// the same request goes through.
func TestDeliveryClientEgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	_, err := (&Platform{}).deliveryClient().Post(srv.URL, "application/json", nil)
	var eg errEgress
	if !errors.As(err, &eg) || eg.addr != "127.0.0.1" {
		t.Fatalf("POST to loopback under the default policy: %v, want the egress refusal", err)
	}
	resp, err := (&Platform{privateTargets: true}).deliveryClient().Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("POST with private targets allowed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
