package platform_test

import (
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// Under the default egress policy a tenant cannot point a webhook at this machine or a private
// network, and nothing is stored for the refused endpoint.
func TestWebhookEndpointEgressPolicy(t *testing.T) {
	p := platformtest.NewVerifying(t, storetest.Open(t, store.DialectSQLite)) // the default egress policy
	ten, err := p.CreateTenant(ctx, "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost:8080/hook", "https://[::1]/hook",
		"http://169.254.169.254/latest/meta-data/", "https://10.0.0.8/hook",
		"https://[::127.0.0.1]/hook", "https://[fec0::1]/hook", "https://192.88.99.1/hook", "https://127.1/hook",
		"https://2130706433/hook", "https://0x7f000001/hook", "https://0177.0.0.1/hook", "https://[fe80::1%25eth0]/hook",
		"http://hooks.example.com/mynagate"} {
		_, _, err := p.CreateWebhookEndpoint(ctx, ten, platform.WebhookEndpointRequest{URL: u})
		if platformtest.KindOf(err) != platform.KindInvalid || !strings.Contains(err.Error(), "public addresses only") {
			t.Errorf("%s: %v, want invalid-request naming the egress rule", u, err)
		}
	}
	if _, _, err := p.CreateWebhookEndpoint(ctx, ten, platform.WebhookEndpointRequest{URL: "https://hooks.example.com/mynagate"}); err != nil {
		t.Fatalf("public endpoint: %v", err)
	}
	eps, err := p.WebhookEndpoints(ctx, ten)
	if err != nil || len(eps) != 1 || eps[0].URL != "https://hooks.example.com/mynagate" {
		t.Fatalf("endpoints %+v, %v; want only the public one", eps, err)
	}
}
