package staff

import "testing"

// Both languages have every key: a missing translation would show a key on a tablet.
func TestCatalogsComplete(t *testing.T) {
	for _, pair := range [][2]string{{"ja", "en"}, {"en", "ja"}} {
		for k := range catalog[pair[0]] {
			if _, ok := catalog[pair[1]][k]; !ok {
				t.Errorf("%q is in %s, not in %s", k, pair[0], pair[1])
			}
		}
	}
}
