package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestPostgresGroupIsolatesEachCompletion writes one PostgreSQL group whose completions end
// every way a completion can: each gets the answer it would get alone, the accepted ones and
// the rejected one are written, and a refused one leaves nothing behind — not the new person
// it named, not its certificate link, not a count.
func TestPostgresGroupIsolatesEachCompletion(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, store.DialectPostgres)
	setup(t, s, "s_1", "s_2", "s_3", "s_4", "s_5")
	link := func(person, serial string) []platform.PersonCert {
		return []platform.PersonCert{{PersonID: person, CA: "A1B2", Serial: serial, Kind: "sign", LinkedAt: t0}}
	}
	c := func(v platform.Verification, certs []platform.PersonCert) store.Completion {
		return store.Completion{V: v, Certs: certs, Rec: storetest.Record(v.ID, v.TenantID, v.CreatedAt)}
	}
	login := rejected("v_7", "t1", "s_4")
	login.Purpose = platform.PurposeLogin
	cases := []struct {
		name string
		c    store.Completion
		want error
	}{
		{"new person", c(accepted("v_1", "t1", "s_1", "p_new", "01"), link("p_new", "01")), nil},
		{"same session again, another new person", c(accepted("v_2", "t1", "s_1", "p_lost", "02"), link("p_lost", "02")), platform.ErrSessionClosed},
		{"unknown session", c(rejected("v_3", "t1", "s_none"), nil), platform.ErrNotFound},
		{"another tenant's session", c(rejected("v_4", "t2", "s_2"), nil), platform.ErrNotFound},
		{"known person that does not exist", c(accepted("v_5", "t1", "s_3", "p_ghost", "05"), nil), platform.ErrNotFound},
		{"rejected", c(rejected("v_6", "t1", "s_5"), nil), nil},
		{"other purpose", c(login, nil), platform.ErrConflict},
		{"second link of the new person", c(accepted("v_8", "t1", "s_2", "p_new", "08"), link("p_new", "08")), nil},
	}
	cs := make([]store.Completion, len(cases))
	for i, tc := range cases {
		cs[i] = tc.c
	}
	for i, err := range store.CompleteGroup(ctx, s, cs) {
		if tc := cases[i]; (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for table, want := range map[string]int64{"persons": 1, "person_certs": 2, "verifications": 3} {
		if n, err := store.CountRows(ctx, s, table); err != nil || n != want {
			t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
		}
	}
	if p, err := s.PersonByCert(ctx, "A1B2", "02"); !errors.Is(err, platform.ErrNotFound) {
		t.Errorf("the refused completion's certificate is linked to %q (%v)", p, err)
	}
	n, err := store.QueryInt(ctx, s, `SELECT COALESCE(SUM(count), 0) FROM usage_counters`)
	if err != nil || n != 3 {
		t.Errorf("usage counted %d (%v), want 3", n, err)
	}
}
