package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestChipReadingEndToEnd runs the "IC chip reading" method on SQLite and PostgreSQL with the
// virtual card: the holder's side reads the support AP (PIN) and sends its signed files; the
// platform checks them against the card-AP CA it trusts; the tenant's view, the webhook event
// and the evidence bundle all mark it as the weaker method, with the facts the tenant may see
// and no pairwise id.
func TestChipReadingEndToEnd(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.DSN(t, d))
			taro := e.issue(testkit.Taro())
			recv := newReceiver(t, http.StatusOK)
			if _, _, err := e.rp.CreateEndpoint(ctx, client.EndpointRequest{URL: recv.URL + "/hooks", EventTypes: []string{"verification.completed"}}); err != nil {
				t.Fatal(err)
			}

			v := e.verify(e.rp, taro, "chip_reading").Verification
			if v.Purpose != "chip_reading" || !reflect.DeepEqual(v.Limitations, platform.ChipReadingLimitations) {
				t.Errorf("chip reading view: purpose %q, limitations %v", v.Purpose, v.Limitations)
			}
			if v.Sub != "" || v.Cert != nil || v.Revocation.Method != "none" {
				t.Errorf("chip reading view has sub %q, certificate %v, revocation %q; want none of them", v.Sub, v.Cert, v.Revocation.Method)
			}
			want := map[string]string{"name": "山田　太郎", "birthdate": "1985-04-02", "sex": "male", "address": "東京都千代田区霞が関２丁目１番２号"}
			if !reflect.DeepEqual(v.Facts, want) {
				t.Errorf("facts %v, want %v", v.Facts, want)
			}
			// A tenant allowed only the birth date gets only that.
			v2 := e.verify(e.rp2, taro, "chip_reading").Verification
			if !reflect.DeepEqual(v2.Facts, map[string]string{"birthdate": "1985-04-02"}) {
				t.Errorf("second tenant's facts %v", v2.Facts)
			}
			// The JPKI identity verification of the same card has a pairwise id and no limitations.
			id := e.verify(e.rp, taro, "identity").Verification
			if id.Sub == "" || len(id.Limitations) != 0 {
				t.Errorf("identity view: sub %q, limitations %v", id.Sub, id.Limitations)
			}

			// The verification.completed event carries the limitations and no sub.
			e.deliverAll(t)
			seen := 0
			for _, m := range recv.messages() {
				var ev struct {
					Data map[string]any `json:"data"`
				}
				must(t, json.Unmarshal(m.body, &ev))
				switch ev.Data["verification_id"] {
				case v.ID:
					seen++
					if ev.Data["purpose"] != "chip_reading" || ev.Data["sub"] != nil || !strings.Contains(string(m.body), `"limitations":["no-key-possession","no-revocation-check","copyable-data","no-pairwise-id"]`) {
						t.Errorf("chip reading's event %s", m.body)
					}
				case id.ID:
					seen++
					if ev.Data["limitations"] != nil || ev.Data["sub"] == nil {
						t.Errorf("identity verification's event %s", m.body)
					}
				}
			}
			if seen != 2 {
				t.Errorf("%d of the 2 events delivered", seen)
			}
			// The evidence bundle names the purpose in its public header and verifies offline.
			bundle := e.fetchBundle(t, v.ID)
			b, err := evidence.VerifyBundle(bundle, e.evidence.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			if b.Leaf.Purpose != "chip_reading" || b.Leaf.Decision != evidence.Accepted || b.Leaf.Method != evidence.MethodNone {
				t.Errorf("bundle header: %+v", b.Leaf.Header)
			}
			// The sealed part keeps the AP certificate and the signature record, and no sub.
			if b.Personal == nil || b.Personal.Subject != "" || !bytes.HasPrefix(b.Personal.Certificate, []byte{0x7F, 0x21}) ||
				!bytes.HasPrefix(b.Personal.Signature, []byte{0xFF, 0x30}) || b.Personal.Facts["name"] != "山田　太郎" {
				t.Errorf("disclosed personal data %+v", b.Personal)
			}

			// Usage counts chip readings apart.
			u, err := e.rp.Usage(ctx, "", "")
			must(t, err)
			found := false
			for _, c := range u.Counts {
				if c.Purpose == "chip_reading" && c.Method == "none" && c.Count == 1 {
					found = true
				}
			}
			if !found {
				t.Errorf("usage %+v has no chip_reading count of 1", u.Counts)
			}
		})
	}
}

// cardFiles reads the support AP's files of a holder's card as the holder's app does.
func cardFiles(t *testing.T, h *holder) *reader.SupportAPData {
	t.Helper()
	d, err := h.reader().ReadSupportAPData(ctx, jlis.DefaultSupportPIN)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// postAnswer sends a raw holder answer and returns the problem, if any.
func postAnswer(t *testing.T, hc *client.Client, base, id string, body map[string]any) error {
	t.Helper()
	b, err := json.Marshal(body)
	must(t, err)
	resp, err := http.Post(base+"/v1/holder/sessions/"+id, "application/json", bytes.NewReader(b))
	must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var p client.Problem
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("HTTP %d with %s", resp.StatusCode, raw)
	}
	p.Status = resp.StatusCode
	return &p
}

func cardBody(tok string, challenge []byte, d *reader.SupportAPData) map[string]any {
	return map[string]any{"token": tok, "challenge": challenge,
		"card_data": map[string][]byte{"basic4": d.Basic4, "signature": d.Signature, "certificate": d.Cert}}
}

// TestChipReadingHostile: tampered facts, a signature by another AP key, an AP of a lookalike
// card-AP CA, replay of another session's answer, a wrong token and another tenant, oversized
// files, answers of the wrong shape, consent, and a platform that trusts no card-AP CA.
func TestChipReadingHostile(t *testing.T) {
	e := newEnv(t, "")
	taro := e.issue(testkit.Taro())
	good := cardFiles(t, taro)

	// An AP of a card-AP CA the platform does not trust, over the same facts.
	foreignSig, foreignCert := foreignAP(t, good)

	tamper := func(d *reader.SupportAPData) *reader.SupportAPData {
		c := *d
		c.Basic4 = bytes.Clone(d.Basic4)
		i := bytes.Index(c.Basic4, []byte("霞が関"))
		c.Basic4[i+len("霞が関")-1]++ // 関 becomes another character of the same length
		return &c
	}
	withFiles := func(d *reader.SupportAPData, sig, cert []byte) *reader.SupportAPData {
		c := *d
		if sig != nil {
			c.Signature = sig
		}
		if cert != nil {
			c.Cert = cert
		}
		return &c
	}

	session := func(rp *client.Client) (*client.Client, string, string, []byte) {
		return e.newSession(rp, "chip_reading")
	}

	recorded := []struct {
		name string
		data *reader.SupportAPData
		slug string
	}{
		{"tampered basic 4", tamper(good), "card-data-tampered"},
		// The genuine certificate, the digests signed by another AP key.
		{"signature by another AP key", withFiles(good, foreignSig, nil), "card-signature-invalid"},
		{"AP of an untrusted card-AP CA", withFiles(good, foreignSig, foreignCert), "card-ap-untrusted"},
		{"certificate of another AP over genuine data", withFiles(good, nil, foreignCert), "card-signature-invalid"},
		{"malformed signature record", withFiles(good, bytes.Repeat([]byte{0xFF}, 336), nil), "card-data-malformed"},
	}
	for _, tt := range recorded {
		t.Run(tt.name, func(t *testing.T) {
			hc, id, tok, ch := session(e.rp)
			err := postAnswer(t, hc, e.api.URL, id, cardBody(tok, ch, tt.data))
			expectProblem(t, err, tt.slug)
			p := err.(*client.Problem)
			if p.VerificationID == "" {
				t.Fatal("the rejection was not recorded")
			}
			v, err := e.rp.Verification(ctx, p.VerificationID)
			if err != nil || v.Decision != "rejected" || v.Reason != tt.slug || v.Purpose != "chip_reading" || len(v.Facts) != 0 {
				t.Errorf("recorded rejection %+v %v", v, err)
			}
		})
	}

	t.Run("replay of another session's answer", func(t *testing.T) {
		hcA, idA, tokA, chA := session(e.rp)
		must(t, postAnswer(t, hcA, e.api.URL, idA, cardBody(tokA, chA, good)))
		// The same answer again: the session's challenge is spent.
		expectProblem(t, postAnswer(t, hcA, e.api.URL, idA, cardBody(tokA, chA, good)), "challenge-reused")
		// Session A's answer sent to session B (with B's token): the echoed challenge is A's.
		hcB, idB, tokB, _ := session(e.rp)
		expectProblem(t, postAnswer(t, hcB, e.api.URL, idB, cardBody(tokB, chA, good)), "challenge-mismatch")
		// Of another tenant's session too.
		hcC, idC, tokC, _ := session(e.rp2)
		expectProblem(t, postAnswer(t, hcC, e.api.URL, idC, cardBody(tokC, chA, good)), "challenge-mismatch")
	})

	t.Run("wrong token and another tenant", func(t *testing.T) {
		hc, id, _, ch := session(e.rp)
		_, _, tok2, _ := session(e.rp2)
		expectProblem(t, postAnswer(t, hc, e.api.URL, id, cardBody(tok2, ch, good)), "not-found")
		hcA, idA, tokA, chA := session(e.rp)
		must(t, postAnswer(t, hcA, e.api.URL, idA, cardBody(tokA, chA, good)))
		s, err := e.rp.Session(ctx, idA)
		must(t, err)
		_, err = e.rp2.Verification(ctx, s.Verification.ID)
		expectProblem(t, err, "not-found")
	})

	unrecorded := []struct {
		name string
		body func(tok string, ch []byte) map[string]any
	}{
		{"oversized basic 4", func(tok string, ch []byte) map[string]any {
			return cardBody(tok, ch, withBasic4(good, append(bytes.Clone(good.Basic4), bytes.Repeat([]byte{0xFF}, jpki.SupportBasic4Size+1-len(good.Basic4))...)))
		}},
		{"oversized certificate", func(tok string, ch []byte) map[string]any {
			return cardBody(tok, ch, withFiles(good, nil, bytes.Repeat([]byte{0x7F}, jpki.SupportCertSize+1)))
		}},
		{"empty signature record", func(tok string, ch []byte) map[string]any {
			return cardBody(tok, ch, &reader.SupportAPData{Basic4: good.Basic4, Cert: good.Cert})
		}},
		{"no challenge echoed", func(tok string, _ []byte) map[string]any { return cardBody(tok, nil, good) }},
		{"certificate and signature instead", func(tok string, ch []byte) map[string]any {
			return map[string]any{"token": tok, "certificate": []byte{0x30}, "signature": []byte{1}}
		}},
		{"card data and a certificate", func(tok string, ch []byte) map[string]any {
			b := cardBody(tok, ch, good)
			b["certificate"] = []byte{0x30}
			return b
		}},
		{"consent", func(tok string, ch []byte) map[string]any {
			b := cardBody(tok, ch, good)
			b["consent"] = []string{"basic4_updates"}
			return b
		}},
	}
	for _, tt := range unrecorded {
		t.Run(tt.name, func(t *testing.T) {
			hc, id, tok, ch := session(e.rp)
			expectProblem(t, postAnswer(t, hc, e.api.URL, id, tt.body(tok, ch)), "invalid-request")
			// Nothing was recorded: the holder may still answer.
			must(t, postAnswer(t, hc, e.api.URL, id, cardBody(tok, ch, good)))
		})
	}

	t.Run("card data for an identity session", func(t *testing.T) {
		hc, id, tok, ch := e.newSession(e.rp, "identity")
		expectProblem(t, postAnswer(t, hc, e.api.URL, id, cardBody(tok, ch, good)), "invalid-request")
	})

	t.Run("platform without a card-AP CA", func(t *testing.T) {
		// The same options, the card-AP CAs replaced by none.
		p, err := platform.New(e.st, append(slices.Clone(e.platOpts), platform.WithCardAPCAs())...)
		must(t, err)
		ten, err := p.Tenant(ctx, e.tenantID)
		must(t, err)
		_, _, err = p.CreateSession(ctx, ten, platform.SessionRequest{Purpose: platform.PurposeChipReading})
		var pe *platform.Error
		if !errors.As(err, &pe) || pe.Kind != platform.KindInvalid || !strings.Contains(pe.Detail, "card-AP CA") {
			t.Errorf("chip reading on a platform that trusts no card-AP CA: %v", err)
		}
	})

	t.Run("a chip_reading challenge is never signed", func(t *testing.T) {
		s, err := e.rp.CreateSession(ctx, client.SessionRequest{Purpose: "chip_reading"})
		must(t, err)
		base, _, _, _ := client.ParseHolderURL(s.HolderURL)
		cc, err := client.New(base).HolderChallenge(ctx, client.ChallengeCheck{HolderURL: s.HolderURL, Now: s.CreatedAt})
		must(t, err)
		k, err := testkit.Key()
		must(t, err)
		if _, err := cc.Sign(k); err == nil {
			t.Error("a chip_reading challenge was signed")
		}
	})
}

// foreignAP returns d's digests signed by a new AP key, and that key's certificate by a new
// card-AP CA the platform does not trust. The keys are fresh, not the test key pool's, which the
// simulators of one test binary share (a lookalike simulator may hold the trusted CA's key).
func foreignAP(t *testing.T, d *reader.SupportAPData) (sig, cert []byte) {
	t.Helper()
	ca, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	ap, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	rec, err := jpki.ParseSupportSignature(d.Signature)
	must(t, err)
	sig, err = jpki.MarshalSupportSignature(rec.Digests, ap)
	must(t, err)
	cert, err = jpki.MarshalCVCert(bytes.Repeat([]byte{0xCA}, 16), bytes.Repeat([]byte{0xAB}, 16), &ap.PublicKey, ca)
	must(t, err)
	return sig, cert
}

func withBasic4(d *reader.SupportAPData, b []byte) *reader.SupportAPData {
	c := *d
	c.Basic4 = b
	return &c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
