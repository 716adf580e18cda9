package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

func oToken(id, family, refresh string) oidc.Token {
	return oidc.Token{ID: id, RefreshHash: refresh, Family: family, ClientID: "c_1", TenantID: "t1", RequestID: "ar_1", Subject: "sub",
		VerificationID: "v_1", Scopes: []string{"openid"}, ACR: oidc.ACRLogin, AMR: []string{"hwk"}, AuthTime: nt0, CreatedAt: nt0, ExpiresAt: nt0.Add(time.Hour)}
}

// TestOIDCStorage checks the guards the provider's single-use rules rest on, on both dialects:
// a code is spent once even by racing exchanges, a refresh token rotates once, a device code
// poll sooner than the interval is told so, and deleting a client revokes its tokens.
func TestOIDCStorage(t *testing.T) {
	forDialects(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		nTenants(t, s, "t1", "t2")
		// The login's session and verification, which requests and tokens reference.
		_, _, err := s.CreateSession(ctx, platform.Session{ID: "s_1", TenantID: "t1", Purpose: platform.PurposeLogin,
			Nonce: []byte("nonce"), HolderToken: "tok", CreatedAt: nt0, ExpiresAt: nt0.Add(time.Hour)}, "")
		nMust(t, err)
		nMust(t, storetest.Complete(ctx, s, platform.Verification{ID: "v_1", TenantID: "t1", SessionID: "s_1", Purpose: platform.PurposeLogin,
			Decision: platform.DecisionAccepted, PersonID: "p_1", CertCA: "CA1", CertSerial: "01", Method: platform.MethodCRL, CreatedAt: nt0},
			[]platform.PersonCert{{PersonID: "p_1", CA: "CA1", Serial: "01", Kind: "auth", LinkedAt: nt0}}, nil))
		c := oidc.Client{ID: "c_1", TenantID: "t1", Name: "web", Redirects: []string{"https://rp.example/cb"}, CreatedAt: nt0}
		nMust(t, s.CreateOIDCClient(ctx, c))
		if err := s.CreateOIDCClient(ctx, c); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("duplicate client: %v", err)
		}
		if err := s.CreateOIDCClient(ctx, oidc.Client{ID: "c_2", TenantID: "t_nobody", Name: "x", Redirects: []string{"https://x/"}, CreatedAt: nt0}); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("client of an unknown tenant: %v", err)
		}
		if err := s.CreateOIDCClient(ctx, oidc.Client{ID: "c_3", TenantID: "t1", Name: "x", CreatedAt: nt0}); !errors.Is(err, store.ErrIncomplete) {
			t.Errorf("client without redirect URIs: %v", err)
		}

		r := oidc.Request{ID: "ar_1", Kind: "code", ClientID: "c_1", TenantID: "t1", Params: oidc.Params{Scopes: []string{"openid"}, State: "s"}, CreatedAt: nt0, ExpiresAt: nt0.Add(time.Hour)}
		nMust(t, s.CreateOIDCRequest(ctx, r, ""))
		if err := s.SaveOIDCCode(ctx, "ar_1", "h1", nt0.Add(time.Minute)); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("code before the login: %v", err)
		}
		l := oidc.Login{SessionID: "s_1", Subject: "sub", VerificationID: "v_1", ACR: oidc.ACRLogin, AMR: []string{"hwk", "pin", "sc"}, AuthTime: nt0}
		if err := s.CompleteOIDCRequest(ctx, "ar_1", l, nt0); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("login with a session the request does not have: %v", err)
		}
		nMust(t, s.SetOIDCRequestSession(ctx, "ar_1", "s_1"))
		nMust(t, s.CompleteOIDCRequest(ctx, "ar_1", l, nt0))
		if err := s.CompleteOIDCRequest(ctx, "ar_1", l, nt0); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("second login: %v", err)
		}
		if err := s.SetOIDCRequestSession(ctx, "ar_1", "s_2"); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("new session after the login: %v", err)
		}
		if err := s.DenyOIDCRequest(ctx, "ar_1", nt0); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("deny after the login: %v", err)
		}
		if err := s.SetOIDCRequestSession(ctx, "ar_nope", "s_2"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("unknown request: %v", err)
		}
		got, err := s.OIDCRequest(ctx, "ar_1")
		if err != nil || got.Login == nil || got.Login.Subject != "sub" || len(got.Login.AMR) != 3 || got.Params.State != "s" {
			t.Fatalf("request %+v, %v", got, err)
		}
		nMust(t, s.SaveOIDCCode(ctx, "ar_1", "h1", nt0.Add(time.Minute)))
		if err := s.SaveOIDCCode(ctx, "ar_1", "h2", nt0.Add(time.Minute)); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("second code: %v", err)
		}
		var ok, used atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.ConsumeOIDCCode(ctx, "h1", nt0)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, oidc.ErrCodeUsed):
					used.Add(1)
				default:
					t.Errorf("consume: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || used.Load() != 7 {
			t.Errorf("racing exchanges of one code: %d spent it, %d were told it was used", ok.Load(), used.Load())
		}
		if _, err := s.ConsumeOIDCCode(ctx, "h_unknown", nt0); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("unknown code: %v", err)
		}

		nMust(t, s.CreateOIDCTokens(ctx, oToken("at_1", "rt_1", ""), ptr(oToken("rt_1", "rt_1", "r1")), "", nt0))
		nMust(t, s.CreateOIDCTokens(ctx, oToken("at_2", "rt_1", ""), ptr(oToken("rt_2", "rt_1", "r2")), "r1", nt0))
		if err := s.CreateOIDCTokens(ctx, oToken("at_3", "rt_1", ""), ptr(oToken("rt_3", "rt_1", "r3")), "r1", nt0); !errors.Is(err, oidc.ErrRefreshUsed) {
			t.Errorf("second rotation: %v", err)
		}
		if _, err := s.OIDCToken(ctx, "at_3"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("a refused rotation stored its access token: %v", err)
		}
		if rt, err := s.OIDCRefreshToken(ctx, "r1"); err != nil || rt.UsedAt == nil {
			t.Errorf("rotated token %+v, %v", rt, err)
		}
		if n, err := s.RevokeOIDCTokens(ctx, oidc.RevokeBy{Family: "rt_1"}, nt0); err != nil || n != 4 {
			t.Errorf("revoke the family: %d, %v; want 4", n, err)
		}
		if _, err := s.RevokeOIDCTokens(ctx, oidc.RevokeBy{Family: "rt_1", TokenID: "at_1"}, nt0); !errors.Is(err, store.ErrIncomplete) {
			t.Errorf("two selectors: %v", err)
		}

		d := oidc.Request{ID: "dr_1", Kind: "device", ClientID: "c_1", TenantID: "t1", Params: oidc.Params{Scopes: []string{"openid"}}, CreatedAt: nt0, ExpiresAt: nt0.Add(time.Hour), UserCode: "BCDF-GHJK"}
		nMust(t, s.CreateOIDCRequest(ctx, d, "dh1"))
		d.ID = "dr_2"
		if err := s.CreateOIDCRequest(ctx, d, "dh2"); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("duplicate user code: %v", err)
		}
		if _, soon, err := s.PollOIDCDevice(ctx, "c_1", "dh1", nt0, 5*time.Second); err != nil || soon {
			t.Errorf("first poll: soon %v, %v", soon, err)
		}
		if _, soon, err := s.PollOIDCDevice(ctx, "c_1", "dh1", nt0.Add(time.Second), 5*time.Second); err != nil || !soon {
			t.Errorf("poll after 1 s: soon %v, %v", soon, err)
		}
		if _, soon, err := s.PollOIDCDevice(ctx, "c_1", "dh1", nt0.Add(7*time.Second), 5*time.Second); err != nil || soon {
			t.Errorf("poll 6 s after the last: soon %v, %v", soon, err)
		}
		if _, _, err := s.PollOIDCDevice(ctx, "c_other", "dh1", nt0.Add(time.Minute), 5*time.Second); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("another client's device code: %v", err)
		}
		if got, err := s.OIDCRequestByUserCode(ctx, "BCDF-GHJK"); err != nil || got.ID != "dr_1" {
			t.Errorf("by user code: %+v, %v", got, err)
		}

		nMust(t, s.CreateOIDCTokens(ctx, oToken("at_9", "at_9", ""), nil, "", nt0))
		if err := s.DeleteOIDCClient(ctx, "t2", "c_1", nt0); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("another tenant deletes the client: %v", err)
		}
		nMust(t, s.DeleteOIDCClient(ctx, "t1", "c_1", nt0))
		if tok, _ := s.OIDCToken(ctx, "at_9"); tok == nil || tok.RevokedAt == nil {
			t.Errorf("a deleted client's token is not revoked: %+v", tok)
		}
		if cs, _ := s.OIDCClients(ctx, "t1"); len(cs) != 0 {
			t.Errorf("deleted client listed: %+v", cs)
		}
		if err := s.DeleteOIDCClient(ctx, "t1", "c_1", nt0); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}

		k := oidc.SigningKey{ID: "k1", Alg: "ES256", Sealed: []byte("sealed"), CreatedAt: nt0, RotateAt: nt0.Add(time.Hour), PublishUntil: nt0.Add(2 * time.Hour)}
		nMust(t, s.CreateOIDCSigningKey(ctx, k))
		if ks, _ := s.OIDCSigningKeys(ctx, nt0.Add(90*time.Minute)); len(ks) != 1 {
			t.Errorf("key published until 2 h: %+v", ks)
		}
		if ks, _ := s.OIDCSigningKeys(ctx, nt0.Add(2*time.Hour)); len(ks) != 0 {
			t.Errorf("key published after its end: %+v", ks)
		}
	})
}

func ptr[T any](v T) *T { return &v }
