package store_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// t0 is 00:30 JST on 1 April 2025 — still March in UTC — so usage months prove they are JST.
var t0 = time.Date(2025, 3, 31, 15, 30, 0, 123456789, time.UTC)

// env is what each case of the suite gets: a store on a database of its own.
type env struct {
	s       *store.Store
	dialect string
	dsn     string
}

// suite is the one store test suite; TestStore runs every case against every dialect.
var suite = []struct {
	name string
	run  func(t *testing.T, e env)
}{
	{"Dialect", testDialect},
	{"Tenants", testTenants},
	{"APIKeys", testAPIKeys},
	{"Incomplete", testIncomplete},
	{"Sessions", testSessions},
	{"SessionIdempotency", testSessionIdempotency},
	{"SessionIdempotencyConcurrent", testSessionIdempotencyConcurrent},
	{"CompleteAccepted", testCompleteAccepted},
	{"CompleteRejected", testCompleteRejected},
	{"CompleteChipReading", testCompleteChipReading},
	{"CompleteGuard", testCompleteGuard},
	{"CompleteConcurrent", testCompleteConcurrent},
	{"CompleteFailureWritesNothing", testCompleteFailureWritesNothing},
	{"PersonLinks", testPersonLinks},
	{"Usage", testUsage},
	{"ConcurrentWriters", testConcurrentWriters},
	{"Reopen", testReopen},
	{"TrustAnchors", testTrustAnchors},
	{"CRLHighWater", testCRLHighWater},
}

func TestStore(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			for _, c := range suite {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					dsn := storetest.DSN(t, dialect)
					c.run(t, env{s: open(t, dsn), dialect: dialect, dsn: dsn})
				})
			}
		})
	}
}

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// --- fixtures -------------------------------------------------------------------------------

func tenant(id string, at time.Time) platform.Tenant {
	return platform.Tenant{ID: id, Name: "Tenant " + id, Facts: []platform.Fact{platform.FactName, platform.FactBirth}, CreatedAt: at, Revocation: platform.RevocationCRL}
}

func session(id, tenantID string, p platform.Purpose) platform.Session {
	return platform.Session{
		ID: id, TenantID: tenantID, Purpose: p,
		Nonce:       bytes.Repeat([]byte{0xA5, 0x00}, 16),
		HolderToken: "holder-" + id, Status: platform.SessionPending,
		CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute), ClientRef: "user-42",
	}
}

var basic4 = &jpki.Basic4{
	Name: "山田　太郎", NameAltPositions: "00010", Birth: jpki.Date{Year: 1980, Month: time.February, Day: 29},
	Sex: jpki.SexMale, Address: "東京都千代田区永田町一丁目７番１号",
}

// accepted is an accepted identity verification of sessionID by person, with the signing
// certificate serial.
func accepted(id, tenantID, sessionID, person, serial string) platform.Verification {
	return platform.Verification{
		ID: id, TenantID: tenantID, SessionID: sessionID, Purpose: platform.PurposeIdentity,
		Decision: platform.DecisionAccepted, PersonID: person,
		CertCA: "A1B2", CertSerial: serial, Cert: []byte("DER " + serial), Basic4: basic4,
		Method: platform.MethodCRL, RevocationRef: "42", CreatedAt: t0.Add(time.Minute),
	}
}

func rejected(id, tenantID, sessionID string) platform.Verification {
	return platform.Verification{
		ID: id, TenantID: tenantID, SessionID: sessionID, Purpose: platform.PurposeIdentity,
		Decision: platform.DecisionRejected, Reason: "cert-revoked", Detail: "revoked at …",
		CertCA: "A1B2", CertSerial: "99", Cert: []byte("DER 99"),
		Method: platform.MethodOCSP, RevocationRef: "ocsp", RevocationEvidence: []byte{0x30, 0x03, 0x0A, 0x01, 0x00},
		CreatedAt: t0.Add(time.Minute),
	}
}

func link(person, serial, kind string) platform.PersonCert {
	return platform.PersonCert{PersonID: person, CA: "A1B2", Serial: serial, Kind: kind, LinkedAt: t0.Add(time.Minute)}
}

// consent is the holder's basic4_updates consent, given with verification vid of t1.
func consent(id, vid string) platform.Consent {
	return platform.Consent{ID: id, TenantID: "t1", VerificationID: vid, Scope: platform.ScopeBasic4Updates, GrantedAt: t0.Add(time.Minute)}
}

// completeConsenting is storetest.Complete with consents.
func completeConsenting(ctx context.Context, s *store.Store, v platform.Verification, certs []platform.PersonCert, events []platform.Event, consents ...platform.Consent) error {
	return s.CompleteSession(ctx, v, certs, events, consents, storetest.Record(v.ID, v.TenantID, v.CreatedAt))
}

func event(id, tenantID string) platform.Event {
	return platform.Event{ID: id, TenantID: tenantID, Type: "verification.completed",
		Payload: []byte(`{"id":"` + id + `"}`), CreatedAt: t0.Add(time.Minute)}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func count(t *testing.T, s *store.Store, table string) int64 {
	t.Helper()
	n, err := store.CountRows(context.Background(), s, table)
	must(t, err)
	return n
}

// rowCounts snapshots the number of rows of every table CompleteSession writes.
func rowCounts(t *testing.T, s *store.Store) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, table := range []string{"sessions", "verifications", "evidence_entries", "persons", "person_certs", "consents", "outbox", "usage_counters"} {
		m[table] = count(t, s, table)
	}
	n, err := store.QueryInt(context.Background(), s, `SELECT COALESCE(SUM(count), 0) FROM usage_counters`)
	must(t, err)
	m["usage total"] = n
	return m
}

// setup creates tenant "t1" and a pending identity session per id.
func setup(t *testing.T, s *store.Store, sessionIDs ...string) {
	t.Helper()
	ctx := context.Background()
	must(t, s.CreateTenant(ctx, tenant("t1", t0)))
	for _, id := range sessionIDs {
		_, _, err := s.CreateSession(ctx, session(id, "t1", platform.PurposeIdentity), "")
		must(t, err)
	}
}

// --- cases ----------------------------------------------------------------------------------

func testDialect(t *testing.T, e env) {
	if got := e.s.Dialect(); got != e.dialect {
		t.Errorf("Dialect() = %q, want %q", got, e.dialect)
	}
}

func testTenants(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	// Created out of id order, and with a non-UTC time, to prove "oldest first" and UTC.
	newer := tenant("t_a", t0.Add(time.Hour))
	older := tenant("t_b", t0.In(jpki.JST))
	older.Facts = nil
	must(t, s.CreateTenant(ctx, newer))
	must(t, s.CreateTenant(ctx, older))
	wantErr(t, "duplicate tenant", s.CreateTenant(ctx, tenant("t_a", t0)), platform.ErrConflict)

	got, err := s.Tenant(ctx, "t_a")
	must(t, err)
	if !reflect.DeepEqual(*got, newer) {
		t.Errorf("Tenant(t_a) = %+v, want %+v", *got, newer)
	}
	_, err = s.Tenant(ctx, "t_nope")
	wantErr(t, "unknown tenant", err, platform.ErrNotFound)

	all, err := s.Tenants(ctx)
	must(t, err)
	if len(all) != 2 || all[0].ID != "t_b" || all[1].ID != "t_a" {
		t.Fatalf("Tenants() = %+v, want t_b then t_a", all)
	}
	if all[0].Facts != nil || !all[0].CreatedAt.Equal(t0) || all[0].CreatedAt.Location() != time.UTC {
		t.Errorf("Tenants()[0] = %+v, want no facts and CreatedAt %v in UTC", all[0], t0)
	}

	// The revocation policy: crl when not given, stored as given, changed by UpdateTenant;
	// an unknown policy or tenant changes nothing.
	strict := tenant("t_c", t0)
	strict.Revocation = platform.RevocationBoth
	must(t, s.CreateTenant(ctx, strict))
	bare := tenant("t_d", t0)
	bare.Revocation = ""
	must(t, s.CreateTenant(ctx, bare))
	wantPolicy := func(id string, want platform.RevocationPolicy) {
		t.Helper()
		got, err := s.Tenant(ctx, id)
		must(t, err)
		if got.Revocation != want {
			t.Errorf("tenant %s: revocation %q, want %q", id, got.Revocation, want)
		}
	}
	wantPolicy("t_c", platform.RevocationBoth)
	wantPolicy("t_d", platform.RevocationCRL)
	odd := tenant("t_e", t0)
	odd.Revocation = "holder"
	if err := s.CreateTenant(ctx, odd); err == nil {
		t.Error("a tenant with an unknown revocation policy was stored")
	}
	must(t, s.UpdateTenant(ctx, platform.Tenant{ID: "t_d", Revocation: platform.RevocationOCSP}))
	wantPolicy("t_d", platform.RevocationOCSP)
	if err := s.UpdateTenant(ctx, platform.Tenant{ID: "t_d", Revocation: "sometimes"}); err == nil {
		t.Error("UpdateTenant stored an unknown policy")
	}
	wantPolicy("t_d", platform.RevocationOCSP)
	wantErr(t, "update of an unknown tenant", s.UpdateTenant(ctx, platform.Tenant{ID: "t_nope", Revocation: platform.RevocationCRL}), platform.ErrNotFound)

	// The fact allowance and when it last grew: stored, read back in UTC, cleared to nil; an
	// unknown fact changes nothing.
	widened := t0.Add(time.Hour)
	must(t, s.UpdateTenant(ctx, platform.Tenant{ID: "t_d", Revocation: platform.RevocationOCSP,
		Facts: []platform.Fact{platform.FactAddress, platform.FactName}, FactsWidenedAt: widened}))
	got, err = s.Tenant(ctx, "t_d")
	must(t, err)
	if !reflect.DeepEqual(got.Facts, []platform.Fact{platform.FactAddress, platform.FactName}) || !got.FactsWidenedAt.Equal(widened) || got.FactsWidenedAt.Location() != time.UTC {
		t.Errorf("after UpdateTenant: facts %v widened %v, want [address name] and %v in UTC", got.Facts, got.FactsWidenedAt, widened)
	}
	if err := s.UpdateTenant(ctx, platform.Tenant{ID: "t_d", Revocation: platform.RevocationOCSP, Facts: []platform.Fact{"income"}}); err == nil {
		t.Error("UpdateTenant stored an unknown fact")
	}
	must(t, s.UpdateTenant(ctx, platform.Tenant{ID: "t_d", Revocation: platform.RevocationOCSP}))
	if got, _ := s.Tenant(ctx, "t_d"); got.Facts != nil || !got.FactsWidenedAt.IsZero() {
		t.Errorf("after UpdateTenant to no facts: facts %v widened %v, want none", got.Facts, got.FactsWidenedAt)
	}
	if got, _ := s.Tenant(ctx, "t_a"); !reflect.DeepEqual(*got, newer) {
		t.Errorf("another tenant changed: %+v", *got)
	}
}

func testAPIKeys(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	must(t, s.CreateTenant(ctx, tenant("t1", t0)))
	must(t, s.CreateTenant(ctx, tenant("t2", t0)))
	key := func(id, tenantID string, at time.Time) platform.APIKey {
		return platform.APIKey{ID: id, TenantID: tenantID, Name: "key " + id, SecretHash: bytes.Repeat([]byte{0, 0xFF}, 16), CreatedAt: at}
	}
	wantErr(t, "key of unknown tenant", s.CreateAPIKey(ctx, key("k0", "t_nope", t0)), platform.ErrNotFound)
	must(t, s.CreateAPIKey(ctx, key("k2", "t1", t0.Add(time.Second))))
	must(t, s.CreateAPIKey(ctx, key("k1", "t1", t0)))
	must(t, s.CreateAPIKey(ctx, key("k3", "t2", t0)))
	wantErr(t, "duplicate key", s.CreateAPIKey(ctx, key("k1", "t2", t0)), platform.ErrConflict)

	got, err := s.APIKey(ctx, "k2")
	must(t, err)
	if want := key("k2", "t1", t0.Add(time.Second)); !reflect.DeepEqual(*got, want) {
		t.Errorf("APIKey(k2) = %+v, want %+v", *got, want)
	}
	_, err = s.APIKey(ctx, "k_nope")
	wantErr(t, "unknown key", err, platform.ErrNotFound)

	list, err := s.APIKeys(ctx, "t1")
	must(t, err)
	if len(list) != 2 || list[0].ID != "k1" || list[1].ID != "k2" {
		t.Fatalf("APIKeys(t1) = %+v, want k1 then k2", list)
	}
	if list, err := s.APIKeys(ctx, "t_nope"); err != nil || len(list) != 0 {
		t.Errorf("APIKeys(unknown) = %v, %v; want none", list, err)
	}

	revokedAt := t0.Add(time.Hour)
	must(t, s.RevokeAPIKey(ctx, "k1", revokedAt))
	wantErr(t, "second revocation", s.RevokeAPIKey(ctx, "k1", revokedAt.Add(time.Hour)), platform.ErrConflict)
	wantErr(t, "revoke unknown key", s.RevokeAPIKey(ctx, "k_nope", revokedAt), platform.ErrNotFound)
	got, err = s.APIKey(ctx, "k1")
	must(t, err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
		t.Errorf("k1 RevokedAt = %v, want the first revocation %v", got.RevokedAt, revokedAt)
	}
	if got, err := s.APIKey(ctx, "k2"); err != nil || got.RevokedAt != nil {
		t.Errorf("k2 = %+v, %v; want not revoked", got, err)
	}
}

func testIncomplete(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1")
	noNonce := session("s2", "t1", platform.PurposeIdentity)
	noNonce.Nonce = nil
	badPurpose := session("s2", "t1", "shopping")
	expired := session("s2", "t1", platform.PurposeIdentity)
	expired.ExpiresAt = expired.CreatedAt
	noPerson := accepted("v1", "t1", "s1", "", "01")
	noBasic4 := accepted("v1", "t1", "s1", "p1", "01")
	noBasic4.Basic4 = nil
	noReason := rejected("v1", "t1", "s1")
	noReason.Reason = ""
	badEvent := event("e1", "t1")
	badEvent.Payload = []byte("{not json")

	tests := []struct {
		name      string
		call      func() error
		wantField string
	}{
		{"tenant id", func() error { return s.CreateTenant(ctx, platform.Tenant{Name: "x", CreatedAt: t0}) }, "Tenant.ID"},
		{"tenant time", func() error { return s.CreateTenant(ctx, platform.Tenant{ID: "t9", Name: "x"}) }, "Tenant.CreatedAt"},
		{"tenant fact", func() error {
			return s.CreateTenant(ctx, platform.Tenant{ID: "t9", Name: "x", Facts: []platform.Fact{"shoe size"}, CreatedAt: t0})
		}, "Tenant.Facts"},
		{"tenant get", func() error { _, err := s.Tenant(ctx, ""); return err }, "id"},
		{"key hash", func() error {
			return s.CreateAPIKey(ctx, platform.APIKey{ID: "k", TenantID: "t1", CreatedAt: t0})
		}, "APIKey.SecretHash"},
		{"key get", func() error { _, err := s.APIKey(ctx, ""); return err }, "id"},
		{"keys list", func() error { _, err := s.APIKeys(ctx, ""); return err }, "tenantID"},
		{"revoke time", func() error { return s.RevokeAPIKey(ctx, "k", time.Time{}) }, "at"},
		{"session nonce", func() error { _, _, err := s.CreateSession(ctx, noNonce, ""); return err }, "Session.Nonce"},
		{"session purpose", func() error { _, _, err := s.CreateSession(ctx, badPurpose, ""); return err }, "Session.Purpose"},
		{"session expiry", func() error { _, _, err := s.CreateSession(ctx, expired, ""); return err }, "Session.ExpiresAt"},
		{"session get", func() error { _, err := s.Session(ctx, ""); return err }, "id"},
		{"complete person", func() error { return storetest.Complete(ctx, s, noPerson, nil, nil) }, "Verification.PersonID"},
		{"complete reason", func() error { return storetest.Complete(ctx, s, noReason, nil, nil) }, "Verification.Reason"},
		{"complete certs on rejection", func() error {
			return storetest.Complete(ctx, s, rejected("v1", "t1", "s1"), []platform.PersonCert{link("p1", "01", "sign")}, nil)
		}, "certs"},
		{"complete cert of another person", func() error {
			return storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p2", "01", "sign")}, nil)
		}, "certs[0].PersonID"},
		{"complete cert kind", func() error {
			return storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p1", "01", "card")}, nil)
		}, "certs[0].Kind"},
		{"complete event payload", func() error {
			return storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), nil, []platform.Event{badEvent})
		}, "events[0].Payload"},
		{"complete two events", func() error {
			return storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), nil, []platform.Event{event("e1", "t1"), event("e2", "t1")})
		}, "events"},
		{"complete event of another tenant", func() error {
			return storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), nil, []platform.Event{event("e1", "t2")})
		}, "events[0].TenantID"},
		{"complete without evidence", func() error {
			return s.CompleteSession(ctx, accepted("v1", "t1", "s1", "p1", "01"), nil, nil, nil, nil)
		}, "rec"},
		{"complete with another's evidence", func() error {
			return s.CompleteSession(ctx, accepted("v1", "t1", "s1", "p1", "01"), nil, nil, nil, storetest.Record("v2", "t1", t0))
		}, "rec"},
		{"consent with a rejection", func() error {
			return completeConsenting(ctx, s, rejected("v1", "t1", "s1"), nil, nil, consent("c1", "v1"))
		}, "consents"},
		{"consent of another verification", func() error {
			return completeConsenting(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), nil, nil, consent("c1", "v2"))
		}, "consents[0].VerificationID"},
		{"consent scope twice", func() error {
			return completeConsenting(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), nil, nil, consent("c1", "v1"), consent("c2", "v1"))
		}, "consents[1].Scope"},
		{"verification get", func() error { _, err := s.Verification(ctx, "t1", ""); return err }, "id"},
		{"person by cert", func() error { _, err := s.PersonByCert(ctx, "A1B2", ""); return err }, "serial"},
		{"usage month", func() error { _, err := s.Usage(ctx, "t1", "2025-4", "2025-05"); return err }, "from"},
		{"usage range", func() error { _, err := s.Usage(ctx, "t1", "2025-05", "2025-04"); return err }, "to"},
	}
	before := rowCounts(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ie *store.IncompleteError
			if !errors.Is(err, store.ErrIncomplete) || !errors.As(err, &ie) {
				t.Fatalf("got %v, want an IncompleteError", err)
			}
			if ie.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (%v)", ie.Field, tt.wantField, err)
			}
		})
	}
	if after := rowCounts(t, s); !reflect.DeepEqual(after, before) {
		t.Errorf("incomplete requests wrote rows: before %v, after %v", before, after)
	}
	if n := count(t, s, "tenants"); n != 1 {
		t.Errorf("%d tenants, want 1", n)
	}
}

func testSessions(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s)
	in := session("s1", "t1", platform.PurposeLogin)
	in.Status = "" // a new session may leave Status empty: it is stored pending
	in.CreatedAt = in.CreatedAt.In(jpki.JST)
	stored, created, err := s.CreateSession(ctx, in, "")
	must(t, err)
	want := session("s1", "t1", platform.PurposeLogin)
	if !created || !reflect.DeepEqual(*stored, want) {
		t.Errorf("CreateSession = %+v, %v; want %+v, true", *stored, created, want)
	}
	got, err := s.Session(ctx, "s1")
	must(t, err)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Session(s1) = %+v, want %+v", *got, want)
	}
	_, err = s.Session(ctx, "s_nope")
	wantErr(t, "unknown session", err, platform.ErrNotFound)

	_, _, err = s.CreateSession(ctx, session("s1", "t1", platform.PurposeLogin), "")
	wantErr(t, "duplicate session id", err, platform.ErrConflict)
	_, _, err = s.CreateSession(ctx, session("s1", "t1", platform.PurposeLogin), "some key")
	wantErr(t, "duplicate session id with a key", err, platform.ErrConflict)
	_, _, err = s.CreateSession(ctx, session("s2", "t_nope", platform.PurposeLogin), "")
	wantErr(t, "session of unknown tenant", err, platform.ErrNotFound)

	// Without a key, every call creates a session.
	for _, id := range []string{"s2", "s3"} {
		if _, created, err := s.CreateSession(ctx, session(id, "t1", platform.PurposeIdentity), ""); err != nil || !created {
			t.Errorf("CreateSession(%s, no key) = %v, %v; want created", id, created, err)
		}
	}
	if n := count(t, s, "sessions"); n != 3 {
		t.Errorf("%d sessions, want 3", n)
	}
}

func testSessionIdempotency(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s)
	must(t, s.CreateTenant(ctx, tenant("t2", t0)))
	first, created, err := s.CreateSession(ctx, session("s1", "t1", platform.PurposeIdentity), "key-1")
	must(t, err)
	if !created {
		t.Fatal("first call: created = false")
	}
	// A retry with a new session id (the platform draws one per request) and another purpose:
	// the stored session comes back and nothing is stored.
	again, created, err := s.CreateSession(ctx, session("s2", "t1", platform.PurposeLogin), "key-1")
	must(t, err)
	if created || !reflect.DeepEqual(again, first) {
		t.Errorf("retry = %+v, %v; want %+v, false", again, created, first)
	}
	_, err = s.Session(ctx, "s2")
	wantErr(t, "session of the retry", err, platform.ErrNotFound)
	// The very same request again (same id and key): also a replay, not a conflict.
	again, created, err = s.CreateSession(ctx, session("s1", "t1", platform.PurposeIdentity), "key-1")
	if err != nil || created || again.ID != "s1" {
		t.Errorf("identical retry = %+v, %v, %v; want s1, false, nil", again, created, err)
	}
	// Keys belong to a tenant: t2's "key-1" is another key.
	if _, created, err := s.CreateSession(ctx, session("s3", "t2", platform.PurposeIdentity), "key-1"); err != nil || !created {
		t.Errorf("other tenant's key: created = %v, %v; want true", created, err)
	}
	// A completed session is still what its key returns.
	must(t, storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p1", "01", "sign")}, nil))
	again, created, err = s.CreateSession(ctx, session("s4", "t1", platform.PurposeIdentity), "key-1")
	if err != nil || created || again.ID != "s1" || again.Status != platform.SessionVerified || again.VerificationID != "v1" {
		t.Errorf("retry after completion = %+v, %v, %v; want s1 verified by v1", again, created, err)
	}
	if n := count(t, s, "sessions"); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}

func testSessionIdempotencyConcurrent(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s)
	const n = 16
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		ids     [n]string
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			stored, c, err := s.CreateSession(ctx, session(fmt.Sprintf("s%02d", i), "t1", platform.PurposeIdentity), "same-key")
			if err == nil {
				ids[i], created[i] = stored.ID, c
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
			if ids[i] != fmt.Sprintf("s%02d", i) {
				t.Errorf("call %d created %s, want its own session", i, ids[i])
			}
		}
		if ids[i] != ids[0] {
			t.Errorf("call %d got session %s, call 0 got %s", i, ids[i], ids[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d calls created a session, want 1", winners)
	}
	if c := count(t, s, "sessions"); c != 1 {
		t.Errorf("%d sessions stored, want 1", c)
	}
}

func testCompleteAccepted(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1")
	must(t, s.CreateTenant(ctx, tenant("t2", t0)))
	v := accepted("v1", "t1", "s1", "p1", "0A")
	v.Method, v.RevocationRef, v.RevocationEvidence = platform.MethodOCSP, "ocsp", []byte{0x30, 0x82, 0x01, 0x00}
	certs := []platform.PersonCert{link("p1", "0A", "sign"), link("p1", "0B", "auth")}
	must(t, completeConsenting(ctx, s, v, certs, []platform.Event{event("e1", "t1")}, consent("c1", "v1")))

	sess, err := s.Session(ctx, "s1")
	must(t, err)
	if sess.Status != platform.SessionVerified || sess.VerificationID != "v1" {
		t.Errorf("session after acceptance: %s, %q; want verified, v1", sess.Status, sess.VerificationID)
	}
	got, err := s.Verification(ctx, "t1", "v1")
	must(t, err)
	v.CreatedAt = v.CreatedAt.UTC()
	v.Cert, v.RevocationEvidence = nil, nil // kept in the evidence entry only, sealed
	v.Basic4 = nil                          // the facts too: never stored in clear
	if !reflect.DeepEqual(*got, v) {
		t.Errorf("Verification = %+v\nwant %+v", *got, v)
	}
	_, err = s.Verification(ctx, "t2", "v1")
	wantErr(t, "another tenant's verification", err, platform.ErrNotFound)
	_, err = s.Verification(ctx, "t1", "v_nope")
	wantErr(t, "unknown verification", err, platform.ErrNotFound)

	for _, serial := range []string{"0A", "0B"} {
		if p, err := s.PersonByCert(ctx, "A1B2", serial); err != nil || p != "p1" {
			t.Errorf("PersonByCert(%s) = %q, %v; want p1", serial, p, err)
		}
	}
	_, err = s.PersonByCert(ctx, "A1B2", "0C")
	wantErr(t, "unlinked certificate", err, platform.ErrNotFound)

	// The consent given with it was written with it.
	cs, err := s.PersonConsents(ctx, "p1")
	must(t, err)
	if want := []platform.Consent{consent("c1", "v1")}; len(cs) != 1 || cs[0].ID != "c1" || cs[0].VerificationID != "v1" ||
		cs[0].Scope != platform.ScopeBasic4Updates || !cs[0].GrantedAt.Equal(want[0].GrantedAt) || cs[0].RevokedAt != nil {
		t.Errorf("PersonConsents = %+v, want %+v", cs, want)
	}

	usage, err := s.Usage(ctx, "t1", "2025-01", "2025-12")
	must(t, err)
	want := []platform.Usage{{TenantID: "t1", Month: "2025-04", Purpose: platform.PurposeIdentity, Method: platform.MethodOCSP, Count: 1}}
	if !reflect.DeepEqual(usage, want) {
		t.Errorf("Usage = %+v, want %+v", usage, want)
	}

	// The event goes to the outbox only when an enabled endpoint of the tenant may want its type:
	// t1 has none, then one that wants another type, then one that wants every type.
	if n := count(t, s, "outbox"); n != 0 {
		t.Errorf("%d outbox rows without an endpoint, want 0", n)
	}
	for i, types := range [][]string{{"certificate.revoked"}, nil} {
		ep, sec := nEndpoint(fmt.Sprintf("we_%d", i), "t1", types...)
		must(t, s.CreateWebhookEndpoint(ctx, ep, sec))
		sid, vid, eid := fmt.Sprintf("s_ev%d", i), fmt.Sprintf("v_ev%d", i), fmt.Sprintf("e_ev%d", i)
		_, _, err := s.CreateSession(ctx, session(sid, "t1", platform.PurposeIdentity), "")
		must(t, err)
		ev := event(eid, "t1")
		must(t, storetest.Complete(ctx, s, rejected(vid, "t1", sid), nil, []platform.Event{ev}))
		kept, err := store.QueryInt(ctx, s, `SELECT count(*) FROM outbox WHERE id = $1 AND type = $2 AND payload = $3`, eid, ev.Type, ev.Payload)
		must(t, err)
		if want := int64(i); kept != want || count(t, s, "outbox") != want {
			t.Errorf("endpoint wanting %v: the event is in the outbox %d times, want %d", types, kept, want)
		}
	}
}

// A chip reading: the purpose is accepted by the sessions, the entries and
// the usage counters; an accepted one has a person of its own and no certificate.
func testCompleteChipReading(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s)
	for _, id := range []string{"s1", "s2"} {
		_, _, err := s.CreateSession(ctx, session(id, "t1", platform.PurposeChipReading), "")
		must(t, err)
	}
	v := platform.Verification{ID: "v1", TenantID: "t1", SessionID: "s1", Purpose: platform.PurposeChipReading,
		Decision: platform.DecisionAccepted, PersonID: "p_chip", Basic4: basic4, Method: platform.MethodNone, CreatedAt: t0.Add(time.Minute)}
	must(t, storetest.Complete(ctx, s, v, nil, []platform.Event{event("e1", "t1")}))
	r := platform.Verification{ID: "v2", TenantID: "t1", SessionID: "s2", Purpose: platform.PurposeChipReading,
		Decision: platform.DecisionRejected, Reason: "card-data-tampered", Method: platform.MethodNone, CreatedAt: t0.Add(time.Minute)}
	must(t, storetest.Complete(ctx, s, r, nil, nil))
	got, err := s.Verification(ctx, "t1", "v1")
	must(t, err)
	if got.Purpose != platform.PurposeChipReading || got.PersonID != "p_chip" || got.CertSerial != "" {
		t.Errorf("chip reading read back as %+v", *got)
	}
	if n, err := store.QueryInt(ctx, s, `SELECT count(*) FROM persons WHERE id = 'p_chip'`); err != nil || n != 1 {
		t.Errorf("the chip reading's person: %d rows, %v; want 1", n, err)
	}
	usage, err := s.Usage(ctx, "t1", "2025-01", "2025-12")
	must(t, err)
	want := []platform.Usage{{TenantID: "t1", Month: "2025-04", Purpose: platform.PurposeChipReading, Method: platform.MethodNone, Count: 2}}
	if !reflect.DeepEqual(usage, want) {
		t.Errorf("Usage = %+v, want %+v", usage, want)
	}
	// The widened CHECK still refuses what is not a purpose.
	if err := store.ExecRaw(ctx, e.dsn, `UPDATE sessions SET purpose = 'chip' WHERE id = 's1'`); err == nil {
		t.Error("purpose 'chip' was stored")
	}
}

func testCompleteRejected(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1")
	v := rejected("v1", "t1", "s1")
	v.Cert = nil // garbage that never parsed may not even be kept
	must(t, storetest.Complete(ctx, s, v, nil, []platform.Event{event("e1", "t1")}))
	sess, err := s.Session(ctx, "s1")
	must(t, err)
	if sess.Status != platform.SessionFailed || sess.VerificationID != "v1" {
		t.Errorf("session after rejection: %s, %q; want failed, v1", sess.Status, sess.VerificationID)
	}
	got, err := s.Verification(ctx, "t1", "v1")
	must(t, err)
	if got.Decision != platform.DecisionRejected || got.Reason != "cert-revoked" || got.PersonID != "" ||
		got.Basic4 != nil || got.Cert != nil || got.RevocationEvidence != nil { // the OCSP response is in the entry, sealed
		t.Errorf("Verification = %+v", *got)
	}
	if n := count(t, s, "persons"); n != 0 {
		t.Errorf("%d persons after a rejection, want 0", n)
	}
	usage, err := s.Usage(ctx, "t1", "2025-04", "2025-04")
	must(t, err)
	if len(usage) != 1 || usage[0].Method != platform.MethodOCSP || usage[0].Count != 1 {
		t.Errorf("Usage = %+v, want one OCSP identity verification (rejections count)", usage)
	}
}

func testCompleteGuard(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1", "s2")
	must(t, s.CreateTenant(ctx, tenant("t2", t0)))
	must(t, storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p1", "01", "sign")}, []platform.Event{event("e1", "t1")}))
	before := rowCounts(t, s)

	wrongPurpose := accepted("v4", "t1", "s2", "p4", "04")
	wrongPurpose.Purpose = platform.PurposeLogin
	wrongPurpose.Basic4 = nil
	tests := []struct {
		name string
		v    platform.Verification
		want error
	}{
		{"second completion", accepted("v2", "t1", "s1", "p2", "02"), platform.ErrSessionClosed},
		{"second completion, rejected", rejected("v2", "t1", "s1"), platform.ErrSessionClosed},
		{"unknown session", accepted("v3", "t1", "s_nope", "p3", "03"), platform.ErrNotFound},
		{"another tenant's session", accepted("v3", "t2", "s2", "p3", "03"), platform.ErrNotFound},
		{"another purpose", wrongPurpose, platform.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var certs []platform.PersonCert
			if tt.v.PersonID != "" {
				certs = []platform.PersonCert{link(tt.v.PersonID, tt.v.CertSerial, "sign")}
			}
			var consents []platform.Consent
			if tt.v.Decision == platform.DecisionAccepted && tt.v.Purpose == platform.PurposeIdentity {
				c := consent("c_"+tt.v.ID, tt.v.ID)
				c.TenantID = tt.v.TenantID
				consents = append(consents, c)
			}
			err := completeConsenting(ctx, s, tt.v, certs, []platform.Event{event("e_"+tt.v.ID, tt.v.TenantID)}, consents...)
			wantErr(t, "CompleteSession", err, tt.want)
			if after := rowCounts(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("refused completion wrote rows (its consent among them?): before %v, after %v", before, after)
			}
		})
	}
	if sess, err := s.Session(ctx, "s2"); err != nil || sess.Status != platform.SessionPending {
		t.Errorf("s2 = %+v, %v; want still pending", sess, err)
	}
	if sess, err := s.Session(ctx, "s1"); err != nil || sess.VerificationID != "v1" {
		t.Errorf("s1 = %+v, %v; want still v1's", sess, err)
	}
}

func testCompleteConcurrent(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1")
	const n = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			person, serial := fmt.Sprintf("p%d", i), fmt.Sprintf("%02X", i+1)
			v := accepted(fmt.Sprintf("v%d", i), "t1", "s1", person, serial)
			<-start
			errs[i] = storetest.Complete(ctx, s, v, []platform.PersonCert{link(person, serial, "sign")},
				[]platform.Event{event(fmt.Sprintf("e%d", i), "t1")})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("completions %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, platform.ErrSessionClosed):
			t.Errorf("completion %d: %v, want ErrSessionClosed", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no completion succeeded")
	}
	sess, err := s.Session(ctx, "s1")
	must(t, err)
	if want := fmt.Sprintf("v%d", winner); sess.VerificationID != want {
		t.Errorf("session completed by %s, want the winner %s", sess.VerificationID, want)
	}
	want := map[string]int64{"sessions": 1, "verifications": 1, "evidence_entries": 1, "persons": 1, "person_certs": 1, "consents": 0, "outbox": 0, "usage_counters": 1, "usage total": 1}
	if got := rowCounts(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("rows after %d racing completions = %v, want %v (the losers wrote something)", n, got, want)
	}
	for i := range n {
		p, err := s.PersonByCert(ctx, "A1B2", fmt.Sprintf("%02X", i+1))
		if i == winner && (err != nil || p != fmt.Sprintf("p%d", i)) {
			t.Errorf("winner's certificate: %q, %v", p, err)
		}
		if i != winner && !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("loser %d's certificate is linked: %q, %v", i, p, err)
		}
	}
}

func testCompleteFailureWritesNothing(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1", "s2")
	// An endpoint of t1 wants every event, so that verifications' events go to the outbox.
	ep, sec := nEndpoint("we_all", "t1")
	must(t, s.CreateWebhookEndpoint(ctx, ep, sec))
	// s1 completes, leaving a verification v1, an event e1, a consent c1 and a person p1 behind.
	must(t, completeConsenting(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p1", "01", "sign")}, []platform.Event{event("e1", "t1")}, consent("c1", "v1")))
	before := rowCounts(t, s)

	// Each completion of s2 fails after the new person is written inside the transaction; the
	// rollback must take it back, and the consent given with it too. The last fails after its
	// entry and consent were written: a trigger refuses its usage count.
	injected := []string{`CREATE TRIGGER refuse_count BEFORE INSERT ON usage_counters BEGIN SELECT RAISE(ABORT, 'count refused'); END`}
	uninject := `DROP TRIGGER refuse_count`
	if e.dialect == store.DialectPostgres {
		injected = []string{`CREATE FUNCTION refuse_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'count refused'; END $$`,
			`CREATE TRIGGER refuse_count BEFORE INSERT ON usage_counters FOR EACH ROW EXECUTE FUNCTION refuse_count()`}
		uninject += ` ON usage_counters`
	}
	tests := []struct {
		name    string
		v       platform.Verification
		events  []platform.Event
		consent platform.Consent
		inject  []string
		want    error // nil: any error
	}{
		{"duplicate event id", accepted("v2", "t1", "s2", "p2", "02"), []platform.Event{event("e1", "t1")}, consent("c2", "v2"), nil, platform.ErrConflict},
		{"duplicate verification id", accepted("v1", "t1", "s2", "p2", "02"), nil, consent("c2", "v1"), nil, platform.ErrConflict},
		{"duplicate consent id", accepted("v2", "t1", "s2", "p2", "02"), nil, consent("c1", "v2"), nil, nil},
		{"usage count refused", accepted("v2", "t1", "s2", "p2", "02"), []platform.Event{event("e2", "t1")}, consent("c2", "v2"), injected, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, q := range tt.inject {
				must(t, store.Exec(ctx, s, q))
			}
			if tt.inject != nil {
				defer func() { must(t, store.Exec(ctx, s, uninject)) }()
			}
			err := completeConsenting(ctx, s, tt.v, []platform.PersonCert{link("p2", "02", "sign"), link("p2", "03", "auth")}, tt.events, tt.consent)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("CompleteSession: %v, want %v", err, cmp.Or(tt.want, errors.New("an error")))
			}
			if after := rowCounts(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("failed completion left rows: before %v, after %v", before, after)
			}
			sess, err := s.Session(ctx, "s2")
			must(t, err)
			if sess.Status != platform.SessionPending || sess.VerificationID != "" {
				t.Errorf("s2 = %s %q after a failed completion, want pending", sess.Status, sess.VerificationID)
			}
			_, err = s.PersonByCert(ctx, "A1B2", "02")
			wantErr(t, "certificate of a failed completion", err, platform.ErrNotFound)
		})
	}
	// After the failures the session can still be completed.
	// An accepted verification without links must name a known person.
	wantErr(t, "unknown person without links", storetest.Complete(ctx, s, accepted("v2", "t1", "s2", "p2", "02"), nil, nil), platform.ErrNotFound)
	must(t, completeConsenting(ctx, s, accepted("v2", "t1", "s2", "p2", "02"), []platform.PersonCert{link("p2", "02", "sign")}, []platform.Event{event("e2", "t1")}, consent("c2", "v2")))
	if cs, err := s.PersonConsents(ctx, "p2"); err != nil || len(cs) != 1 || cs[0].ID != "c2" {
		t.Errorf("consents of p2 = %+v, %v; want c2 alone", cs, err)
	}
}

func testPersonLinks(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1", "s2", "s3")
	// First card: signing certificate 10 and authentication certificate 11 of person p1.
	must(t, storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "10"),
		[]platform.PersonCert{link("p1", "10", "sign"), link("p1", "11", "auth")}, nil))
	// A new card after a move: the platform found p1 through the renewal link and links the new
	// certificate 20 to it, naming the old one again.
	must(t, storetest.Complete(ctx, s, accepted("v2", "t1", "s2", "p1", "20"),
		[]platform.PersonCert{link("p1", "20", "sign"), link("p1", "10", "sign")}, nil))
	for _, serial := range []string{"10", "11", "20"} {
		if p, err := s.PersonByCert(ctx, "A1B2", serial); err != nil || p != "p1" {
			t.Errorf("PersonByCert(%s) = %q, %v; want p1", serial, p, err)
		}
	}
	// A later verification that names another person for an already linked certificate does
	// not move the link (existing links are kept).
	must(t, storetest.Complete(ctx, s, accepted("v3", "t1", "s3", "p9", "30"),
		[]platform.PersonCert{link("p9", "30", "sign"), link("p9", "10", "sign")}, nil))
	if p, err := s.PersonByCert(ctx, "A1B2", "10"); err != nil || p != "p1" {
		t.Errorf("PersonByCert(10) = %q, %v; want p1 kept", p, err)
	}
	if p, err := s.PersonByCert(ctx, "A1B2", "30"); err != nil || p != "p9" {
		t.Errorf("PersonByCert(30) = %q, %v; want p9", p, err)
	}
	if n := count(t, s, "persons"); n != 2 {
		t.Errorf("%d persons, want 2 (p1 created once)", n)
	}
	if n := count(t, s, "person_certs"); n != 4 {
		t.Errorf("%d certificate links, want 4", n)
	}
}

func testUsage(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s)
	must(t, s.CreateTenant(ctx, tenant("t2", t0)))
	jstMonth := func(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, jpki.JST) }
	completions := []struct {
		tenant  string
		at      time.Time
		purpose platform.Purpose
		method  platform.RevocationMethod
	}{
		{"t1", jstMonth(2025, 3).Add(-time.Nanosecond), platform.PurposeIdentity, platform.MethodCRL}, // 2025-02 in JST
		{"t1", jstMonth(2025, 3), platform.PurposeIdentity, platform.MethodCRL},                       // 2025-03, though 2025-02 in UTC
		{"t1", jstMonth(2025, 3).Add(time.Hour), platform.PurposeIdentity, platform.MethodCRL},
		{"t1", jstMonth(2025, 3).Add(2 * time.Hour), platform.PurposeIdentity, platform.MethodOCSP},
		{"t1", jstMonth(2025, 3).Add(3 * time.Hour), platform.PurposeLogin, platform.MethodCRL},
		{"t1", jstMonth(2025, 3).Add(4 * time.Hour), platform.PurposeLogin, platform.MethodNone},
		{"t1", jstMonth(2025, 4), platform.PurposeLogin, platform.MethodCRL},
		{"t1", jstMonth(2025, 6), platform.PurposeLogin, platform.MethodCRL},
		{"t2", jstMonth(2025, 3), platform.PurposeIdentity, platform.MethodCRL},
	}
	for i, c := range completions {
		sid := fmt.Sprintf("s%d", i)
		sess := session(sid, c.tenant, c.purpose)
		_, _, err := s.CreateSession(ctx, sess, "")
		must(t, err)
		v := rejected(fmt.Sprintf("v%d", i), c.tenant, sid)
		v.Purpose, v.Method, v.CreatedAt = c.purpose, c.method, c.at
		must(t, storetest.Complete(ctx, s, v, nil, nil))
	}
	u := func(month string, p platform.Purpose, m platform.RevocationMethod, n int64) platform.Usage {
		return platform.Usage{TenantID: "t1", Month: month, Purpose: p, Method: m, Count: n}
	}
	tests := []struct {
		from, to string
		want     []platform.Usage
	}{
		{"2025-01", "2025-12", []platform.Usage{
			u("2025-02", platform.PurposeIdentity, platform.MethodCRL, 1),
			u("2025-03", platform.PurposeIdentity, platform.MethodCRL, 2),
			u("2025-03", platform.PurposeIdentity, platform.MethodOCSP, 1),
			u("2025-03", platform.PurposeLogin, platform.MethodCRL, 1),
			u("2025-03", platform.PurposeLogin, platform.MethodNone, 1),
			u("2025-04", platform.PurposeLogin, platform.MethodCRL, 1),
			u("2025-06", platform.PurposeLogin, platform.MethodCRL, 1),
		}},
		{"2025-04", "2025-06", []platform.Usage{
			u("2025-04", platform.PurposeLogin, platform.MethodCRL, 1),
			u("2025-06", platform.PurposeLogin, platform.MethodCRL, 1),
		}},
		{"2025-05", "2025-05", nil},
		{"2024-01", "2024-12", nil},
	}
	for _, tt := range tests {
		got, err := s.Usage(ctx, "t1", tt.from, tt.to)
		must(t, err)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Usage(t1, %s, %s) =\n%+v\nwant\n%+v", tt.from, tt.to, got, tt.want)
		}
	}
	if got, err := s.Usage(ctx, "t2", "2025-01", "2025-12"); err != nil || len(got) != 1 || got[0].TenantID != "t2" || got[0].Count != 1 {
		t.Errorf("Usage(t2) = %+v, %v; want one counter of t2", got, err)
	}
}

// testConcurrentWriters completes many sessions at once: the single SQLite writer must queue
// them without SQLITE_BUSY, and PostgreSQL must count every one on the shared counter row.
func testConcurrentWriters(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%02d", i)
	}
	setup(t, s, ids...)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			person := fmt.Sprintf("p%d", i%4) // four people, so person rows are contended too
			v := accepted(fmt.Sprintf("v%02d", i), "t1", ids[i], person, fmt.Sprintf("%X", 0x100+i))
			errs <- storetest.Complete(ctx, s, v, []platform.PersonCert{link(person, v.CertSerial, "sign")},
				[]platform.Event{event(fmt.Sprintf("e%02d", i), "t1")})
		})
		wg.Go(func() { // readers beside the writers
			_, err := s.Session(ctx, ids[i])
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	usage, err := s.Usage(ctx, "t1", "2025-04", "2025-04")
	must(t, err)
	if len(usage) != 1 || usage[0].Count != n {
		t.Errorf("Usage = %+v, want one counter of %d", usage, n)
	}
	if got := count(t, s, "persons"); got != 4 {
		t.Errorf("%d persons, want 4", got)
	}
}

func testReopen(t *testing.T, e env) {
	ctx, s := context.Background(), e.s
	setup(t, s, "s1")
	must(t, storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p1", "01", "sign")}, []platform.Event{event("e1", "t1")}))
	must(t, s.Close())

	s2, err := store.Open(ctx, e.dsn)
	must(t, err)
	if sess, err := s2.Session(ctx, "s1"); err != nil || sess.Status != platform.SessionVerified {
		t.Errorf("after reopening: session %+v, %v", sess, err)
	}
	if v, err := s2.Verification(ctx, "t1", "v1"); err != nil || v.PersonID != "p1" || v.Basic4 != nil {
		t.Errorf("after reopening: verification %+v, %v", v, err)
	}
	if p, err := s2.PersonByCert(ctx, "A1B2", "01"); err != nil || p != "p1" {
		t.Errorf("after reopening: PersonByCert = %q, %v", p, err)
	}
	// A schema from a newer program is refused rather than used with queries that do not know it.
	must(t, store.Exec(ctx, s2, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`))
	must(t, s2.Close())
	s3, err := store.Open(ctx, e.dsn)
	if err == nil {
		s3.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

// --- outside the suite ----------------------------------------------------------------------

func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mynagate.db")
	s := open(t, "sqlite:"+path)
	must(t, s.CreateTenant(context.Background(), tenant("t1", t0)))
	for _, f := range []string{path, path + "-wal"} {
		fi, err := os.Stat(f)
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600: it holds personal data", filepath.Base(f), fi.Mode().Perm())
		}
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, dsn string }{
		{"memory", "sqlite::memory:"},
		{"memory URI", "sqlite:file:x?mode=memory"},
		{"empty path", "sqlite:"},
		{"missing directory", "sqlite:" + dir + "/no/such/dir/x.db"},
		{"other database", "mysql://root@127.0.0.1/x"},
		{"no scheme", dir + "/x.db"},
		{"bad postgres URL", "postgres://user:secret@127.0.0.1:notaport/db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.dsn)
			}
			if !strings.HasPrefix(err.Error(), "store: ") || strings.Contains(err.Error(), "secret") {
				t.Errorf("Open(%q) = %v: want a store: error without the password", tt.dsn, err)
			}
		})
	}
}

// TestSQLiteSharedFile opens one new SQLite file through four Stores at once, as serve and an
// operator CLI would: both migrate it (the loser of that race retries), then their writers
// contend for the file lock, which the busy timeout and BEGIN IMMEDIATE resolve without
// SQLITE_BUSY.
func TestSQLiteSharedFile(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t, store.DialectSQLite)
	var (
		stores   [4]*store.Store
		openErrs [4]error
		opening  sync.WaitGroup
	)
	for i := range stores {
		opening.Go(func() { stores[i], openErrs[i] = store.Open(ctx, dsn) })
	}
	opening.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
		if openErrs[i] != nil {
			t.Fatalf("Open %d: %v", i, openErrs[i])
		}
	}
	a, b := stores[0], stores[1]
	must(t, a.CreateTenant(ctx, tenant("t1", t0)))
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for j, s := range []*store.Store{a, b} {
			wg.Go(func() {
				id := fmt.Sprintf("s%d_%d", j, i)
				if _, _, err := s.CreateSession(ctx, session(id, "t1", platform.PurposeLogin), ""); err != nil {
					errs <- err
					return
				}
				v := rejected("v"+id, "t1", id)
				v.Purpose = platform.PurposeLogin
				errs <- storetest.Complete(ctx, s, v, nil, nil)
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	usage, err := b.Usage(ctx, "t1", "2025-04", "2025-04")
	must(t, err)
	if len(usage) != 1 || usage[0].Count != 2*n {
		t.Errorf("Usage = %+v, want one counter of %d", usage, 2*n)
	}
}

// TestRefusedCompletionLeavesConnectionClean runs completions that a step refuses — late (a
// duplicate event, after the other statements ran) and early (the session is no longer
// pending) — on a store with ONE connection: the next transaction and read on that connection
// must work, so a refusal never leaves it inside an aborted transaction (on PostgreSQL the
// statements are pipelined and rolled back after the refusal).
func TestRefusedCompletionLeavesConnectionClean(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			// A refusal that waited for a second connection would wait for ever: bound it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s := storetest.Open(t, d, store.WithMaxConns(1))
			setup(t, s, "s1", "s2")
			ep, sec := nEndpoint("we_all", "t1") // the events go to the outbox
			must(t, s.CreateWebhookEndpoint(ctx, ep, sec))
			must(t, storetest.Complete(ctx, s, accepted("v1", "t1", "s1", "p1", "01"), []platform.PersonCert{link("p1", "01", "sign")}, []platform.Event{event("e1", "t1")}))
			for i := range 3 {
				err := storetest.Complete(ctx, s, accepted("v2", "t1", "s2", "p2", "02"), []platform.PersonCert{link("p2", "02", "sign")},
					[]platform.Event{event("e1", "t1")})
				wantErr(t, fmt.Sprintf("duplicate event, try %d", i), err, platform.ErrConflict)
				err = storetest.Complete(ctx, s, accepted("v3", "t1", "s1", "p1", "01"), nil, nil)
				wantErr(t, fmt.Sprintf("closed session, try %d", i), err, platform.ErrSessionClosed)
			}
			must(t, storetest.Complete(ctx, s, accepted("v2", "t1", "s2", "p2", "02"), []platform.PersonCert{link("p2", "02", "sign")}, []platform.Event{event("e2", "t1")}))
			sess, err := s.Session(ctx, "s2")
			if err != nil || sess.Status != platform.SessionVerified || sess.VerificationID != "v2" {
				t.Fatalf("s2 after the refusals and its completion: %+v, %v", sess, err)
			}
		})
	}
}
