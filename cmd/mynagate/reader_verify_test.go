package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

// recordingTransport records every APDU sent to the card.
type recordingTransport struct {
	reader.Transport
	mu    sync.Mutex
	apdus [][]byte
}

func (r *recordingTransport) Transmit(ctx context.Context, capdu []byte) ([]byte, error) {
	r.mu.Lock()
	r.apdus = append(r.apdus, bytes.Clone(capdu))
	r.mu.Unlock()
	return r.Transport.Transmit(ctx, capdu)
}

// runReader runs `mynagate reader ARGS` at now against card file cf opened in-process, and
// returns what it printed, the transport that recorded the APDUs the card received (nil when
// the command never opened the card) and the command's error.
func runReader(cf *jpki.CardFile, now time.Time, args ...string) (string, *recordingTransport, error) {
	var rec *recordingTransport
	f := &readerFlags{now: func() time.Time { return now }, openCard: func(context.Context) (*session, error) {
		c, err := card.New(cf)
		if err != nil {
			return nil, err
		}
		rec = &recordingTransport{Transport: reader.NewInProcess(c, "test card")}
		return &session{Client: reader.NewClient(rec)}, nil
	}}
	cmd := newReaderCmdWith(f)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), rec, err
}

// signs counts the PERFORM SECURITY OPERATION (INS 2A) commands: the card signing.
func (r *recordingTransport) signs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.apdus {
		if len(a) > 1 && a[1] == 0x2A {
			n++
		}
	}
	return n
}

// fakePlatform serves one holder session whose challenge the test chooses, as a fake or
// relaying platform would, and records the answers it gets.
type fakePlatform struct {
	srv     *httptest.Server
	serve   func(origin string) client.Challenge
	answers int
}

func newFakePlatform(t *testing.T) *fakePlatform {
	fp := &fakePlatform{}
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			fp.answers++
			json.NewEncoder(w).Encode(client.HolderResult{SessionID: "s_1", VerificationID: "v_1", Decision: "accepted", TenantName: "x"})
			return
		}
		json.NewEncoder(w).Encode(fp.serve(fp.srv.URL))
	}))
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *fakePlatform) holderURL() string { return fp.srv.URL + "/v1/holder/sessions/s_1?token=tok" }

// TestReaderVerifyRefusesFakeChallenges points `reader verify` at fake platforms serving the
// challenges an attacker would — a foreign text, another session's challenge, a challenge
// relayed from the real platform, an expired one, a purpose that does not match, a tenant name
// with terminal escapes, an unsigned one under a pinned key — and checks that each is refused
// with a clear error before the card is touched: no APDU at all, so no signature.
func TestReaderVerifyRefusesFakeChallenges(t *testing.T) {
	now := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "sign.pin")
	if err := os.WriteFile(pinFile, []byte(cardtest.SignPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := cardtest.CardFile(t, jpki.MediumCard)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	pinned := "ed25519:" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))

	fields := func(origin string) client.ChallengeFields {
		return client.ChallengeFields{Origin: origin, SessionID: "s_1", TenantID: "t_1", TenantName: "Example Shop",
			Purpose: "identity", ExpiresAt: now.Add(5 * time.Minute), Nonce: bytes.Repeat([]byte{9}, 32)}
	}
	challenge := func(f client.ChallengeFields) client.Challenge {
		b := client.EncodeChallenge(f)
		return client.Challenge{ID: f.SessionID, Purpose: f.Purpose, TenantName: f.TenantName, Challenge: b, Status: "pending",
			ExpiresAt: f.ExpiresAt, PlatformSignature: ed25519.Sign(key, b)}
	}
	run := func(fp *fakePlatform, extra ...string) (string, *recordingTransport, error) {
		return runReader(cf, now, append(append([]string{"verify", "--pin-file", pinFile}, extra...), fp.holderURL())...)
	}

	// The control: a well-formed challenge of the platform the URL names is signed and sent,
	// with and without the pinned key.
	for _, extra := range [][]string{nil, {"--platform-key", pinned}} {
		fp := newFakePlatform(t)
		fp.serve = func(origin string) client.Challenge { return challenge(fields(origin)) }
		out, rec, err := run(fp, extra...)
		if err != nil || rec == nil || rec.signs() != 1 || fp.answers != 1 {
			t.Fatalf("genuine challenge %v: %v\n%s", extra, err, out)
		}
		if !strings.Contains(out, `"Example Shop" (`+fp.srv.URL+`) asks you to prove your identity`) {
			t.Errorf("the holder is not shown the tenant and origin:\n%s", out)
		}
	}

	cases := []struct {
		name  string
		serve func(origin string) client.Challenge
		extra []string
		want  string
	}{
		{"a contract text instead of a challenge", func(string) client.Challenge {
			return client.Challenge{ID: "s_1", Purpose: "identity", TenantName: "Bank", Status: "pending",
				Challenge: []byte("I, the undersigned, owe the bearer 10,000,000 yen."), ExpiresAt: now.Add(time.Minute)}
		}, nil, "not a mynagate challenge"},
		{"another session's challenge", func(origin string) client.Challenge {
			f := fields(origin)
			f.SessionID = "s_2"
			c := challenge(f)
			c.ID = "s_1"
			return c
		}, nil, `it is for session "s_2"`},
		{"a challenge relayed from the real platform", func(string) client.Challenge {
			return challenge(fields("https://real-platform.example"))
		}, nil, "it is for https://real-platform.example"},
		{"an expired challenge", func(origin string) client.Challenge {
			f := fields(origin)
			f.ExpiresAt = now.Add(-time.Second)
			return challenge(f)
		}, nil, "expired at 2026-04-01T00:59:59Z"},
		{"JSON asks for login, the challenge is for the signing key", func(origin string) client.Challenge {
			c := challenge(fields(origin))
			c.Purpose = "login"
			return c
		}, nil, "another purpose"},
		{"JSON asks for identity, the challenge is a login one", func(origin string) client.Challenge {
			f := fields(origin)
			f.Purpose = "login"
			c := challenge(f)
			c.Purpose = "identity"
			return c
		}, nil, "another purpose"},
		{"a tenant name with terminal escapes", func(origin string) client.Challenge {
			f := fields(origin)
			f.TenantName = "Your Bank\x1b]0;Your Bank\x07\x1b[2J"
			return challenge(f)
		}, nil, "control characters"},
		{"unsigned under a pinned key", func(origin string) client.Challenge {
			c := challenge(fields(origin))
			c.PlatformSignature = nil
			return c
		}, []string{"--platform-key", pinned}, "not signed by the pinned platform key"},
		{"signed by another key under a pinned key", func(origin string) client.Challenge {
			c := challenge(fields(origin))
			other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
			c.PlatformSignature, c.PlatformKey = ed25519.Sign(other, c.Challenge), other.Public().(ed25519.PublicKey)
			return c
		}, []string{"--platform-key", pinned}, "not signed by the pinned platform key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fp := newFakePlatform(t)
			fp.serve = c.serve
			out, rec, err := run(fp, c.extra...)
			if err == nil || !strings.Contains(err.Error(), "refusing to sign") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a refusal naming %q\n%s", err, c.want, out)
			}
			if rec != nil {
				t.Errorf("the card was opened (%d APDUs, %d signatures)", len(rec.apdus), rec.signs())
			}
			if fp.answers != 0 {
				t.Errorf("an answer was sent")
			}
			if strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("terminal escapes reached the output: %q", out)
			}
		})
	}
	if _, _, err := run(newFakePlatform(t), "--platform-key", "not-a-key"); err == nil || !strings.Contains(err.Error(), "--platform-key") {
		t.Errorf("a malformed --platform-key: %v", err)
	}
}

// The holder is told the facts the tenant may actually receive, not all four.
func TestReaderVerifyTellsTheFacts(t *testing.T) {
	now := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "sign.pin")
	if err := os.WriteFile(pinFile, []byte(cardtest.SignPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := cardtest.CardFile(t, jpki.MediumCard)
	for _, tc := range []struct {
		facts []string
		want  string
	}{
		{[]string{"name", "address"}, "It receives your name, address (not your date of birth, sex)."},
		{[]string{"name", "birthdate", "sex", "address"}, "It receives your name, date of birth, sex, address."},
		{nil, "It receives none of your name, date of birth, sex or address"},
	} {
		fp := newFakePlatform(t)
		fp.serve = func(origin string) client.Challenge {
			f := client.ChallengeFields{Origin: origin, SessionID: "s_1", TenantID: "t_1", TenantName: "Example Shop",
				Purpose: "identity", ExpiresAt: now.Add(5 * time.Minute), Nonce: bytes.Repeat([]byte{9}, 32)}
			return client.Challenge{ID: "s_1", Purpose: "identity", TenantName: f.TenantName, Challenge: client.EncodeChallenge(f),
				Status: "pending", ExpiresAt: f.ExpiresAt, Facts: tc.facts}
		}
		out, _, err := runReader(cf, now, "verify", "--pin-file", pinFile, fp.holderURL())
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.facts, err, out)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("facts %v: the holder is not told %q:\n%s", tc.facts, tc.want, out)
		}
	}
}

// A document-signing challenge: the holder is shown the document's hash, the relying party and
// the signing time before the password, and the card signs once (the CAdES signed attributes;
// the platform's side is checked in oidc's TestSignScope and TestSignChallengeRefused).
func TestReaderVerifyShowsTheDocument(t *testing.T) {
	now := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)
	pinFile := filepath.Join(t.TempDir(), "sign.pin")
	if err := os.WriteFile(pinFile, []byte(cardtest.SignPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := cardtest.CardFile(t, jpki.MediumCard)
	digest := bytes.Repeat([]byte{0xab}, 32)
	fp := newFakePlatform(t)
	signing := func(rp string) func(origin string) client.Challenge {
		return func(origin string) client.Challenge {
			f := client.ChallengeFields{Origin: origin, SessionID: "s_1", TenantID: "t_1", TenantName: "Example Bank",
				Purpose: "identity", ExpiresAt: now.Add(5 * time.Minute), Nonce: bytes.Repeat([]byte{9}, 32),
				DocumentSHA256: digest, RP: rp, SigningTime: now.Add(-time.Minute)}
			return client.Challenge{ID: "s_1", Purpose: "identity", TenantName: f.TenantName, Challenge: client.EncodeChallenge(f),
				Status: "pending", ExpiresAt: f.ExpiresAt}
		}
	}
	fp.serve = signing("Bank web\x1b[2J")
	out, rec, err := runReader(cf, now, "verify", "--pin-file", pinFile, fp.holderURL())
	if err == nil || !strings.Contains(err.Error(), "control characters") || rec != nil {
		t.Fatalf("a relying party's name with terminal escapes: %v\n%s", err, out)
	}
	fp.serve = signing("Bank web")
	out, rec, err = runReader(cf, now, "verify", "--pin-file", pinFile, fp.holderURL())
	if err != nil || rec == nil || rec.signs() != 1 || fp.answers != 1 {
		t.Fatalf("signing challenge: %v\n%s", err, out)
	}
	for _, want := range []string{`SIGN a document for "Bank web"`, "document-sha256=" + strings.Repeat("ab", 32), "rp=Bank web", "signing-time=2026-04-01T00:59:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("the holder is not shown %q:\n%s", want, out)
		}
	}
}
