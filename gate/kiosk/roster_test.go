package kiosk_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/gate/kiosk"
)

func rosterJSON(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{"format": kiosk.RosterFormat, "site": "office-7", "mode": "roster", "commit_key": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)),
		"entries": []any{map[string]any{"id": "e1", "holder": strings.Repeat("A", 22), "name": "山田　太郎"}}}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A roster file is checked whole before a kiosk opens: oversized, malformed or ambiguous
// rosters are refused with the problem named.
func TestParseRosterRefuses(t *testing.T) {
	if r, err := kiosk.ParseRoster(rosterJSON(t, func(map[string]any) {})); err != nil || len(r.Entries) != 1 || r.Entries[0].Name != "山田　太郎" {
		t.Fatalf("a good roster: %v", err)
	}
	entry := func(id, holder, name string) map[string]any {
		return map[string]any{"id": id, "holder": holder, "name": name}
	}
	h2 := strings.Repeat("B", 22)
	many := make([]any, kiosk.MaxRosterEntries+1)
	for i := range many {
		many[i] = entry(fmt.Sprint("e", i), base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%016d", i))), "")
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"oversized", append(rosterJSON(t, func(map[string]any) {}), bytes.Repeat([]byte(" "), kiosk.MaxRosterSize)...), "bytes, at most"},
		{"not JSON", []byte("id,name\n1,x\n"), "roster"},
		{"truncated", rosterJSON(t, func(map[string]any) {})[:40], "roster"},
		{"trailing data", append(rosterJSON(t, func(map[string]any) {}), []byte(`{}`)...), "after the JSON"},
		{"unknown field", rosterJSON(t, func(m map[string]any) { m["admin"] = true }), "unknown field"},
		{"format", rosterJSON(t, func(m map[string]any) { m["format"] = "v0" }), "format"},
		{"site", rosterJSON(t, func(m map[string]any) { m["site"] = "a/b" }), "site"},
		{"mode", rosterJSON(t, func(m map[string]any) { m["mode"] = "all" }), "mode"},
		{"commit key", rosterJSON(t, func(m map[string]any) { m["commit_key"] = "AAAA" }), "commit_key"},
		{"empty roster", rosterJSON(t, func(m map[string]any) { m["entries"] = []any{} }), "admit nobody"},
		{"too many", rosterJSON(t, func(m map[string]any) { m["entries"] = many }), "entries, at most"},
		{"bad holder", rosterJSON(t, func(m map[string]any) { m["entries"] = []any{entry("e1", "not-a-commitment", "")} }), "holder"},
		{"duplicate id", rosterJSON(t, func(m map[string]any) {
			m["entries"] = []any{entry("e1", h2, ""), entry("e1", strings.Repeat("C", 22), "")}
		}), "twice"},
		{"duplicate holder", rosterJSON(t, func(m map[string]any) { m["entries"] = []any{entry("e1", h2, ""), entry("e2", h2, "")} }), "same holder"},
		{"control character", rosterJSON(t, func(m map[string]any) { m["entries"] = []any{entry("e1", h2, "a\r\nb")} }), "control"},
		{"long name", rosterJSON(t, func(m map[string]any) { m["entries"] = []any{entry("e1", h2, strings.Repeat("名", 101))} }), "characters"},
		{"bad id", rosterJSON(t, func(m map[string]any) { m["entries"] = []any{entry("", h2, "")} }), "id"},
	} {
		_, err := kiosk.ParseRoster(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
	if _, err := kiosk.ParseRoster(rosterJSON(t, func(m map[string]any) { m["mode"] = "open"; m["entries"] = []any{} })); err != nil {
		t.Errorf("an open site without a roster: %v", err)
	}
}
