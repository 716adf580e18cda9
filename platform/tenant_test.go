package platform_test

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/platform"
)

func factNames(m map[platform.Fact]string) []string {
	var out []string
	for f := range m {
		out = append(out, string(f))
	}
	slices.Sort(out)
	return out
}

// A tenant's allowance: the tenant narrows it itself, only the operator widens it. A narrower
// allowance holds for everything served from then on; a wider one only for verifications made
// after it, whose sealed evidence holds the facts allowed when they were made.
func TestAllowanceNarrowingAndWidening(t *testing.T) {
	e := platformtest.NewJLIS(t)
	ten := e.TenantWith("Example Shop", platform.FactName, platform.FactAddress)
	cf := e.Card(testkit.Taro())
	old := e.Verified(ten, cf, platform.PurposeIdentity)
	facts := func(id string) []string {
		t.Helper()
		v, err := e.P.Verification(ctx, ten, id)
		if err != nil {
			t.Fatal(err)
		}
		return factNames(v.Facts)
	}
	if got := facts(old.ID); !slices.Equal(got, []string{"address", "name"}) {
		t.Fatalf("facts %v", got)
	}

	_, err := e.P.UpdateTenant(ctx, ten.ID, platform.NarrowFacts([]platform.Fact{platform.FactName, platform.FactBirth}))
	wantError(t, "the tenant widens its allowance", err, platform.KindForbidden, "allowance-widening")
	narrowed, err := e.P.UpdateTenant(ctx, ten.ID, platform.NarrowFacts([]platform.Fact{platform.FactName}))
	if err != nil || !slices.Equal(narrowed.Facts, []platform.Fact{platform.FactName}) || !narrowed.FactsWidenedAt.IsZero() {
		t.Fatalf("narrowed %+v, %v", narrowed, err)
	}
	ten, _ = e.P.Tenant(ctx, ten.ID)
	if got := facts(old.ID); !slices.Equal(got, []string{"name"}) {
		t.Errorf("after narrowing, an earlier verification serves %v; want only the name", got)
	}

	e.Clk.Advance(time.Hour)
	widened, err := e.P.UpdateTenant(ctx, ten.ID, platform.WithFacts(platform.AllFacts))
	if err != nil || !widened.FactsWidenedAt.Equal(e.Clk.Now().UTC()) || !widened.AllowsCertificate() {
		t.Fatalf("widened %+v, %v", widened, err)
	}
	ten, _ = e.P.Tenant(ctx, ten.ID)
	if got := facts(old.ID); !slices.Equal(got, []string{"address", "name"}) {
		t.Errorf("after widening, an earlier verification serves %v; want what was allowed when it was made", got)
	}
	if ten.AllowsCertificateAt(old.CreatedAt) || !ten.AllowsCertificateAt(e.Clk.Now()) {
		t.Error("the certificate of a verification made before the widening is allowed, or a later one is not")
	}
	if d := ten.EvidenceDisclosure(old.CreatedAt); d.Full || !slices.Contains(d.Items, evidence.ItemSubject) || !slices.Contains(d.Items, evidence.FactItem("sex")) {
		t.Errorf("disclosure of an earlier entry %+v: want the subject and the facts allowed now, not everything", d)
	}
	if d := ten.EvidenceDisclosure(e.Clk.Now()); !d.Full {
		t.Errorf("disclosure of a later entry %+v: want everything", d)
	}
	if got := facts(e.Verified(ten, cf, platform.PurposeIdentity).ID); len(got) != 4 {
		t.Errorf("a verification after the widening serves %v", got)
	}

	for name, c := range map[string]struct {
		id  string
		set []platform.TenantSetting
	}{
		"nothing to change": {ten.ID, nil},
		"an unknown fact":   {ten.ID, []platform.TenantSetting{platform.WithFacts([]platform.Fact{"mynumber"})}},
		"an unknown policy": {ten.ID, []platform.TenantSetting{platform.WithRevocationPolicy("never")}},
	} {
		if _, err := e.P.UpdateTenant(ctx, c.id, c.set...); platform.AsError(err).Kind != platform.KindInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.P.UpdateTenant(ctx, "t_0000000000000000", platform.WithFacts(nil)); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("an unknown tenant: %v", err)
	}
	if _, err := e.P.UpdateTenant(ctx, ten.ID, platform.WithRevocationPolicy(platform.RevocationBoth)); err != nil {
		t.Fatal(err)
	}
	if got, err := e.P.Tenant(ctx, ten.ID); err != nil || got.RevocationPolicy() != platform.RevocationBoth {
		t.Errorf("the policy read back: %+v %v", got, err)
	}
	ts, err := e.P.Tenants(ctx)
	if err != nil || len(ts) != 2 {
		t.Errorf("tenants %d, %v; want 2", len(ts), err)
	}
	if (&platform.Tenant{}).RevocationPolicy() != platform.RevocationCRL {
		t.Error("a tenant without a policy is not on the CRL policy")
	}
}

// The platform's errors: a kind for the API, a stable type, a detail; the cause is kept for the
// log (and errors.Is) but not in what is sent.
func TestErrors(t *testing.T) {
	cause := errors.New("disk full")
	wrapped := platform.AsError(cause)
	if wrapped.Kind != platform.KindInternal || wrapped.Type != "internal" || strings.Contains(wrapped.Detail, "disk") || !errors.Is(wrapped, cause) {
		t.Errorf("an unknown error became %+v", wrapped)
	}
	if !strings.Contains(wrapped.Error(), "disk full") || !strings.HasPrefix(wrapped.Error(), "platform: internal: ") {
		t.Errorf("Error() = %q", wrapped.Error())
	}
	known := &platform.Error{Kind: platform.KindNotFound, Type: "not-found", Detail: "session s_1 does not exist"}
	if platform.AsError(known) != known || known.Error() != "platform: not-found: session s_1 does not exist" {
		t.Errorf("a platform error through AsError: %v", platform.AsError(known))
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "err", wrapped)
	if line := b.String(); !strings.Contains(line, "err.type=internal") || !strings.Contains(line, `err.cause="disk full"`) {
		t.Errorf("logged as %s", line)
	}
	for _, c := range []struct {
		code int
		want string
	}{{-1, "none"}, {0, "unspecified"}, {3, "affiliationChanged"}, {10, "aACompromise"}, {7, "reason7"}, {42, "reason42"}} {
		if got := platform.CRLReasonName(c.code); got != c.want {
			t.Errorf("CRLReasonName(%d) = %q, want %q", c.code, got, c.want)
		}
	}
}
