// Package oidc is mynagate's OpenID provider: "Log in with My Number Card" for relying parties
// that want a standard OpenID Connect login instead of the platform's own API.
//
// The protocol is github.com/zitadel/oidc/v3's op package (discovery, authorization code with
// PKCE, refresh tokens, userinfo, RP-initiated logout, device authorization per RFC 8628, JWKS);
// this package implements its Storage over the platform and over a Storage of its own that
// package store implements (clients, login requests, tokens, sealed signing keys). The login
// step is a platform verification session: the page shows the session's holder URL as a QR
// code and as a link the holder's app opens, and moves on when the platform has verified the
// holder's card (server-sent events, or a meta refresh without JavaScript).
//
// Scopes follow the Digital Agency's app: openid alone is a login with the authentication
// certificate (login-grade acr); name, address, birthdate and gender need the signing
// certificate (identity-grade acr) and are released only within the tenant's fact allowance —
// a scope beyond it is refused with invalid_scope before anything is shown to the holder. The
// sign scope has the holder sign a document's SHA-256, given in a request object, with the
// signing key, and returns the CMS at userinfo (sign.go). sub
// is the tenant's pairwise id, so two relying parties never see the same subject for one
// person. The provider keeps no single-sign-on session: every authorization is a fresh card
// verification, so prompt=login and max_age are always met and auth_time is that verification.
//
// The pages (login with the QR code, consent, device code, messages) are built on web/ui: its
// layout, Japanese and English catalogs, sealed session cookie — which also binds a login to
// the browser that opened it — CSRF protection, strict CSP and live updates. What is written
// here rather than taken from a library is the sealing of signing keys (the same AES-GCM
// construction the platform uses for webhook secrets).
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Scopes beyond openid and offline_access, as the Digital Agency's app names them.
const (
	ScopeName      = "name"
	ScopeAddress   = "address"
	ScopeBirthdate = "birthdate"
	ScopeGender    = "gender"
	// ScopeSign asks the holder to sign a document's SHA-256 with the signing key; the hash
	// comes in a request object (sign.go) and the CMS is the userinfo claim document_signature.
	ScopeSign = "sign"
)

// claimScopes maps each personal-data scope to the platform fact it releases.
var claimScopes = map[string]platform.Fact{
	ScopeName:      platform.FactName,
	ScopeAddress:   platform.FactAddress,
	ScopeBirthdate: platform.FactBirth,
	ScopeGender:    platform.FactSex,
}

// Authentication context classes: which certificate the holder proved possession of.
const (
	// ACRLogin is login-grade: the authentication certificate with its 4-digit PIN
	// (利用者証明用電子証明書); no personal facts.
	ACRLogin = "urn:mynagate:acr:jpki-auth"
	// ACRIdentity is identity-grade: the signing certificate with its password
	// (署名用電子証明書), which carries the basic 4 facts.
	ACRIdentity = "urn:mynagate:acr:jpki-sign"
)

// amr per RFC 8176: a hardware-secured key (hwk) on a smart card (sc), unlocked by a PIN or
// password entered on the device (pin).
var amr = []string{"hwk", "pin", "sc"}

// phoneAMR is a smartphone's JPKI credential (スマホ用電子証明書): the key is in the phone's
// secure element, not on a smart card.
var phoneAMR = []string{"hwk", "pin"}

// amrOf returns the amr of a login by the J-LIS CA that issued its certificate.
func amrOf(caName string) []string {
	if strings.HasSuffix(caName, "-phone") {
		return phoneAMR
	}
	return amr
}

// Config tunes the provider.
type Config struct {
	// Issuer is the provider's public URL, e.g. https://id.example.jp/oidc. Its path is where
	// Handler is mounted.
	Issuer string
	// Master is the platform's master secret (at least 32 bytes): signing keys are sealed,
	// access tokens encrypted and page cookies sealed under keys derived from it (internal/kdf).
	Master []byte
	// Clock and Rand default to the real ones.
	Clock clockwork.Clock
	Rand  io.Reader
	// Lifetimes; zero means the default.
	RequestTTL     time.Duration // an authorization request, login step included (10 minutes)
	CodeTTL        time.Duration // an authorization code (1 minute)
	AccessTTL      time.Duration // an access token (10 minutes)
	IDTokenTTL     time.Duration // an ID token (10 minutes)
	RefreshTTL     time.Duration // a refresh token (30 days)
	KeyRotation    time.Duration // a signing key signs this long (24 hours)
	DeviceTTL      time.Duration // a device authorization (10 minutes)
	DeviceInterval time.Duration // the least time between device polls (5 seconds)
}

// Provider is the OpenID provider. It is safe for concurrent use.
type Provider struct {
	p       *platform.Platform
	st      Storage
	cfg     Config
	clk     clockwork.Clock
	rand    io.Reader
	op      *op.Provider
	keys    *keyring
	ui      *ui.UI        // the pages' foundation (layout, catalogs, session, CSRF)
	pages   ui.Pages      // login, consent, message and device pages
	base    string        // the issuer's path, e.g. /oidc
	guesses *guessLimiter // tries of user codes on the device page, per client address
	mux     *http.ServeMux
}

// New returns a provider over the platform and its storage.
func New(p *platform.Platform, st Storage, cfg Config) (*Provider, error) {
	if p == nil || st == nil {
		return nil, errors.New("oidc: a platform and a storage are required")
	}
	secret, err := kdf.New(cfg.Master)
	if err != nil {
		return nil, fmt.Errorf("oidc: master secret: %w", err)
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http") || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("oidc: issuer %q is not an http(s) URL without query or fragment", cfg.Issuer)
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RequestTTL, 10*time.Minute)
	def(&cfg.CodeTTL, time.Minute)
	def(&cfg.AccessTTL, 10*time.Minute)
	def(&cfg.IDTokenTTL, 10*time.Minute)
	def(&cfg.RefreshTTL, 30*24*time.Hour)
	def(&cfg.KeyRotation, 24*time.Hour)
	def(&cfg.DeviceTTL, 10*time.Minute)
	def(&cfg.DeviceInterval, 5*time.Second)
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	pr := &Provider{p: p, st: st, cfg: cfg, clk: cfg.Clock, rand: cfg.Rand, base: strings.TrimRight(iss.Path, "/"), guesses: newGuessLimiter(cfg.Clock.Now)}
	if err := pr.newUI(secret.Key(kdf.OIDCPages)); err != nil {
		return nil, fmt.Errorf("oidc: pages: %w", err)
	}
	pr.keys = newKeyring(st, secret.Key(kdf.OIDCSigningKeys), cfg.Clock, cfg.Rand, cfg.KeyRotation, cfg.IDTokenTTL+cfg.AccessTTL)
	cryptoKey := [32]byte(secret.Key(kdf.OIDCAccessTokens))
	opts := []op.Option{op.WithHttpInterceptors(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scratchKey{}, &scratch{})))
		})
	})}
	if iss.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	pr.op, err = op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: pr.base + "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.Japanese, language.English},
		SupportedScopes:          []string{"openid", "offline_access", ScopeName, ScopeAddress, ScopeBirthdate, ScopeGender, ScopeSign},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
			"name", "address", "birthdate", "gender", "document_signature"},
		DeviceAuthorization: op.DeviceAuthorizationConfig{Lifetime: cfg.DeviceTTL, PollInterval: cfg.DeviceInterval,
			UserFormPath: pr.base + "/device", UserCode: op.UserCodeBase20},
	}, &opStorage{pr}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	pr.routes()
	return pr, nil
}

// Handler serves the provider; mount it at the issuer's path (e.g. mux.Handle("/oidc/", h)).
func (pr *Provider) Handler() http.Handler { return pr.mux }

// Issuer returns the issuer URL.
func (pr *Provider) Issuer() string { return pr.cfg.Issuer }

func (pr *Provider) routes() {
	m := http.NewServeMux()
	b := pr.base
	page := func(f http.HandlerFunc) http.Handler { return pr.ui.Protect(f) }
	m.Handle("GET "+b+"/login", page(pr.loginPage))
	m.Handle("GET "+b+"/login/qr.png", page(pr.loginQR))
	m.Handle("GET "+b+"/login/events", page(pr.loginEvents))
	m.Handle("GET "+b+"/login/status", page(pr.loginStatus))
	m.Handle("POST "+b+"/login/consent", page(pr.consent))
	m.Handle("GET "+b+"/device", page(pr.devicePage))
	m.Handle("GET "+b+"/logged-out", page(pr.loggedOut))
	m.Handle("GET "+b+"/ui/static/", pr.ui.Assets())
	m.HandleFunc("POST "+b+"/device_authorization", pr.deviceAuthorization)
	m.HandleFunc(b+"/authorize", pr.authorize) // request objects (sign.go), then the library's
	// Everything else is the protocol, served by the library under the issuer's path.
	m.Handle(b+"/", http.StripPrefix(b, pr.op))
	pr.mux = m
}

// hashHex is the stored form of a code, device code, refresh token or client secret.
func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// randomToken returns n random bytes, hex-encoded.
func (pr *Provider) randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(pr.rand, b); err != nil {
		return "", fmt.Errorf("oidc: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tenantOf returns the tenant of a client.
func (pr *Provider) tenantOf(ctx context.Context, c *Client) (*platform.Tenant, error) {
	return pr.p.Tenant(ctx, c.TenantID)
}

// checkScopes refuses any scope the provider does not offer or the tenant may not receive, and
// says which certificate the request needs. sign is offered only with a document to sign
// (signing: a request object carried its hash) and needs the signing certificate.
func checkScopes(t *platform.Tenant, scopes []string, signing bool) (identity bool, err error) {
	if !slices.Contains(scopes, "openid") {
		return false, errors.New("the openid scope is required")
	}
	if signing && !slices.Contains(scopes, ScopeSign) {
		return false, errors.New("a document to sign was given without the sign scope")
	}
	for _, s := range scopes {
		switch s {
		case "openid", "offline_access":
			continue
		case ScopeSign:
			if !signing {
				return false, errors.New("the sign scope needs the document's SHA-256 in a request object signed by the client (request=, RFC 9101)")
			}
			identity = true
			continue
		}
		f, ok := claimScopes[s]
		if !ok {
			return false, fmt.Errorf("scope %q is not offered", s)
		}
		if !slices.Contains(t.Facts, f) {
			return false, fmt.Errorf("scope %q is beyond what this service may receive", s)
		}
		identity = true
	}
	return identity, nil
}

// claims returns the claims a login releases for the given scopes: only facts the tenant may
// receive, read from the verification (never stored by the provider).
func (pr *Provider) claims(ctx context.Context, tenantID, verificationID string, scopes []string) (map[string]any, error) {
	out := map[string]any{}
	var want []string
	for _, s := range scopes {
		if _, ok := claimScopes[s]; ok {
			want = append(want, s)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	t, err := pr.p.Tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	v, err := pr.p.Verification(ctx, t, verificationID)
	if err != nil {
		return nil, err
	}
	facts := v.Facts // opened from the verification's sealed evidence entry, within the allowance
	if facts == nil {
		facts = platform.Facts(t, v.Basic4)
	}
	for _, s := range want {
		val, ok := facts[claimScopes[s]]
		if !ok {
			continue // the allowance shrank since the login: release nothing more
		}
		switch s {
		case ScopeAddress:
			out["address"] = map[string]string{"formatted": val}
		default:
			out[s] = val
		}
	}
	return out, nil
}

func logErr(ctx context.Context, msg string, err error) {
	slog.ErrorContext(ctx, "oidc: "+msg, "err", err)
}

func hashBytes(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
