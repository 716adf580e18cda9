package client_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
)

// countingSigner stands for the card: it counts what it is asked to sign.
type countingSigner struct {
	key   *rsa.PrivateKey
	signs int
}

func (s *countingSigner) Public() crypto.PublicKey { return &s.key.PublicKey }
func (s *countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	s.signs++
	return s.key.Sign(r, d, o)
}

// TestHolderChallengeRefusesAttacks serves, from a fake platform, the challenges of the reader's
// attack test and checks that the client's own holder call refuses each with the right error,
// so that nothing signable is returned; the genuine one is returned and signed over its exact
// bytes.
func TestHolderChallengeRefusesAttacks(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	var serve func(origin string) client.Challenge
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(serve("http://" + r.Host))
	}))
	defer srv.Close()
	hurl := srv.URL + "/v1/holder/sessions/s_1?token=tok"
	fields := func(origin string) client.ChallengeFields {
		return client.ChallengeFields{Origin: origin, SessionID: "s_1", TenantID: "t_1", TenantName: "Example Shop",
			Purpose: "identity", ExpiresAt: chNow.Add(5 * time.Minute), Nonce: chNonce}
	}
	challenge := func(f client.ChallengeFields) client.Challenge {
		b := client.EncodeChallenge(f)
		return client.Challenge{ID: f.SessionID, Purpose: f.Purpose, Challenge: b, Status: "pending", PlatformSignature: ed25519.Sign(key, b)}
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	card := &countingSigner{key: rk}
	hc := client.New(srv.URL)
	ctx := context.Background()

	serve = func(origin string) client.Challenge { return challenge(fields(origin)) }
	cc, err := hc.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: hurl, Purpose: "identity", Now: chNow, PlatformKey: key.Public().(ed25519.PublicKey)})
	if err != nil || cc.Fields.Purpose != "identity" || cc.SessionID != "s_1" || cc.Token != "tok" {
		t.Fatalf("genuine challenge: %+v %v", cc, err)
	}
	sig, err := cc.Sign(card)
	sum := sha256.Sum256(client.EncodeChallenge(fields(srv.URL)))
	if err != nil || rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		t.Fatalf("the checked challenge's exact bytes are not what was signed: %v", err)
	}
	if _, err := (&client.CheckedChallenge{}).Sign(card); err == nil || card.signs != 1 {
		t.Errorf("a CheckedChallenge not made by HolderChallenge was signed: %v", err)
	}

	cases := []struct {
		name    string
		serve   func(origin string) client.Challenge
		purpose string
		pin     bool
		want    error
	}{
		{"a contract text", func(string) client.Challenge {
			return client.Challenge{ID: "s_1", Purpose: "identity", Status: "pending", Challenge: []byte("I owe the bearer 10,000,000 yen.")}
		}, "", false, client.ErrChallengeForeign},
		{"another session's challenge", func(origin string) client.Challenge {
			f := fields(origin)
			f.SessionID = "s_2"
			c := challenge(f)
			c.ID = "s_1"
			return c
		}, "", false, client.ErrChallengeForeign},
		{"relayed from the real platform", func(string) client.Challenge {
			return challenge(fields("https://real-platform.example"))
		}, "", false, client.ErrChallengeForeign},
		{"expired", func(origin string) client.Challenge {
			f := fields(origin)
			f.ExpiresAt = chNow.Add(-time.Second)
			return challenge(f)
		}, "", false, client.ErrChallengeExpired},
		{"login challenge for the signing key", func(origin string) client.Challenge {
			f := fields(origin)
			f.Purpose = "login"
			return challenge(f)
		}, "identity", false, client.ErrChallengePurpose},
		{"JSON purpose differs from the challenge's", func(origin string) client.Challenge {
			c := challenge(fields(origin))
			c.Purpose = "login"
			return c
		}, "", false, client.ErrChallengePurpose},
		{"unsigned under a pinned key", func(origin string) client.Challenge {
			c := challenge(fields(origin))
			c.PlatformSignature = nil
			return c
		}, "", true, client.ErrChallengeUnsigned},
		{"a session no longer pending", func(origin string) client.Challenge {
			c := challenge(fields(origin))
			c.Status = "verified"
			return c
		}, "", false, client.ErrSessionNotPending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			serve = c.serve
			check := client.ChallengeCheck{HolderURL: hurl, Purpose: c.purpose, Now: chNow}
			if c.pin {
				check.PlatformKey = key.Public().(ed25519.PublicKey)
			}
			cc, err := hc.HolderChallenge(ctx, check)
			if !errors.Is(err, c.want) || cc != nil {
				t.Fatalf("got %v, %v; want %v and nothing to sign", cc, err, c.want)
			}
		})
	}
	// A holder URL of another platform than the client's.
	serve = func(origin string) client.Challenge { return challenge(fields(origin)) }
	if _, err := hc.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: "https://other.example/v1/holder/sessions/s_1?token=tok", Now: chNow}); !errors.Is(err, client.ErrChallengeForeign) {
		t.Errorf("holder URL of another platform: %v", err)
	}
	if _, err := hc.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: hurl}); err == nil {
		t.Errorf("no clock reading: accepted")
	}
	if card.signs != 1 {
		t.Errorf("the card signed %d times, want only the genuine challenge", card.signs)
	}
}
