package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

func TestConsoleStorage(t *testing.T) {
	forDialects(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		nTenants(t, s, "t1", "t2")
		staff := platform.ConsoleUser{ID: "u_1", TenantID: "t1", Email: "a@example.com", PasswordHash: "$argon2id$x", Role: platform.RoleStaff, CreatedAt: nt0}
		nMust(t, s.CreateConsoleUser(ctx, staff))
		op := platform.ConsoleUser{ID: "u_2", Email: "op@example.com", PasswordHash: "$argon2id$y", Role: platform.RoleOperator, CreatedAt: nt0}
		nMust(t, s.CreateConsoleUser(ctx, op))
		dup := staff
		dup.ID = "u_3"
		if err := s.CreateConsoleUser(ctx, dup); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("duplicate email: %v", err)
		}
		ghost := staff
		ghost.ID, ghost.Email, ghost.TenantID = "u_4", "g@example.com", "t_nobody"
		if err := s.CreateConsoleUser(ctx, ghost); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("user of an unknown tenant: %v", err)
		}
		odd := op
		odd.ID, odd.Email, odd.TenantID = "u_5", "o2@example.com", "t1"
		if err := s.CreateConsoleUser(ctx, odd); err == nil {
			t.Error("an operator with a tenant was stored")
		}
		if u, err := s.ConsoleUserByEmail(ctx, "a@example.com"); err != nil || u.ID != "u_1" || u.TenantID != "t1" || !u.CreatedAt.Equal(nt0) {
			t.Errorf("by email: %+v %v", u, err)
		}
		if u, err := s.ConsoleUser(ctx, "u_2"); err != nil || u.TenantID != "" || u.Role != platform.RoleOperator {
			t.Errorf("operator: %+v %v", u, err)
		}
		if _, err := s.ConsoleUserByEmail(ctx, "nobody@example.com"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("unknown email: %v", err)
		}

		// A card's subject links to one user at most.
		if _, err := s.ConsoleUserByCard(ctx, "sub-a"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("unlinked card: %v", err)
		}
		nMust(t, s.LinkConsoleCard(ctx, "u_1", "sub-a"))
		if u, err := s.ConsoleUserByCard(ctx, "sub-a"); err != nil || u.ID != "u_1" || u.CardSub != "sub-a" {
			t.Errorf("by card: %+v %v", u, err)
		}
		if err := s.LinkConsoleCard(ctx, "u_2", "sub-a"); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("a linked card linked again: %v", err)
		}
		if err := s.LinkConsoleCard(ctx, "u_nobody", "sub-b"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("unknown user: %v", err)
		}
		if u, _ := s.ConsoleUser(ctx, "u_2"); u.CardSub != "" {
			t.Errorf("a refused link was stored: %+v", u)
		}
		nMust(t, s.LinkConsoleCard(ctx, "u_1", "sub-c")) // relinking replaces
		if _, err := s.ConsoleUserByCard(ctx, "sub-a"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("the replaced card still signs in: %v", err)
		}

		nVerify(t, s, "t1", "p1", nt0, "A1")
		nVerify(t, s, "t2", "p1", nt0.Add(time.Hour), "A1")
		nVerify(t, s, "t1", "p2", nt0.Add(2*time.Hour), "B1")
		vs, err := s.RecentVerifications(ctx, "t1", 10)
		nMust(t, err)
		if len(vs) != 2 || !vs[0].CreatedAt.Equal(nt0.Add(2*time.Hour)) || vs[0].Decision != platform.DecisionAccepted || vs[0].Cert != nil || vs[0].PersonID != "" {
			t.Errorf("recent of t1: %+v", vs)
		}
		if vs, _ := s.RecentVerifications(ctx, "t1", 1); len(vs) != 1 {
			t.Errorf("limit 1: %d", len(vs))
		}
		pv, err := s.PersonVerifications(ctx, "p1")
		nMust(t, err)
		if len(pv) != 2 || pv[0].TenantID != "t1" || pv[1].TenantID != "t2" {
			t.Errorf("person p1: %+v", pv)
		}
		n, oldest, err := s.PendingDeliveries(ctx)
		nMust(t, err)
		if n != 0 || !oldest.IsZero() {
			t.Errorf("backlog of an empty outbox: %d %v", n, oldest)
		}
	})
}
