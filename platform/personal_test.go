package platform_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestEventIDsAreKeyed: a revocation event's id must not let a tenant find the certificate's
// serial by hashing small serials, so it is keyed by the master secret: the unkeyed hash of the
// same inputs is not the id, and another master gives other ids, while one master gives the same
// id every time (what makes noticing a revocation twice write one event).
func TestEventIDsAreKeyed(t *testing.T) {
	st := storetest.Open(t, store.DialectSQLite)
	p1 := platformtest.NewVerifying(t, st)
	p2 := platformtest.NewVerifying(t, st, platform.WithMaster(bytes.Repeat([]byte{9}, 32)))
	id := p1.EventID(platform.EventCertificateRevoked, "t_1", "CA", "1F")
	h := sha256.New()
	for _, s := range []string{"mynagate-event/v1", platform.EventCertificateRevoked, "t_1", "CA", "1F"} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if unkeyed := "evt_" + hex.EncodeToString(h.Sum(nil)[:16]); id == unkeyed {
		t.Fatal("the event id is the unkeyed hash of the serial")
	}
	if id != p1.EventID(platform.EventCertificateRevoked, "t_1", "CA", "1F") {
		t.Error("one master gives two ids for one event")
	}
	if id == p2.EventID(platform.EventCertificateRevoked, "t_1", "CA", "1F") || id == p1.EventID(platform.EventCertificateRevoked, "t_1", "CA", "20") {
		t.Error("another master or another serial gives the same id")
	}
}

// TestAllowsCertificate: only a tenant allowed every fact receives the certificate.
func TestAllowsCertificate(t *testing.T) {
	for _, c := range []struct {
		facts []platform.Fact
		want  bool
	}{{platform.AllFacts, true}, {nil, false}, {[]platform.Fact{platform.FactName}, false},
		{[]platform.Fact{platform.FactName, platform.FactBirth, platform.FactSex}, false}} {
		if got := (&platform.Tenant{Facts: c.facts}).AllowsCertificate(); got != c.want {
			t.Errorf("facts %v: AllowsCertificate = %v", c.facts, got)
		}
	}
}
