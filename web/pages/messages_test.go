package pages

import (
	"io/fs"
	"os"
	"regexp"
	"testing"
)

// Both languages have every key, and every key a template or handler names literally exists.
func TestMessages(t *testing.T) {
	for a, ma := range messages {
		for b, mb := range messages {
			for k := range ma {
				if _, ok := mb[k]; !ok {
					t.Errorf("%q is in %s but not in %s", k, a, b)
				}
			}
		}
	}
	used := regexp.MustCompile(`(?:\.T|ui\.M|Fail\([^,]+,|redirect\([^,]+,[^,]+,|LogErr =) "([a-z0-9_.]+)"`)
	n := 0
	check := func(name string, src []byte) {
		for _, m := range used.FindAllSubmatch(src, -1) {
			n++
			k := string(m[1])
			if _, ok := messages["en"][k]; ok {
				continue
			}
			if len(k) > 3 && (k[:3] == "ui." || k[:5] == "form.") {
				continue // web/ui's own catalog
			}
			t.Errorf("%s names %q, which no catalog has", name, k)
		}
	}
	fs.WalkDir(templateFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := templateFS.ReadFile(p)
			check(p, b)
		}
		return nil
	})
	for _, f := range []string{"console.go", "holder.go", "operator.go", "pages.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(f, b)
	}
	if n < 100 {
		t.Errorf("found only %d uses of catalog keys; the pattern no longer matches the code", n)
	}
}
