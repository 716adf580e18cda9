package platform_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/platform"
)

const password = "correct horse battery"

// Console users: staff of a tenant or operators, signed in by email and password (every
// failure the same answer), or by a card linked to one account.
func TestConsoleUsers(t *testing.T) {
	p, _ := newPlatform(t, platform.WithRand(platformtest.SeededRand(2)))
	ten, err := p.CreateTenant(ctx, "Example Bank", nil)
	if err != nil {
		t.Fatal(err)
	}
	staff, err := p.CreateConsoleUser(ctx, ten.ID, " Staff@Example.COM ", password, false)
	if err != nil || staff.Email != "staff@example.com" || staff.Role != platform.RoleStaff || staff.TenantID != ten.ID || strings.Contains(staff.PasswordHash, password) {
		t.Fatalf("staff %+v, %v", staff, err)
	}
	op, err := p.CreateConsoleUser(ctx, "", "ops@example.com", password, true)
	if err != nil || op.Role != platform.RoleOperator || op.TenantID != "" {
		t.Fatalf("operator %+v, %v", op, err)
	}
	if op.PasswordHash == staff.PasswordHash {
		t.Error("one password hashed twice gives one hash: the salt is not random")
	}
	for _, c := range []struct {
		name, tenant, email, password string
		operator                      bool
		kind                          platform.Kind
		typ                           string
	}{
		{"taken email", ten.ID, "STAFF@example.com", password, false, platform.KindConflict, "email-taken"},
		{"not an email", ten.ID, "staff", password, false, platform.KindInvalid, "invalid-email"},
		{"a name with the email", ten.ID, "Staff <s@example.com>", password, false, platform.KindInvalid, "invalid-email"},
		{"no dot in the domain", ten.ID, "s@localhost", password, false, platform.KindInvalid, "invalid-email"},
		{"short password", ten.ID, "a@example.com", "short", false, platform.KindInvalid, "invalid-password"},
		{"long password", ten.ID, "a@example.com", strings.Repeat("p", platform.MaxPasswordLen+1), false, platform.KindInvalid, "invalid-password"},
		{"operator of a tenant", ten.ID, "a@example.com", password, true, platform.KindInvalid, "invalid-request"},
		{"staff of no tenant", "", "a@example.com", password, false, platform.KindInvalid, "invalid-request"},
		{"staff of an unknown tenant", "t_0000000000000000", "a@example.com", password, false, platform.KindNotFound, "not-found"},
	} {
		_, err := p.CreateConsoleUser(ctx, c.tenant, c.email, c.password, c.operator)
		wantError(t, c.name, err, c.kind, c.typ)
	}

	if u, err := p.ConsoleLogin(ctx, " STAFF@example.com", password); err != nil || u.ID != staff.ID {
		t.Errorf("sign-in: %+v, %v", u, err)
	}
	for name, c := range map[string][2]string{
		"wrong password":   {"staff@example.com", password + "!"},
		"unknown email":    {"nobody@example.com", password},
		"oversized answer": {"staff@example.com", strings.Repeat("p", 4*platform.MaxPasswordLen+1)},
	} {
		_, err := p.ConsoleLogin(ctx, c[0], c[1])
		wantError(t, name, err, platform.KindUnauthorized, "bad-credentials")
	}
	if u, err := p.ConsoleUser(ctx, op.ID); err != nil || u.Email != op.Email {
		t.Errorf("ConsoleUser: %+v %v", u, err)
	}
	if _, err := p.ConsoleUser(ctx, "u_unknown"); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("unknown user: %v", err)
	}

	sub := "card-subject"
	if _, err := p.ConsoleUserByCard(ctx, sub); platform.AsError(err).Type != "card-not-linked" {
		t.Errorf("an unlinked card: %v", err)
	}
	if err := p.LinkConsoleCard(ctx, staff.ID, sub); err != nil {
		t.Fatal(err)
	}
	if u, err := p.ConsoleUserByCard(ctx, sub); err != nil || u.ID != staff.ID || u.CardSub != sub {
		t.Errorf("sign-in by card: %+v %v", u, err)
	}
	wantError(t, "a card linked to another account", p.LinkConsoleCard(ctx, op.ID, sub), platform.KindConflict, "card-linked")
	wantError(t, "an empty subject", p.LinkConsoleCard(ctx, op.ID, ""), platform.KindInvalid, "invalid-subject")
	wantError(t, "an unknown user", p.LinkConsoleCard(ctx, "u_unknown", "other"), platform.KindNotFound, "not-found")
	_, err = p.ConsoleUserByCard(ctx, "")
	wantError(t, "an empty card subject", err, platform.KindUnauthorized, "card-not-linked")
}

// A tenant's console: its latest verifications (newest first, bounded), its own API keys only,
// and the operator's view of the webhook backlog.
func TestTenantConsole(t *testing.T) {
	e := platformtest.NewJLIS(t)
	other := e.TenantWith("Other")
	cf := e.Card(testkit.Taro())
	var ids []string
	for range 3 {
		ids = append(ids, e.Verified(e.Tenant, cf, platform.PurposeLogin).ID)
		e.Clk.Advance(time.Second)
	}
	vs, err := e.P.RecentVerifications(ctx, e.Tenant, 2)
	if err != nil || len(vs) != 2 || vs[0].ID != ids[2] || vs[1].ID != ids[1] {
		t.Errorf("recent verifications %v, %v; want the last two, newest first", vs, err)
	}
	if vs, err := e.P.RecentVerifications(ctx, e.Tenant, 0); err != nil || len(vs) != 1 {
		t.Errorf("limit 0 gives %d, %v; want 1", len(vs), err)
	}
	if vs, err := e.P.RecentVerifications(ctx, other, 100); err != nil || len(vs) != 0 {
		t.Errorf("another tenant sees %d verifications", len(vs))
	}

	_, k, err := e.P.CreateAPIKey(ctx, e.Tenant.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "another tenant revokes the key", e.P.RevokeTenantAPIKey(ctx, other, k.ID), platform.KindNotFound, "not-found")
	wantError(t, "an unknown key", e.P.RevokeTenantAPIKey(ctx, e.Tenant, "k_unknown"), platform.KindNotFound, "not-found")
	if err := e.P.RevokeTenantAPIKey(ctx, e.Tenant, k.ID); err != nil {
		t.Fatal(err)
	}
	if ks, err := e.P.APIKeys(ctx, e.Tenant.ID); err != nil || len(ks) != 1 || ks[0].RevokedAt == nil {
		t.Errorf("keys after revoking %+v, %v", ks, err)
	}
	if _, err := e.P.APIKeys(ctx, "t_0000000000000000"); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("keys of an unknown tenant: %v", err)
	}

	if n, _, err := e.P.WebhookBacklog(ctx); err != nil || n != 0 {
		t.Errorf("backlog without endpoints: %d %v", n, err)
	}
}
