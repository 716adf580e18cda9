package ticket

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/gate/manifest"
)

func gateKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func signRec(t *testing.T, k ed25519.PrivateKey, r manifest.Record) manifest.SignedRecord {
	t.Helper()
	s, err := r.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func syncBody(t *testing.T, recs ...manifest.SignedRecord) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keyBody(pub ed25519.PublicKey) string {
	b, _ := json.Marshal(map[string]any{"public_key": []byte(pub)})
	return string(b)
}

// TestGateSync: two gates register their keys, each uploads the admissions it made offline, the
// ticket both admitted is reported as a conflict, a retried upload changes nothing, and hostile
// uploads (tampered record, unknown gate, another event's record, another organiser, a key swap,
// too many records, bad key) are refused without touching what is stored.
func TestGateSync(t *testing.T) {
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		t.Run(dialect, func(t *testing.T) { testGateSync(t, dialect) })
	}
}

func testGateSync(t *testing.T, dialect string) {
	w := newWorld(t, dialect, 1)
	srv := httptest.NewServer(w.s().Handler())
	defer srv.Close()
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: "2026-03-02", Identity: IdentityNone, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	ev2 := w.event(EventRequest{Name: "TGC day 2", Venue: "Yoyogi", Date: "2026-03-03", Identity: IdentityNone, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	_, org2Tok, _ := w.s().CreateOrganiser(ctx, "Other")
	const j = "application/json"
	ka, kb, kx := gateKey(1), gateKey(2), gateKey(3)
	base := "/api/organiser/events/" + ev.ID

	for _, c := range []struct {
		name, path, tok, body string
		want                  int
	}{
		{"gate A", base + "/gates/A", w.orgTk, keyBody(ka.Public().(ed25519.PublicKey)), 204},
		{"gate B", base + "/gates/B", w.orgTk, keyBody(kb.Public().(ed25519.PublicKey)), 204},
		{"gate A again, same key", base + "/gates/A", w.orgTk, keyBody(ka.Public().(ed25519.PublicKey)), 204},
		{"gate A, another key", base + "/gates/A", w.orgTk, keyBody(kx.Public().(ed25519.PublicKey)), 409},
		{"another organiser's event", base + "/gates/X", org2Tok, keyBody(kx.Public().(ed25519.PublicKey)), 404},
		{"short key", base + "/gates/X", w.orgTk, `{"public_key":"AAAA"}`, 400},
		{"bad gate id", base + "/gates/-bad", w.orgTk, keyBody(kx.Public().(ed25519.PublicKey)), 400},
		{"unknown field", base + "/gates/X", w.orgTk, `{"public_key":"AAAA","x":1}`, 400},
		{"no auth", base + "/gates/X", "", keyBody(kx.Public().(ed25519.PublicKey)), 401},
	} {
		if st, out := do(t, srv, "PUT", c.path, c.tok, j, c.body, nil); st != c.want {
			t.Errorf("%s: HTTP %d %v, want %d", c.name, st, out, c.want)
		}
	}

	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rec := func(k ed25519.PrivateKey, g, ticket string, seq int64, d time.Duration) manifest.SignedRecord {
		return signRec(t, k, manifest.Record{Event: ev.ID, Ticket: ticket, Generation: 1, Gate: g, Lane: "1", Seq: seq, At: at.Add(d), Method: "tap"})
	}
	a1, a2 := rec(ka, "A", "t1", 1, 0), rec(ka, "A", "t2", 2, time.Minute)
	b1, b2 := rec(kb, "B", "t3", 1, 0), rec(kb, "B", "t1", 2, 2*time.Minute) // t1: double entry
	sync := func(tok, path string, recs ...manifest.SignedRecord) (int, SyncReport, map[string]any) {
		t.Helper()
		st, out := do(t, srv, "POST", path, tok, j, syncBody(t, recs...), nil)
		var rep SyncReport
		b, _ := json.Marshal(out)
		json.Unmarshal(b, &rep)
		return st, rep, out
	}
	st, rep, out := sync(w.orgTk, base+"/gate-sync", a1, a2)
	if st != 200 || rep.Stored != 2 || len(rep.Admissions) != 2 || len(rep.Conflicts) != 0 || len(rep.Rejected) != 0 {
		t.Fatalf("gate A's sync: HTTP %d %v", st, out)
	}
	st, rep, out = sync(w.orgTk, base+"/gate-sync", b1, b2)
	if st != 200 || rep.Stored != 2 || len(rep.Admissions) != 3 || len(rep.Conflicts) != 1 {
		t.Fatalf("gate B's sync: HTTP %d %v", st, out)
	}
	c := rep.Conflicts[0]
	if c.Ticket != "t1" || len(c.Records) != 2 || c.Records[0].Gate != "A" || c.Records[1].Gate != "B" {
		t.Fatalf("conflict = %+v, want t1 admitted by A then B", c)
	}
	want := fmt.Sprint(rep.SyncResult)

	// A retry of both uploads: nothing new stored, the same merge.
	st, rep, out = sync(w.orgTk, base+"/gate-sync", a1, a2, b1, b2)
	if st != 200 || rep.Stored != 0 || rep.Duplicates != 4 || fmt.Sprint(rep.SyncResult) != want {
		t.Fatalf("retry: HTTP %d %v, want no change from %s", st, out, want)
	}

	// Tampered: a byte of a signed record changed (the ticket id), a record of an unregistered
	// gate, a record of another event, one signed by another key under gate A's name.
	tampered := rec(ka, "A", "t4", 3, 3*time.Minute)
	tampered.Record = bytes.Replace(tampered.Record, []byte(`"t4"`), []byte(`"t5"`), 1)
	unknown := rec(kx, "X", "t4", 1, 0)
	other := signRec(t, ka, manifest.Record{Event: ev2.ID, Ticket: "t4", Generation: 1, Gate: "A", Lane: "1", Seq: 4, At: at, Method: "tap"})
	forged := rec(kx, "A", "t4", 5, 0)
	st, rep, out = sync(w.orgTk, base+"/gate-sync", tampered, unknown, other, forged)
	if st != 200 || rep.Stored != 0 || len(rep.Rejected) != 4 {
		t.Fatalf("hostile upload: HTTP %d %v, want 4 rejected, none stored", st, out)
	}
	for i, r := range rep.Rejected {
		if r.Index != i {
			t.Errorf("rejected[%d] = %+v", i, r)
		}
	}
	if !strings.Contains(rep.Rejected[1].Reason, "unknown gate") || !strings.Contains(rep.Rejected[2].Reason, "event") {
		t.Errorf("reasons = %+v", rep.Rejected)
	}
	rep.Rejected = nil
	if fmt.Sprint(rep.SyncResult) != fmt.Sprint(manifest.SyncResult{Admissions: rep.Admissions, Conflicts: rep.Conflicts}) || len(rep.Admissions) != 3 || len(rep.Conflicts) != 1 {
		t.Fatalf("hostile upload changed what is stored: %v", out)
	}

	// Another organiser may neither sync nor read this event's merge; the other event has no gates.
	if st, out := do(t, srv, "POST", base+"/gate-sync", org2Tok, j, syncBody(t, a1), nil); st != 404 {
		t.Errorf("another organiser's sync: HTTP %d %v, want 404", st, out)
	}
	if st, rep, out := sync(w.orgTk, "/api/organiser/events/"+ev2.ID+"/gate-sync", a1); st != 200 || len(rep.Rejected) != 1 || rep.Stored != 0 {
		t.Errorf("event 1's record at event 2: HTTP %d %v, want rejected", st, out)
	}
	// Malformed and oversized.
	for _, body := range []string{`{"records":[{"record":"!!"}]}`, `{"records":1}`, `{"records":[],"x":1}`, `{"records":[` + strings.Repeat(`{"record":"QQ==","signature":"QQ=="},`, 1<<15) + `{}]}`} {
		if st, out := do(t, srv, "POST", base+"/gate-sync", w.orgTk, j, body, nil); st != 400 {
			t.Errorf("malformed body %.40q: HTTP %d %v, want 400", body, st, out)
		}
	}
	many := make([]manifest.SignedRecord, maxSyncRecords+1)
	for i := range many {
		many[i] = manifest.SignedRecord{Record: []byte("{}"), Signature: []byte{1}}
	}
	if st, out := do(t, srv, "POST", base+"/gate-sync", w.orgTk, j, syncBody(t, many...), nil); st != 400 {
		t.Errorf("too many records: HTTP %d %v, want 400", st, out)
	}
}
