package e2e

import (
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
)

// TestPhoneCredentialIsTheSamePerson: a smartphone credential issued from a card (Android and
// iPhone) verifies identity and logs in as the same person, with the card's pairwise id; J-LIS
// links the phone's certificates from the card's (cause phone) and the platform follows them.
func TestPhoneCredentialIsTheSamePerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	taro := e.issue(testkit.Taro())
	id := e.verify(e.rp, taro, "identity").Verification
	other := e.verify(e.rp2, taro, "identity").Verification
	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []jpki.Medium{jpki.MediumAndroid, jpki.MediumIPhone} {
		iss, err := e.sim.IssuePhone(ctx, cf, m, "", "")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), string(m)+".json")
		if err := iss.Card.Save(path); err != nil {
			t.Fatal(err)
		}
		phone := &holder{e: e, path: path}
		if got := e.verify(e.rp, phone, "identity").Verification; got.Sub != id.Sub || got.Facts["name"] != "山田　太郎" {
			t.Errorf("%s identity: sub %s, want the card's %s", m, got.Sub, id.Sub)
		}
		if got := e.verify(e.rp, phone, "login").Verification.Sub; got != id.Sub {
			t.Errorf("%s login: sub %s, want %s", m, got, id.Sub)
		}
		if got := e.verify(e.rp2, phone, "identity").Verification.Sub; got != other.Sub {
			t.Errorf("%s at the second tenant: sub %s, want %s", m, got, other.Sub)
		}
	}
}
