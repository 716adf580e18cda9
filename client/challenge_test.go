package client_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
)

var (
	chNow   = time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	chNonce = bytes.Repeat([]byte{0xA5}, 32)
)

const holderURL = "https://verify.example/v1/holder/sessions/s_0123abcd?token=tok"

func genuine() client.ChallengeFields {
	return client.ChallengeFields{Origin: "https://verify.example", SessionID: "s_0123abcd", TenantID: "t_00ff",
		TenantName: "山田商店 Shop", Purpose: "identity", ExpiresAt: chNow.Add(5 * time.Minute), Nonce: chNonce}
}

func served(f client.ChallengeFields) *client.Challenge {
	return &client.Challenge{ID: f.SessionID, Purpose: f.Purpose, Challenge: client.EncodeChallenge(f), Status: "pending"}
}

func TestChallengeEncoding(t *testing.T) {
	b := client.EncodeChallenge(genuine())
	want := "mynagate-challenge/v1\norigin=https://verify.example\nsession=s_0123abcd\ntenant=t_00ff\n" +
		"tenant-name=%E5%B1%B1%E7%94%B0%E5%95%86%E5%BA%97%20Shop\npurpose=identity\nexpires=2026-04-01T01:05:00Z\n" +
		"nonce=paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU\n"
	if string(b) != want {
		t.Fatalf("encoding\n%s\nwant\n%s", b, want)
	}
	f, err := client.ParseChallenge(b)
	if err != nil || f.TenantName != "山田商店 Shop" || !f.ExpiresAt.Equal(chNow.Add(5*time.Minute)) || !bytes.Equal(f.Nonce, chNonce) {
		t.Fatalf("parse: %+v %v", f, err)
	}
	// Only the one canonical encoding parses.
	for name, mutate := range map[string]func(string) string{
		"a contract text":         func(string) string { return "I, the undersigned, sell my house for 1 yen." },
		"old NUL framing":         func(string) string { return "mynagate-challenge/v1\x00t_1\x00identity\x00s_1\x00nonce" },
		"other version":           func(s string) string { return strings.Replace(s, "/v1", "/v2", 1) },
		"no final line feed":      func(s string) string { return strings.TrimSuffix(s, "\n") },
		"CRLF":                    func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") },
		"trailing text":           func(s string) string { return s + "sign=this\n" },
		"fields swapped":          func(s string) string { return strings.Replace(s, "purpose=identity\n", "", 1) + "purpose=identity\n" },
		"lower-case escape":       func(s string) string { return strings.Replace(s, "%20", "%2a", 1) },
		"unescaped space":         func(s string) string { return strings.Replace(s, "%20", " ", 1) },
		"fractional seconds":      func(s string) string { return strings.Replace(s, "01:05:00Z", "01:05:00.5Z", 1) },
		"local time":              func(s string) string { return strings.Replace(s, "01:05:00Z", "10:05:00+09:00", 1) },
		"padded nonce":            func(s string) string { return strings.Replace(s, "aU\n", "aU=\n", 1) },
		"short nonce":             func(s string) string { return strings.Replace(s, "paWlpaWl", "", 1) },
		"origin with a path":      func(s string) string { return strings.Replace(s, "verify.example\n", "verify.example/x\n", 1) },
		"origin with port 443":    func(s string) string { return strings.Replace(s, "verify.example\n", "verify.example:443\n", 1) },
		"upper-case origin":       func(s string) string { return strings.Replace(s, "verify.example\n", "Verify.example\n", 1) },
		"session with a space":    func(s string) string { return strings.Replace(s, "s_0123abcd", "s_0123 abcd", 1) },
		"purpose sign":            func(s string) string { return strings.Replace(s, "purpose=identity", "purpose=sign", 1) },
		"escape sequence in name": func(s string) string { return strings.Replace(s, "%20", "%1B%5B2J", 1) },
		"C1 CSI in name":          func(s string) string { return strings.Replace(s, "%20", "%C2%9B", 1) },
		"invalid UTF-8 in name":   func(s string) string { return strings.Replace(s, "%20", "%FF", 1) },
	} {
		if _, err := client.ParseChallenge([]byte(mutate(string(b)))); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestCheckChallengeRefusesAttacks plays the challenges a fake or relaying platform would serve.
func TestCheckChallengeRefusesAttacks(t *testing.T) {
	if _, err := client.CheckChallenge(served(genuine()), client.ChallengeCheck{HolderURL: holderURL, Purpose: "identity", Now: chNow}); err != nil {
		t.Fatalf("genuine challenge refused: %v", err)
	}
	with := func(mod func(*client.ChallengeFields)) *client.Challenge {
		f := genuine()
		mod(&f)
		return served(f)
	}
	cases := []struct {
		name  string
		ch    *client.Challenge
		check client.ChallengeCheck
		want  error
	}{
		{"foreign bytes (a contract text)", &client.Challenge{ID: "s_0123abcd", Purpose: "identity", Challenge: []byte("I sell my house for 1 yen.")},
			client.ChallengeCheck{}, client.ErrChallengeForeign},
		{"another session's challenge", with(func(f *client.ChallengeFields) { f.SessionID = "s_other" }), client.ChallengeCheck{}, client.ErrChallengeForeign},
		{"the JSON names another session", func() *client.Challenge { c := served(genuine()); c.ID = "s_other"; return c }(), client.ChallengeCheck{}, client.ErrChallengeForeign},
		{"relayed from another origin", with(func(f *client.ChallengeFields) { f.Origin = "https://real-platform.example" }), client.ChallengeCheck{}, client.ErrChallengeForeign},
		{"same host, plain http", with(func(f *client.ChallengeFields) { f.Origin = "http://verify.example" }), client.ChallengeCheck{}, client.ErrChallengeForeign},
		{"other port", with(func(f *client.ChallengeFields) { f.Origin = "https://verify.example:8443" }), client.ChallengeCheck{}, client.ErrChallengeForeign},
		{"expired", with(func(f *client.ChallengeFields) { f.ExpiresAt = chNow }), client.ChallengeCheck{}, client.ErrChallengeExpired},
		{"login challenge for the signing key", with(func(f *client.ChallengeFields) { f.Purpose = "login" }),
			client.ChallengeCheck{Purpose: "identity"}, client.ErrChallengePurpose},
		{"JSON says login, challenge says identity", func() *client.Challenge { c := served(genuine()); c.Purpose = "login"; return c }(),
			client.ChallengeCheck{}, client.ErrChallengePurpose},
		{"pinned key, unsigned", served(genuine()), client.ChallengeCheck{PlatformKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)},
			client.ErrChallengeUnsigned},
	}
	for _, c := range cases {
		c.check.HolderURL, c.check.Now = holderURL, chNow
		f, err := client.CheckChallenge(c.ch, c.check)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %+v, %v; want %v", c.name, f, err, c.want)
		}
	}
	if _, err := client.CheckChallenge(served(genuine()), client.ChallengeCheck{HolderURL: holderURL}); err == nil {
		t.Error("a check without the holder's clock passed")
	}
}

func TestCheckChallengePinnedKey(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	pub := key.Public().(ed25519.PublicKey)
	ch := served(genuine())
	ch.PlatformSignature = ed25519.Sign(key, ch.Challenge)
	if _, err := client.CheckChallenge(ch, client.ChallengeCheck{HolderURL: holderURL, Now: chNow, PlatformKey: pub}); err != nil {
		t.Fatalf("signed challenge refused: %v", err)
	}
	forged := served(genuine())
	forged.PlatformSignature = ed25519.Sign(other, forged.Challenge)
	forged.PlatformKey = other.Public().(ed25519.PublicKey) // a served key is never trusted
	if _, err := client.CheckChallenge(forged, client.ChallengeCheck{HolderURL: holderURL, Now: chNow, PlatformKey: pub}); !errors.Is(err, client.ErrChallengeUnsigned) {
		t.Errorf("challenge signed by another key: %v", err)
	}
	if k, err := client.ParsePlatformKey("ed25519:" + "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="); err != nil || len(k) != 32 {
		t.Errorf("ParsePlatformKey: %v", err)
	}
	for _, bad := range []string{"", "xyz", "AQEB", "ed25519:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="} {
		if _, err := client.ParsePlatformKey(bad); err == nil {
			t.Errorf("ParsePlatformKey(%q) accepted", bad)
		}
	}
}

func TestDisplayName(t *testing.T) {
	for in, want := range map[string]string{
		"Example Shop":                    "Example Shop",
		"Evil\x1b]0;pwned\x07\x1b[2JShop": "Evil\uFFFD]0;pwned\uFFFD\uFFFD[2JShop",
		"\u009b31mred":                    "\uFFFD31mred",
		"abc\u202Egnp.exe":                "abc\uFFFDgnp.exe",
		"zero\u200Bwidth":                 "zero\uFFFDwidth",
		"line\u2028break":                 "line\uFFFDbreak",
		"":                                "(unnamed service)",
		strings.Repeat("長", 100):          strings.Repeat("長", 64) + "…",
	} {
		if got := client.DisplayName(in); got != want {
			t.Errorf("DisplayName(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkCheckChallenge is the holder's check before the card signs: parse, compare and, with
// a pinned key, verify the platform's Ed25519 signature — against a card signature of ~100 ms.
func BenchmarkCheckChallenge(b *testing.B) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	ch := served(genuine())
	ch.PlatformSignature = ed25519.Sign(key, ch.Challenge)
	for _, pinned := range []bool{false, true} {
		c := client.ChallengeCheck{HolderURL: holderURL, Now: chNow}
		name := "unpinned"
		if pinned {
			c.PlatformKey, name = key.Public().(ed25519.PublicKey), "pinned"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := client.CheckChallenge(ch, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
