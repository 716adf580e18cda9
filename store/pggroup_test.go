package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestPostgresGroupIsolatesEachCompletion writes one PostgreSQL group whose completions end
// every way a completion can: each gets the answer it would get alone, the accepted ones (with
// the consents given with them) and the rejected one are written, and a refused one leaves
// nothing behind — not the new person it named, not its certificate link, not its consent, not
// a count.
func TestPostgresGroupIsolatesEachCompletion(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, store.DialectPostgres)
	setup(t, s, "s_1", "s_2", "s_3", "s_4", "s_5")
	link := func(person, serial string) []platform.PersonCert {
		return []platform.PersonCert{{PersonID: person, CA: "A1B2", Serial: serial, Kind: "sign", LinkedAt: t0}}
	}
	c := func(v platform.Verification, certs []platform.PersonCert) store.Completion {
		cc := store.Completion{V: v, Certs: certs, Rec: storetest.Record(v.ID, v.TenantID, v.CreatedAt)}
		if v.Decision == platform.DecisionAccepted {
			cc.Consents = []platform.Consent{consent("c"+v.ID, v.ID)}
		}
		return cc
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
	for table, want := range map[string]int64{"persons": 1, "person_certs": 2, "verifications": 3, "consents": 2} {
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

// TestPostgresConcurrentCompletionsShareTransactions completes 64 sessions at once through
// CompleteSession: each is written once and counted once, and they share transactions (the
// entries' xmin), which they did not while a committer handed a lone completion back to run
// on its own and so was free again before the next one arrived.
func TestPostgresConcurrentCompletionsShareTransactions(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, store.DialectPostgres)
	const n = 64
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("s_%02d", i)
	}
	setup(t, s, ids...)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, sid := range ids {
		wg.Go(func() {
			v := rejected(fmt.Sprintf("v_%02d", i), "t1", sid)
			errs[i] = s.CompleteSession(ctx, v, nil, nil, nil, storetest.Record(v.ID, v.TenantID, v.CreatedAt))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("completion %d: %v", i, err)
		}
	}
	if got := count(t, s, "verifications"); got != n {
		t.Errorf("%d verifications, want %d", got, n)
	}
	if total, err := store.QueryInt(ctx, s, `SELECT COALESCE(SUM(count), 0) FROM usage_counters`); err != nil || total != n {
		t.Errorf("usage counted %d (%v), want %d", total, err, n)
	}
	txs, err := store.QueryInt(ctx, s, `SELECT count(DISTINCT xmin::text) FROM evidence_entries`)
	if err != nil || txs > n/2 {
		t.Errorf("%d completions written in %d transactions (%v), want at most %d", n, txs, err, n/2)
	}
}

// TestPostgresFailedGroupWritesNothing fails a group in its second round trip, after its
// entries and a new person were inserted (a trigger refuses one certificate link): every
// completion of the group gets the error and nothing of any of them stays — no entry, no
// person, no link, no consent, no count — and the same completions, without the failing one, are written
// afterwards on the same store.
func TestPostgresFailedGroupWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, store.DialectPostgres)
	setup(t, s, "s_1", "s_2", "s_3")
	must(t, store.Exec(ctx, s, `CREATE FUNCTION refuse_link() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.serial = 'boom' THEN RAISE EXCEPTION 'link refused'; END IF; RETURN NEW; END $$`))
	must(t, store.Exec(ctx, s, `CREATE TRIGGER refuse_link BEFORE INSERT ON person_certs FOR EACH ROW EXECUTE FUNCTION refuse_link()`))
	c := func(v platform.Verification, certs ...platform.PersonCert) store.Completion {
		return store.Completion{V: v, Certs: certs, Rec: storetest.Record(v.ID, v.TenantID, v.CreatedAt)}
	}
	good := []store.Completion{
		c(accepted("v_1", "t1", "s_1", "p_1", "01"), link("p_1", "01", "sign")),
		c(rejected("v_2", "t1", "s_2"), nil...),
	}
	good[0].Consents = []platform.Consent{consent("c_1", "v_1")}
	bad := c(accepted("v_3", "t1", "s_3", "p_3", "boom"), link("p_3", "boom", "sign"))
	before := rowCounts(t, s)
	for i, err := range store.CompleteGroup(ctx, s, append(slices.Clone(good), bad)) {
		if err == nil {
			t.Errorf("completion %d of the failed group: no error", i)
		}
	}
	if after := rowCounts(t, s); !maps.Equal(before, after) {
		t.Errorf("a failed group left rows: before %v, after %v", before, after)
	}
	for i, err := range store.CompleteGroup(ctx, s, good) {
		if err != nil {
			t.Errorf("completion %d again: %v", i, err)
		}
	}
	if got := count(t, s, "verifications"); got != 2 {
		t.Errorf("%d verifications, want 2", got)
	}
}
