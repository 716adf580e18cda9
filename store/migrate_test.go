package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestJournalMigration writes a database as schema 22 left it — verified, failed and pending
// sessions, a verification whose entry is integrated, one whose entry is not, one from before
// the evidence log (no entry, its certificate in clear), an entry that records no verification,
// sealed data, dispatched and undispatched outbox events — migrates it to the journal (00023),
// checks that every reader sees what it saw before and that new completions work, then migrates
// it down and up again without losing a row.
func TestJournalMigration(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			must(t, store.MigrateTo(ctx, dsn, 22))
			at := t0.UnixNano()
			blob := func(s string) string {
				if d == store.DialectPostgres {
					return fmt.Sprintf("'\\x%x'", s)
				}
				return fmt.Sprintf("x'%x'", s)
			}
			ins := []string{
				fmt.Sprintf(`INSERT INTO tenants (id, name, facts, created_at) VALUES ('t1', 'Bank', '[]', %d)`, at),
				fmt.Sprintf(`INSERT INTO persons (id, created_at) VALUES ('p1', %d)`, at),
				fmt.Sprintf(`INSERT INTO person_certs (ca, serial, person_id, kind, linked_at) VALUES ('A1B2', '01', 'p1', 'sign', %d)`, at),
			}
			for _, s := range []struct{ id, status, v string }{{"s1", "verified", "v1"}, {"s2", "failed", "v2"}, {"s3", "pending", ""}, {"s4", "verified", "v4"}} {
				vid := "NULL"
				if s.v != "" {
					vid = "'" + s.v + "'"
				}
				ins = append(ins, fmt.Sprintf(`INSERT INTO sessions (id, tenant_id, purpose, nonce, holder_token, status, created_at, expires_at, verification_id)
					VALUES ('%s', 't1', 'identity', %s, '', '%s', %d, %d, %s)`, s.id, blob("nonce"), s.status, at, at+int64(time.Hour), vid))
			}
			ins = append(ins,
				fmt.Sprintf(`INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, person_id, cert_ca, cert_serial, basic4, method, revocation_ref, created_at)
					VALUES ('v1', 't1', 's1', 'identity', 'accepted', 'p1', 'A1B2', '01', '{"name":"山田"}', 'crl', 'crl:7', %d)`, at),
				fmt.Sprintf(`INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, reason, detail, method, created_at)
					VALUES ('v2', 't1', 's2', 'identity', 'rejected', 'cert-revoked', 'revoked', 'none', %d)`, at+1),
				fmt.Sprintf(`INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, person_id, cert_ca, cert_serial, cert, method, created_at)
					VALUES ('v4', 't1', 's4', 'identity', 'accepted', 'p1', 'A1B2', '01', %s, 'ocsp', %d)`, blob("DER"), at+2),
			)
			for i, id := range []string{"v1", "v2", "x9"} {
				ins = append(ins, fmt.Sprintf(`INSERT INTO evidence_entries (id, tenant_id, created_at, leaf, leaf_hash) VALUES ('%s', 't1', %d, %s, %s)`,
					id, at+int64(i), blob("leaf "+id), blob(string(leafHash("leaf "+id)))))
			}
			ins = append(ins,
				`UPDATE evidence_entries SET idx = 0 WHERE id = 'v1'`,
				fmt.Sprintf(`UPDATE evidence_tree SET size = 1, root = %s`, blob(string(leafHash("leaf v1")))),
				fmt.Sprintf(`INSERT INTO evidence_sealed (seq, sealed, wrapped_key, shred_after) SELECT seq, %s, %s, %d FROM evidence_entries WHERE id = 'v1'`, blob("sealed v1"), blob("key v1"), at),
				fmt.Sprintf(`INSERT INTO evidence_sealed (seq, sealed, wrapped_key, shred_after) SELECT seq, %s, %s, %d FROM evidence_entries WHERE id = 'v2'`, blob("sealed v2"), blob("key v2"), at+int64(365*24*time.Hour)),
				fmt.Sprintf(`INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at, delivered_at) VALUES ('e1', 't1', 'verification.completed', %s, %d, %d, %d)`, blob(`{"n":1}`), at, at, at),
				fmt.Sprintf(`INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at) VALUES ('e2', 't1', 'verification.completed', %s, %d, %d)`, blob(`{"n":2}`), at, at),
			)
			must(t, store.ExecRaw(ctx, dsn, ins...))

			s, err := store.Open(ctx, dsn)
			must(t, err)
			checkMigrated(t, ctx, s)
			must(t, s.Close())

			// Down to 22: the old tables come back with every row; then up again.
			must(t, store.MigrateTo(ctx, dsn, 22))
			if err := store.ExecRaw(ctx, dsn, `SELECT status, verification_id FROM sessions`); err != nil {
				t.Fatalf("sessions after the down migration: %v", err)
			}
			s, err = store.Open(ctx, dsn)
			must(t, err)
			defer s.Close()
			for id, want := range map[string]platform.SessionStatus{"s1": platform.SessionVerified, "s2": platform.SessionFailed,
				"s3": platform.SessionVerified, "s4": platform.SessionVerified} {
				if sess, err := s.Session(ctx, id); err != nil || sess.Status != want {
					t.Errorf("after down and up: session %s = %+v, %v; want %s", id, sess, err, want)
				}
			}
			if n := count(t, s, "verifications"); n != 4 {
				t.Errorf("after down and up: %d verifications, want 4", n)
			}
			if v, err := s.Verification(ctx, "t1", "v4"); err != nil || !bytes.Equal(v.Cert, []byte("DER")) {
				t.Errorf("after down and up: legacy verification %+v, %v", v, err)
			}
			if e, err := s.Entry(ctx, "v5"); err != nil || !bytes.Equal(e.Sealed, []byte("sealed v5")) {
				t.Errorf("after down and up: entry of s3's verification %+v, %v", e, err)
			}
		})
	}
}

// leafHash is the RFC 6962 hash of a leaf.
func leafHash(leaf string) []byte {
	h := sha256.Sum256(append([]byte{0}, leaf...))
	return h[:]
}

// checkMigrated checks the migrated database of TestJournalMigration and completes s3 on it.
func checkMigrated(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	for id, want := range map[string]struct {
		status platform.SessionStatus
		v      string
	}{"s1": {platform.SessionVerified, "v1"}, "s2": {platform.SessionFailed, "v2"}, "s3": {platform.SessionPending, ""}, "s4": {platform.SessionVerified, "v4"}} {
		sess, err := s.Session(ctx, id)
		if err != nil || sess.Status != want.status || sess.VerificationID != want.v {
			t.Errorf("session %s = %+v, %v; want %s %q", id, sess, err, want.status, want.v)
		}
	}
	v1, err := s.Verification(ctx, "t1", "v1")
	// The clear copy of the facts is gone (00025); they are read from the sealed entry.
	if err != nil || v1.PersonID != "p1" || v1.Basic4 != nil || v1.RevocationRef != "crl:7" {
		t.Errorf("v1 = %+v, %v", v1, err)
	}
	if v4, err := s.Verification(ctx, "t1", "v4"); err != nil || !bytes.Equal(v4.Cert, []byte("DER")) || v4.Method != platform.MethodOCSP {
		t.Errorf("v4 (before the evidence log) = %+v, %v", v4, err)
	}
	if v2, err := s.Verification(ctx, "t1", "v2"); err != nil || v2.Reason != "cert-revoked" || v2.Detail != "revoked" {
		t.Errorf("v2 = %+v, %v", v2, err)
	}
	// Entries: v1 in the tree with its sealed data; v2 and x9 not yet, in the order they were
	// added; v4 has none.
	if e, err := s.Entry(ctx, "v1"); err != nil || !e.Sequenced || e.Index != 0 || !bytes.Equal(e.Sealed, []byte("sealed v1")) || !bytes.Equal(e.WrappedKey, []byte("key v1")) {
		t.Errorf("entry v1 = %+v, %v", e, err)
	}
	if e, err := s.Entry(ctx, "v2"); err != nil || e.Sequenced || !bytes.Equal(e.Sealed, []byte("sealed v2")) {
		t.Errorf("entry v2 = %+v, %v", e, err)
	}
	if _, err := s.Entry(ctx, "v4"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("entry of v4, which never had one: %v", err)
	}
	pend, err := s.Unsequenced(ctx, 10)
	must(t, err)
	if len(pend) != 2 || pend[0].ID != "v2" || pend[1].ID != "x9" || pend[1].LeafHash != [32]byte(leafHash("leaf x9")) {
		t.Errorf("unsequenced after the migration: %+v", pend)
	}
	// v1's sealed data was due: it is shredded, the entry stays.
	if n, err := s.Shred(ctx, t0.Add(time.Second), 10); err != nil || n != 1 {
		t.Errorf("Shred = %d, %v; want v1's", n, err)
	}
	// The undispatched outbox event is dispatched; no verification event waits in the journal.
	if n, err := s.DispatchEvents(ctx, t0.Add(time.Minute), 10); err != nil || n != 1 {
		t.Errorf("DispatchEvents = %d, %v; want e2 alone", n, err)
	}
	// New completions: s3 completes, s1 stays closed.
	wantErr(t, "completing s1 again", storetest.Complete(ctx, s, accepted("v6", "t1", "s1", "p1", "01"), nil, nil), platform.ErrSessionClosed)
	wantErr(t, "completing s4 again", storetest.Complete(ctx, s, accepted("v6", "t1", "s4", "p1", "01"), nil, nil), platform.ErrSessionClosed)
	v5 := accepted("v5", "t1", "s3", "p1", "01")
	must(t, s.CompleteSession(ctx, v5, nil, []platform.Event{event("e5", "t1")}, &evidence.Record{ID: "v5", TenantID: "t1", Time: v5.CreatedAt,
		LeafData: []byte("leaf v5"), LeafHash: [32]byte(leafHash("leaf v5")), Sealed: []byte("sealed v5"), WrappedKey: []byte("key v5"), ShredAfter: v5.CreatedAt.AddDate(7, 0, 0)}))
	if sess, err := s.Session(ctx, "s3"); err != nil || sess.Status != platform.SessionVerified || sess.VerificationID != "v5" {
		t.Errorf("s3 after its completion = %+v, %v", sess, err)
	}
	pend, err = s.Unsequenced(ctx, 10)
	must(t, err)
	var ids []string
	for _, p := range pend {
		ids = append(ids, p.ID)
	}
	if !reflect.DeepEqual(ids, []string{"v2", "x9", "v5"}) {
		t.Errorf("unsequenced after a new completion: %v, want v2 x9 v5", ids)
	}
}
