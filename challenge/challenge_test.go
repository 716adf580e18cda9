package challenge_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/challenge"
)

func signing() challenge.Fields {
	at := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	return challenge.Fields{Origin: "https://verify.example", SessionID: "s_1", TenantID: "t_1", TenantName: "山田商店",
		Purpose: "identity", ExpiresAt: at.Add(5 * time.Minute), Nonce: bytes.Repeat([]byte{9}, 32),
		DocumentSHA256: bytes.Repeat([]byte{0xab}, 32), RP: "Bank web", SigningTime: at}
}

// A document-signing challenge has three more lines, and reads back as written.
func TestSigningChallenge(t *testing.T) {
	f := signing()
	b := challenge.Encode(f)
	if !strings.HasSuffix(string(b), "\ndocument-sha256="+strings.Repeat("ab", 32)+"\nrp=Bank%20web\nsigning-time=2026-04-01T01:00:00Z\n") {
		t.Fatalf("encoded:\n%s", b)
	}
	g, err := challenge.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Signing() || !bytes.Equal(g.DocumentSHA256, f.DocumentSHA256) || g.RP != f.RP || !g.SigningTime.Equal(f.SigningTime) {
		t.Fatalf("parsed %+v", g)
	}
	plain := f
	plain.DocumentSHA256 = nil
	if g, err := challenge.Parse(challenge.Encode(plain)); err != nil || g.Signing() || strings.Contains(string(challenge.Encode(plain)), "document") {
		t.Fatalf("a plain challenge: %v %+v", err, g)
	}
}

func TestSigningChallengeRefused(t *testing.T) {
	good := string(challenge.Encode(signing()))
	hash := strings.Repeat("ab", 32)
	for name, text := range map[string]string{
		"short hash":         strings.Replace(good, hash, hash[:62], 1),
		"upper-case hash":    strings.Replace(good, hash, strings.ToUpper(hash), 1),
		"login purpose":      strings.Replace(good, "purpose=identity", "purpose=login", 1),
		"rp not escaped":     strings.Replace(good, "rp=Bank%20web", "rp=Bank web", 1),
		"rp with escape":     strings.Replace(good, "rp=Bank%20web", "rp=%1B%5B2J", 1),
		"time with offset":   strings.Replace(good, "signing-time=2026-04-01T01:00:00Z", "signing-time=2026-04-01T10:00:00+09:00", 1),
		"lines swapped":      strings.Replace(good, "rp=Bank%20web\nsigning-time=2026-04-01T01:00:00Z", "signing-time=2026-04-01T01:00:00Z\nrp=Bank%20web", 1),
		"one sign line only": strings.SplitAfter(good, "\nrp=")[0][:len(strings.SplitAfter(good, "\nrp=")[0])-len("rp=")],
		"no final line feed": strings.TrimSuffix(good, "\n"),
	} {
		if _, err := challenge.Parse([]byte(text)); err == nil {
			t.Errorf("%s: accepted\n%s", name, text)
		}
	}
}
