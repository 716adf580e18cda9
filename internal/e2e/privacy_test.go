package e2e

import (
	"bytes"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

// isProblem reports whether err is an API problem of the given slug.
func isProblem(err error, slug string) bool {
	p, ok := err.(*client.Problem)
	return ok && p.Slug() == slug
}

// needles are the encodings a holder's facts could lie in at rest: UTF-8 as the card holds
// them, JSON with non-ASCII escaped (as some encoders write it), and the birth date as the API
// serves it and as the card's date reads.
func needles(b jpki.Basic4) map[string][]byte {
	esc := func(s string) []byte {
		var out strings.Builder
		for _, r := range s {
			if r < 0x80 {
				out.WriteRune(r)
				continue
			}
			for _, u := range utf16(r) {
				out.WriteString(`\u`)
				out.WriteString(strings.ToLower(hex4(u)))
			}
		}
		return []byte(out.String())
	}
	return map[string][]byte{
		"name (UTF-8)": []byte(b.Name), "address (UTF-8)": []byte(b.Address),
		"name (JSON escaped)": esc(b.Name), "address (JSON escaped)": esc(b.Address),
		"birth date": []byte(b.Birth.String()), "birth date (digits)": []byte(strings.ReplaceAll(b.Birth.String(), "-", "")),
	}
}

func utf16(r rune) []uint16 {
	if r < 0x10000 {
		return []uint16{uint16(r)}
	}
	r -= 0x10000
	return []uint16{uint16(0xD800 + (r >> 10)), uint16(0xDC00 + (r & 0x3FF))}
}

func hex4(u uint16) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[u>>12], digits[u>>8&15], digits[u>>4&15], digits[u&15]})
}

// dbFiles reads an SQLite database file and its WAL, as an attacker with a copy of the data
// directory would.
func dbFiles(t *testing.T, db string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// found names the files among files that contain needle.
func found(files map[string][]byte, needle []byte) []string {
	var in []string
	for name, b := range files {
		if bytes.Contains(b, needle) {
			in = append(in, name)
		}
	}
	return in
}

// TestNoPersonalDataAtRest is the attack on a copy of the database: the holder's name, address
// and birth date are grepped for in the SQLite file and its WAL, in every encoding they could be
// stored in. They are never there in clear (sealed in the evidence entry only), yet the API
// serves them; once shredded at the retention end even the sealed bytes and the wrapped key are
// gone from both files, and the API says the facts were shredded.
func TestNoPersonalDataAtRest(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "platform.db")
	e := newEnv(t, "sqlite:"+db)
	taro := testkit.Taro()
	h := e.issue(taro)
	v := e.verify(e.rp, h, "identity").Verification
	if v.Facts["name"] != taro.Name || v.Facts["address"] != taro.Address || v.Facts["birthdate"] != taro.Birth.String() || v.RetainUntil == nil {
		t.Fatalf("the API serves %+v, want taro's facts and the retention end", v)
	}
	entry, err := e.st.Entry(ctx, v.ID)
	if err != nil || len(entry.Sealed) < 64 || len(entry.WrappedKey) == 0 {
		t.Fatalf("entry %+v, %v", entry, err)
	}

	files := dbFiles(t, db)
	// The search sees what is stored: the tenant's name (in clear by design), the seal and the
	// wrapped key are in the files.
	for what, n := range map[string][]byte{"tenant name": []byte("Example Bank"), "sealed personal data": entry.Sealed[:48], "wrapped key": entry.WrappedKey} {
		if len(found(files, n)) == 0 {
			t.Fatalf("the %s is in neither the database nor its WAL: the search cannot see stored data", what)
		}
	}
	for what, n := range needles(taro) {
		if in := found(files, n); len(in) > 0 {
			t.Errorf("before shredding: the holder's %s (%q) is in clear in %v", what, n, in)
		}
	}

	// Retention ends; the log shreds.
	if _, err := e.st.Shred(ctx, time.Now().AddDate(8, 0, 0), 1000); err != nil {
		t.Fatal(err)
	}
	files = dbFiles(t, db)
	for what, n := range map[string][]byte{"sealed personal data": entry.Sealed[:48], "wrapped key": entry.WrappedKey} {
		if in := found(files, n); len(in) > 0 {
			t.Errorf("after shredding: the %s is still in %v", what, in)
		}
	}
	for what, n := range needles(taro) {
		if in := found(files, n); len(in) > 0 {
			t.Errorf("after shredding: the holder's %s is in clear in %v", what, in)
		}
	}
	// (The WAL itself may have been started again since by the log's own writes: what matters
	// is that no page image from before the shredding is left in it, which the search shows.)
	after, err := e.rp.Verification(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.PersonalData != "shredded" || len(after.Facts) != 0 || after.RetainUntil == nil || !after.RetainUntil.Equal(*v.RetainUntil) ||
		after.Decision != "accepted" || after.Sub != v.Sub {
		t.Errorf("after shredding the API serves %+v, want the decision and sub, no facts, and personal_data shredded", after)
	}
}

// rawGet is a GET with an API key, retried while the evidence is not yet in the tree.
func rawGet(t *testing.T, url, key string) (http.Header, []byte) {
	t.Helper()
	for i := 0; i < 100; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return resp.Header, body
		case http.StatusServiceUnavailable:
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("GET %s: HTTP %d %s", url, resp.StatusCode, body)
		}
	}
	t.Fatalf("GET %s: still pending", url)
	return nil, nil
}

// TestLimitedTenantSeesOnlyItsFacts is a tenant allowed only the name reading everything it is
// served about a verification — the session and verification views, the evidence bundle of the
// accepted and of a rejected attempt, its webhooks and an export of its entries — and never
// finding another fact, the certificate, its serial or its issuer; its bundle and export still
// verify offline, disclosing the name against the leaf's commitment.
func TestLimitedTenantSeesOnlyItsFacts(t *testing.T) {
	e := newEnv(t, "")
	ten, err := e.plat.CreateTenant(ctx, "Name Only", []platform.Fact{platform.FactName})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := e.plat.CreateAPIKey(ctx, ten.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	rp := client.New(e.api.URL, client.WithAPIKey(key))
	var mu sync.Mutex
	var hooks []*http.Request
	var hookBodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks, hookBodies = append(hooks, r), append(hookBodies, b)
		mu.Unlock()
	}))
	defer recv.Close()
	if _, _, err := rp.CreateEndpoint(ctx, client.EndpointRequest{URL: recv.URL}); err != nil {
		t.Fatal(err)
	}

	taro := testkit.Taro()
	h := e.issue(taro)
	cf, err := jpki.LoadCardFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(cf.Sign.Cert)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string][]byte{
		"address": []byte(taro.Address), "birth date": []byte(taro.Birth.String()),
		"serial": []byte(platform.SerialHex(cert.SerialNumber)), "issuer key id": []byte(strings.ToUpper(hex.EncodeToString(cert.AuthorityKeyId))),
		"certificate": []byte(base64.StdEncoding.EncodeToString(cf.Sign.Cert)[:60]), "sealed data": []byte(`"sealed"`), "data key": []byte(`"data_key"`),
	}
	check := func(what string, b []byte) {
		t.Helper()
		for name, f := range forbidden {
			if bytes.Contains(b, f) {
				t.Errorf("%s gives the name-only tenant the %s", what, name)
			}
		}
	}

	s := e.verify(rp, h, "identity")
	v := s.Verification
	if v.Facts["name"] != taro.Name || len(v.Facts) != 1 || v.Cert != nil || v.Sub == "" {
		t.Errorf("verification view %+v: want the name and the sub only", v)
	}
	_, sb := rawGet(t, e.api.URL+"/v1/sessions/"+s.ID, key)
	check("the session view", sb)
	hdr, vb := rawGet(t, e.api.URL+"/v1/verifications/"+v.ID, key)
	check("the verification view", vb)
	if !bytes.Contains(vb, []byte(taro.Name)) || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("the verification view %s (Cache-Control %q) lacks the name or no-store", vb, hdr.Get("Cache-Control"))
	}
	hdr, bundle := rawGet(t, e.api.URL+"/v1/evidence/"+v.ID, key)
	check("the evidence bundle", bundle)
	got, err := evidence.VerifyBundle(bundle, e.evidence.PublicKey())
	if err != nil {
		t.Fatalf("the name-only tenant's bundle does not verify offline: %v", err)
	}
	if got.Personal != nil || got.Disclosed[evidence.FactItem("name")] != taro.Name || got.Disclosed[evidence.ItemSubject] != v.Sub || len(got.Disclosed) != 2 ||
		hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("the bundle discloses %+v, personal %v; want the name and the sub one by one", got.Disclosed, got.Personal != nil)
	}
	// An altered disclosed value is refused offline.
	bad := bytes.Replace(bundle, []byte(taro.Name), []byte("山田　次郎"), 1)
	if _, err := evidence.VerifyBundle(bad, e.evidence.PublicKey()); err == nil || !strings.Contains(err.Error(), "not what the entry commits to") {
		t.Errorf("a bundle with another name verifies: %v", err)
	}
	// The tenant allowed every fact gets the certificate (the control).
	full := e.verify(e.rp, h, "identity").Verification
	if fb, err := evidence.VerifyBundle(e.fetchBundle(t, full.ID), e.evidence.PublicKey()); err != nil || fb.Personal == nil || !bytes.Equal(fb.Personal.Certificate, cf.Sign.Cert) || full.Cert == nil {
		t.Errorf("the full tenant's bundle: %+v, %v", fb, err)
	}

	// A rejected attempt (a wrong signature): its bundle holds no certificate either.
	sess, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	if err != nil {
		t.Fatal(err)
	}
	base, id, tok, _ := client.ParseHolderURL(sess.HolderURL)
	_, err = client.New(base).Answer(ctx, id, tok, cf.Sign.Cert, bytes.Repeat([]byte{1}, 256))
	p, ok := err.(*client.Problem)
	if !ok || p.VerificationID == "" {
		t.Fatalf("rejection: %v", err)
	}
	_, rb := rawGet(t, e.api.URL+"/v1/evidence/"+p.VerificationID, key)
	check("the bundle of a rejected attempt", rb)
	if rv, err := evidence.VerifyBundle(rb, e.evidence.PublicKey()); err != nil || rv.Leaf.Decision != evidence.Rejected || rv.Personal != nil {
		t.Errorf("rejected bundle: %+v, %v", rv, err)
	}
	_, rvb := rawGet(t, e.api.URL+"/v1/verifications/"+p.VerificationID, key)
	check("the view of a rejected attempt", rvb)

	// Webhooks: every delivery, with the log's current checkpoint in a header.
	e.deliverAll(t)
	mu.Lock()
	if len(hooks) != 2 {
		t.Errorf("%d webhooks, want the two verification.completed", len(hooks))
	}
	for i, r := range hooks {
		check("a webhook", hookBodies[i])
		note, err := base64.StdEncoding.DecodeString(r.Header.Get(platform.CheckpointHeader))
		if err != nil {
			t.Errorf("webhook checkpoint header: %v", err)
			continue
		}
		if _, err := evidence.ParseCheckpoint(note, e.evidence.PublicKey()); err != nil {
			t.Errorf("the webhook's checkpoint does not verify: %v", err)
		}
	}
	mu.Unlock()

	// An export of the tenant's entries, as `mynagate evidence export` makes it for this tenant.
	dis := ten.EvidenceDisclosure(time.Unix(0, 0))
	var buf bytes.Buffer
	if _, err := e.evidence.Export(ctx, &buf, evidence.ExportQuery{TenantID: ten.ID, From: time.Unix(0, 0), To: time.Now().AddDate(10, 0, 0),
		Disclose: dis.Full, Items: dis.Items}, nil); err != nil {
		t.Fatal(err)
	}
	check("the export", buf.Bytes())
	if sum, err := evidence.VerifyExport(bytes.NewReader(buf.Bytes()), e.evidence.PublicKey(), nil); err != nil || sum.Count != 2 || !bytes.Contains(buf.Bytes(), []byte(taro.Name)) {
		t.Errorf("export: %+v, %v", sum, err)
	}
}

// copyDB copies an SQLite database and its WAL.
func copyDB(t *testing.T, from, to string) {
	t.Helper()
	for _, sfx := range []string{"", "-wal"} {
		b, err := os.ReadFile(from + sfx)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+sfx, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditNamesEveryTamper makes each edit an operator with write access to the database could
// make to what the API serves — as direct SQL on a copy of the platform's database — and runs
// the audit on it: every one is named, none passes.
func TestAuditNamesEveryTamper(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "platform.db")
	e := newEnv(t, "sqlite:"+db)
	vA := e.verify(e.rp, e.issue(testkit.Taro()), "identity").Verification
	vB := e.verify(e.rp, e.issue(testkit.Hanako()), "identity").Verification
	s, err := e.rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	if err != nil {
		t.Fatal(err)
	}
	base, id, tok, _ := client.ParseHolderURL(s.HolderURL)
	_, err = client.New(base).Answer(ctx, id, tok, []byte("garbage"), []byte("sig"))
	p, ok := err.(*client.Problem)
	if !ok || p.VerificationID == "" {
		t.Fatalf("rejection: %v", err)
	}
	vR := p.VerificationID
	if _, err := e.evidence.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	cp, err := e.evidence.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A tenant keeps the checkpoint its bundle (or a webhook) carried.
	kept, err := evidence.ParseCheckpoint(cp.Note, e.evidence.PublicKey())
	if err != nil {
		t.Fatal(err)
	}

	audit := func(t *testing.T, tamper string) error {
		t.Helper()
		c := filepath.Join(t.TempDir(), "copy.db")
		copyDB(t, db, c)
		if tamper != "" {
			raw, err := sql.Open("sqlite", c)
			if err != nil {
				t.Fatal(err)
			}
			res, err := raw.ExecContext(ctx, tamper)
			if err != nil {
				t.Fatalf("tamper: %v", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				t.Fatal("the tamper changed nothing")
			}
			raw.Close()
		}
		st, err := store.Open(ctx, "sqlite:"+c)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		l, err := evidence.New(st, e.keys)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := l.Audit(ctx, nil, kept)
		if err == nil && (rep.Served != 3 || rep.Kept != 1) {
			t.Errorf("the audit checked %d verifications and %d kept checkpoints, want 3 and 1", rep.Served, rep.Kept)
		}
		return err
	}
	if err := audit(t, ""); err != nil {
		t.Fatalf("the untouched database fails the audit: %v", err)
	}
	q := func(format string, args ...any) string { return fmt.Sprintf(format, args...) }
	for _, c := range []struct{ name, sql, want string }{
		{"rejected flipped to accepted with invented facts",
			q(`UPDATE verifications SET decision = 'accepted', reason = '', detail = '', person_id = (SELECT person_id FROM verifications WHERE id = '%[1]s') WHERE id = '%[2]s';
				UPDATE evidence_entries SET sealed = (SELECT sealed FROM evidence_entries WHERE id = '%[1]s'), wrapped_key = (SELECT wrapped_key FROM evidence_entries WHERE id = '%[1]s') WHERE id = '%[2]s'`, vA.ID, vR),
			"the decision or reason served was altered"},
		{"person ids swapped",
			q(`UPDATE verifications SET person_id = CASE id WHEN '%[1]s' THEN (SELECT person_id FROM verifications WHERE id = '%[2]s')
				ELSE (SELECT person_id FROM verifications WHERE id = '%[1]s') END WHERE id IN ('%[1]s', '%[2]s')`, vA.ID, vB.ID),
			"its person, certificate, detail or revocation reference was altered"},
		{"certificate serial edited", q(`UPDATE verifications SET cert_serial = 'DEADBEEF' WHERE id = '%s'`, vA.ID),
			"its person, certificate, detail or revocation reference was altered"},
		{"latest checkpoints deleted", `DELETE FROM evidence_checkpoints WHERE size = (SELECT MAX(size) FROM evidence_checkpoints)`,
			"the latest checkpoints were deleted or rolled back"},
		{"shredded early", q(`UPDATE evidence_entries SET sealed = NULL, wrapped_key = NULL WHERE id = '%s'`, vB.ID),
			"was shredded before its retention end"},
		{"retention shortened", q(`UPDATE evidence_entries SET shred_after = shred_after - 86400000000000 WHERE id = '%s'`, vB.ID),
			"the stored retention end"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := audit(t, c.sql)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("audit after %s: %v; want %q", c.name, err, c.want)
			}
		})
	}
}
