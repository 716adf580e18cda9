package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestPersonalDataMigration writes a database as schema 23 left it — a verification with its
// facts in clear in evidence_entries.basic4 and a person.basic4_updated event carrying the facts
// in the outbox — and opens it with this program: the clear copy is gone (the facts stay in the
// sealed entry), the event is made thin (the facts' names, not their values), and on SQLite
// neither the database file nor its WAL holds the name or the address any more.
func TestPersonalDataMigration(t *testing.T) {
	const name, address = "山田　太郎", "東京都千代田区霞が関２丁目１番２号"
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			must(t, store.MigrateTo(ctx, dsn, 23))
			at := t0.UnixNano()
			blob := func(s string) string {
				if d == store.DialectPostgres {
					return fmt.Sprintf("'\\x%x'", s)
				}
				return fmt.Sprintf("x'%x'", s)
			}
			facts := fmt.Sprintf(`{"name":%q,"address":%q,"birthdate":"1985-04-02","sex":"male"}`, name, address)
			event := fmt.Sprintf(`{"data":{"cause":{"issuer_key_id":"A1","serial":"1F"},"deceased":false,"facts":%s,"sub":"abc","updated_at":"2025-04-01T00:00:00Z"},"timestamp":"2025-04-01T00:00:00Z","type":"person.basic4_updated"}`, facts)
			must(t, store.ExecRaw(ctx, dsn,
				fmt.Sprintf(`INSERT INTO tenants (id, name, facts, created_at) VALUES ('t1', 'Bank', '[]', %d)`, at),
				fmt.Sprintf(`INSERT INTO persons (id, created_at) VALUES ('p1', %d)`, at),
				fmt.Sprintf(`INSERT INTO sessions (id, tenant_id, purpose, nonce, holder_token, created_at, expires_at) VALUES ('s1', 't1', 'identity', %s, '', %d, %d)`, blob("nonce"), at, at+1),
				fmt.Sprintf(`INSERT INTO evidence_entries (id, tenant_id, created_at, leaf, leaf_hash, session_id, purpose, decision, person_id, cert_ca, cert_serial, basic4, method, revocation_ref)
					VALUES ('v1', 't1', %d, %s, %s, 's1', 'identity', 'accepted', 'p1', 'A1', '1F', '%s', 'crl', 'crl:7')`, at, blob("leaf"), blob(strings.Repeat("h", 32)), facts),
				fmt.Sprintf(`INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at) VALUES ('e1', 't1', 'person.basic4_updated', %s, %d, %d)`, blob(event), at, at),
				fmt.Sprintf(`INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at) VALUES ('e2', 't1', 'verification.completed', %s, %d, %d)`, blob(`{"n":1}`), at, at),
			))
			s, err := store.Open(ctx, dsn)
			must(t, err)
			defer s.Close()
			if v, err := s.Verification(ctx, "t1", "v1"); err != nil || v.PersonID != "p1" || v.CertSerial != "1F" || v.Basic4 != nil {
				t.Errorf("v1 after the migration: %+v, %v", v, err)
			}
			var got struct {
				Data map[string]json.RawMessage `json:"data"`
			}
			var payload []byte
			must(t, store.QueryBytes(ctx, s, `SELECT payload FROM outbox WHERE id = 'e1'`, &payload))
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatalf("thin event %s: %v", payload, err)
			}
			var changed []string
			json.Unmarshal(got.Data["changed"], &changed)
			if _, ok := got.Data["facts"]; ok || !slices.Equal(changed, []string{"address", "birthdate", "name", "sex"}) || string(got.Data["sub"]) != `"abc"` ||
				bytes.Contains(payload, []byte(name)) || bytes.Contains(payload, []byte(address)) {
				t.Errorf("person.basic4_updated after the migration: %s", payload)
			}
			must(t, store.QueryBytes(ctx, s, `SELECT payload FROM outbox WHERE id = 'e2'`, &payload))
			if string(payload) != `{"n":1}` {
				t.Errorf("another event was changed: %s", payload)
			}
			if d != store.DialectSQLite {
				return
			}
			path := strings.TrimPrefix(dsn, "sqlite:")
			for _, f := range []string{path, path + "-wal"} {
				b, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				for _, n := range []string{name, address} {
					if bytes.Contains(b, []byte(n)) {
						t.Errorf("%s still holds %q after the migration", f, n)
					}
				}
			}
		})
	}
}
