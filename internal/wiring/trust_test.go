package wiring

import "testing"

func TestValidCAName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"sign", true}, {"auth", true}, {"sign-phone", true}, {"auth-phone", true},
		{"sign-g2", true}, {"auth-g3", true}, {"sign-g12-phone", true},
		{"", false}, {"signs", false}, {"sign-g1", false}, {"sign-g0", false}, {"sign-g02", false},
		{"sign-g", false}, {"sign-gx", false}, {"sign-g2-", false}, {"sign-phone-g2", false},
		{"sign-g1000", false}, {"../sign", false}, {"sign/../auth", false}, {"SIGN", false}, {"auth-g2%2f", false},
	} {
		if got := validCAName(c.name); got != c.ok {
			t.Errorf("validCAName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}
