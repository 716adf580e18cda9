package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
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
	if st, err := os.Stat(db + "-wal"); err == nil && st.Size() != 0 {
		t.Errorf("the WAL holds %d bytes after shredding, want it checkpointed and truncated", st.Size())
	}
	after, err := e.rp.Verification(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.PersonalData != "shredded" || len(after.Facts) != 0 || after.RetainUntil == nil || !after.RetainUntil.Equal(*v.RetainUntil) ||
		after.Decision != "accepted" || after.Sub != v.Sub {
		t.Errorf("after shredding the API serves %+v, want the decision and sub, no facts, and personal_data shredded", after)
	}
}
