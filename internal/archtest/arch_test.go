// Package archtest checks the import rule of docs/design/architecture.md with `go list`: every
// package of the module imports only the packages of the module its row of the rule allows
// (TestImportRule; a package without a row fails, so a new package gets one), and, below any
// depth, security contexts stay apart (only jlis holds CA keys, only card holds card keys, and
// the platform sees neither), SQL stays in store, and the verifier does no I/O
// (TestImportDirection).
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/mynagate/mynagate/"

// deps returns every package pkg depends on, directly or not, plus the packages it imports
// directly marked "direct:" + path.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	direct, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		m[l] = true
	}
	for _, l := range strings.Fields(string(direct)) {
		m["direct:"+l] = true
	}
	return m
}

// importRule is architecture.md's "Import rule": for each package of the module, the packages of
// the module it may import directly ("name/..." allows a subtree). Keep the two in step.
var importRule = map[string][]string{
	// Leaves: shared vocabulary and formats that import nothing of the module.
	"apdu": nil, "jpki": nil, "challenge": nil, "evidence": {"jpki"}, "egress": nil,
	"webhook": nil, "cades": nil, "card/vpcd": nil, "gate/manifest": nil,
	"ticket/draw": nil, "ticket/rush": nil, "internal/crlwriter": nil, "internal/ocspnonce": nil,
	"internal/cardface": nil, "internal/browsertest": nil, "internal/pcsctest": nil, "internal/archtest": nil,
	"verify/fuzz": nil, "api": nil,
	// The one key derivation and its labels: a leaf that whoever derives a key from a secret imports.
	"internal/kdf": nil,
	// The HTML foundation seals its cookies under a kdf key of the application's secret.
	"web/ui": {"internal/kdf"},
	// The card side: cards and readers speak APDUs about JPKI files; J-LIS issues them.
	"card":   {"apdu", "jpki"},
	"reader": {"apdu", "jpki"},
	"jlis":   {"jpki", "internal/crlwriter", "internal/cardface", "internal/ocspnonce"},
	// The platform's side: J-LIS over HTTP, the pure verifier, the log.
	"jlisapi": {"jpki"},
	"verify":  {"jpki"},
	// jpki.RevocationMethod is the one type for how a status was established.
	"revocation": {"jpki"},
	"platform":   {"verify", "evidence", "challenge", "cades", "jpki", "egress", "webhook", "jlisapi", "internal/kdf"},
	"notify":     {"platform", "jlisapi"},
	"delivery":   {"platform", "egress", "webhook"},
	"oidc":       {"platform", "challenge", "web/ui", "internal/kdf"},
	"web":        {"platform", "evidence"},
	"web/pages":  {"platform", "evidence", "oidc", "web/ui"},
	// The one package with SQL implements the storage interfaces its consumers declare.
	"store":           {"platform", "oidc", "evidence", "jpki"},
	"internal/wiring": {"platform", "notify", "revocation", "jlisapi"},
	// Relying parties: the public client, webhooks, and the gate's own manifest.
	"client":       {"challenge", "cades"},
	"rpdemo":       {"web/ui"},
	"ticket":       {"client", "webhook", "gate/manifest", "ticket/draw", "internal/kdf"},
	"ticket/pages": {"ticket", "web/ui", "internal/kdf"},
	"gate":         {"verify", "revocation", "reader", "gate/manifest", "jpki"},
	"gate/doors":   {"gate", "gate/manifest"},
	"gate/kiosk":   {"gate", "gate/manifest", "jpki"},
	"gate/staff":   {"gate", "gate/kiosk", "web/ui"},
	// A new package under these trees takes its tree's row until it gets one of its own.
	"gate/...":   {"gate/...", "verify", "revocation", "reader", "jpki", "web/ui"},
	"ticket/...": {"ticket/...", "client", "webhook", "gate/manifest", "web/ui", "internal/kdf"},
	"web/...":    {"web/...", "platform", "evidence", "oidc"},
	// Wiring and test support see everything they assemble.
	"cmd/...": {"..."}, "internal/e2e": {"..."}, "internal/benchkit": {"..."}, "internal/testkit": {"..."},
	"internal/platformtest": {"..."}, "internal/gatetest": {"..."}, "internal/cardface/gen": {"..."}, "internal/cardface/gen/glyphs": {"..."}, "store/storetest": {"..."},
	"evidence/evidencetest": {"evidence"}, "evidence/memory": {"evidence"}, "card/cardtest": {"apdu", "jpki"},
	"ticket/tickettest": {"..."},
}

// ruleFor returns the row of pkg (an exact row first, else the longest "x/..." row containing it).
func ruleFor(pkg string) ([]string, bool) {
	if r, ok := importRule[pkg]; ok {
		return r, true
	}
	best, found := "", false
	for k := range importRule {
		if p, ok := strings.CutSuffix(k, "/..."); ok && (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
			best, found = k, true
		}
	}
	return importRule[best], found
}

func allowed(rule []string, imp string) bool {
	for _, a := range rule {
		if a == "..." || a == imp {
			return true
		}
		if p, ok := strings.CutSuffix(a, "/..."); ok && (imp == p || strings.HasPrefix(imp, p+"/")) {
			return true
		}
	}
	return false
}

func TestImportRule(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		if pkg == strings.TrimSuffix(mod, "/") {
			continue
		}
		rule, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("%s has no row in the import rule (docs/design/architecture.md, importRule)", pkg)
			continue
		}
		for _, imp := range f[1:] {
			if own, ok := strings.CutPrefix(imp, mod); ok && !allowed(rule, own) {
				t.Errorf("%s imports %s, which its row of the import rule does not allow", pkg, own)
			}
		}
	}
}

func TestImportDirection(t *testing.T) {
	ours := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, mod+n)
		}
		return out
	}
	// SQL: no driver anywhere below, and no direct use of database/sql (a library such as the
	// Prometheus collectors may import it without using it for us).
	sql := []string{"direct:database/sql", "modernc.org/sqlite", "github.com/jackc/pgx/v5"}
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		// The workers beside the platform (webhook delivery, revocation notification) import it,
		// never the other way round.
		{"platform", append(ours("jlis", "card", "reader", "store", "web", "revocation", "delivery", "notify"), sql...)},
		{"delivery", append(ours("jlis", "card", "reader", "store", "web", "revocation", "notify"), sql...)},
		{"notify", append(ours("jlis", "card", "reader", "store", "web", "revocation", "delivery"), sql...)},
		// The egress policy is a leaf: addresses and an HTTP client, nothing of the project.
		{"egress", ours("platform", "store", "web", "jlis", "jlisapi", "card", "reader", "evidence", "revocation", "verify", "delivery", "notify", "webhook")},
		{"web", append(ours("jlis", "card", "reader", "store"), sql...)},
		// The platform's pages use the platform's Go API: no SQL, no keys of J-LIS or cards.
		{"web/pages", append(ours("jlis", "card", "reader", "store", "revocation"), sql...)},
		// The HTML foundation serves relying-party apps too: no platform, no store, no API server.
		{"web/ui", append(ours("jlis", "card", "reader", "store", "platform", "evidence", "verify", "revocation", "client"), append(sql, "direct:github.com/mynagate/mynagate/web")...)},
		{"verify", append(ours("jlis", "card", "reader", "store", "platform", "revocation"), append(sql, "net/http", "direct:os", "direct:time/tzdata")...)},
		{"revocation", append(ours("jlis", "card", "reader", "store", "platform", "web"), sql...)},
		{"jlisapi", ours("jlis", "card", "reader", "store", "platform")},
		{"client", append(ours("jlis", "card", "reader", "store", "platform", "web", "verify"), sql...)},
		{"reader", append(ours("card", "jlis", "platform", "store", "web"), "net/http")},
		{"card", ours("jlis", "reader", "platform", "store", "web")},
		{"jlis", ours("platform", "web", "store", "card", "reader", "revocation")},
		{"jpki", ours("jlis", "card", "reader", "platform", "store", "web", "verify", "apdu")},
		{"apdu", ours("jpki", "jlis", "card", "reader", "platform")},
		// The ticketing service is a relying party: it reaches the platform only through the
		// public client and webhooks, over HTTP, and has its own database. Its pages use web/ui,
		// which imports nothing of the platform (web itself does, so it is excluded through platform).
		{"ticket/...", ours("platform", "store", "jlis", "jlisapi", "card", "reader", "evidence", "revocation", "verify", "internal/wiring", "internal/testkit")},
		// The gate is the ticket service's side: it decides offline with the verifier and the CRL
		// reader, reads cards through reader, and never reaches the platform, its store or J-LIS
		// (the API server web is excluded through platform; the page foundation web/ui is allowed).
		{"gate/...", append(ours("platform", "store", "jlis", "jlisapi", "card", "evidence", "oidc", "internal/wiring", "internal/testkit"), sql...)},
		// The manifest format is shared with the ticket service, which may not import the verifier.
		{"gate/manifest", ours("verify", "revocation", "reader", "ticket", "platform", "store", "web", "jlis")},
		// The demo relying party uses only standard OpenID client libraries and the page foundation.
		{"rpdemo", append(ours("platform", "store", "oidc", "jlis", "card", "reader", "evidence", "revocation", "verify", "client"), sql...)},
		// The provider builds its pages on web/ui, never on the API's package web (checked below).
		{"oidc", append(ours("jlis", "card", "reader", "store", "revocation"), sql...)},
		// The CMS builder is pure: the platform (to check a document signature) and the holder's
		// client (to build what the card signs) both import it.
		{"cades", append(ours("jlis", "card", "reader", "store", "platform", "web", "client", "verify", "revocation", "evidence", "jpki"), append(sql, "net/http", "direct:os")...)},
		// The challenge format is shared by the platform and the client: it depends on neither.
		{"challenge", ours("platform", "client", "store", "web", "jlis", "card", "reader", "revocation", "verify", "evidence", "internal")},
		{"evidence", append(ours("jlis", "card", "reader", "store", "platform", "web", "revocation", "verify"), sql...)},
	}
	t.Run("oidc is not under web", func(t *testing.T) {
		if deps(t, "oidc")[mod+"web"] {
			t.Error("oidc imports web (only web/ui is allowed)")
		}
	})
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			d := deps(t, r.pkg)
			for _, f := range r.forbidden {
				for p := range d {
					if p == f || strings.HasPrefix(p, f+"/") {
						t.Errorf("%s imports %s", r.pkg, p)
					}
				}
			}
		})
	}
}
