package benchkit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/oidc"
	"golang.org/x/oauth2"
)

// OIDC is the OpenID provider served beside a World's API, with a confidential client and
// logins already done (one per worker: an access token and a refresh token chain each).
type OIDC struct {
	W      *World
	Prov   *oidc.Provider
	Issuer string
	cfg    oauth2.Config
	logins []*oidcLogin
}

type oidcLogin struct {
	mu              sync.Mutex // a refresh token rotates: one request at a time per login
	access, refresh string
}

// NewOIDC starts the provider over w's platform and store and logs in `logins` times through
// the whole flow (authorization request, login page, the card's answer, consent, code
// exchange with PKCE). The logins are set-up, not measured.
func NewOIDC(ctx context.Context, w *World, logins int) (*OIDC, error) {
	o := &OIDC{W: w}
	var h http.Handler
	base, stop, err := serve(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.ServeHTTP(rw, r) }))
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, stop)
	o.Issuer = base + "/oidc"
	if o.Prov, err = oidc.New(w.Plat, w.st, oidc.Config{Issuer: o.Issuer, Master: make([]byte, 32)}); err != nil {
		return nil, err
	}
	h = o.Prov.Handler()
	redirect := "http://127.0.0.1:9/callback"
	c, secret, err := o.Prov.CreateClient(ctx, w.Tenant.ID, oidc.ClientRequest{Name: "Bench", RedirectURIs: []string{redirect}})
	if err != nil {
		return nil, err
	}
	o.cfg = oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "name", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: o.Issuer + "/authorize", TokenURL: o.Issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	for i := 0; i < logins; i++ {
		l, err := o.login(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("login %d: %w", i, err)
		}
		o.logins = append(o.logins, l)
	}
	return o, nil
}

var (
	holderRE = regexp.MustCompile(`<code>([^<]+)</code>`)
	idRE     = regexp.MustCompile(`login/events\?id=([a-z0-9_]+)`)
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func (o *OIDC) login(ctx context.Context, i int) (*oidcLogin, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host == "127.0.0.1:9" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	get := func(u string) (string, string, error) {
		resp, err := hc.Get(u)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("Location"), nil
	}
	v := oauth2.GenerateVerifier()
	page, _, err := get(o.cfg.AuthCodeURL(fmt.Sprint("state", i), oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("nonce", fmt.Sprint("n", i))))
	if err != nil {
		return nil, err
	}
	m, id := holderRE.FindStringSubmatch(page), idRE.FindStringSubmatch(page)
	if m == nil || id == nil {
		return nil, errors.New("no login page")
	}
	// The holder: this identity session is answered with the card's signing key.
	hb, sid, tok, err := client.ParseHolderURL(html.UnescapeString(m[1]))
	if err != nil {
		return nil, err
	}
	holder := client.New(hb)
	ch, err := holder.FetchUncheckedChallenge(ctx, sid, tok)
	if err != nil {
		return nil, err
	}
	card := o.W.Cards[i%len(o.W.Cards)]
	k, err := x509.ParsePKCS8PrivateKey(card.Sign.Key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(ch.Challenge)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		return nil, err
	}
	if _, err := holder.Answer(ctx, sid, tok, card.Sign.Cert, sig); err != nil {
		return nil, err
	}
	page, _, err = get(o.Issuer + "/login?id=" + id[1])
	if err != nil {
		return nil, err
	}
	cs := csrfRE.FindStringSubmatch(page)
	if cs == nil {
		return nil, errors.New("no consent page")
	}
	resp, err := hc.PostForm(o.Issuer+"/login/consent", url.Values{"id": {id[1]}, "csrf": {html.UnescapeString(cs[1])}, "action": {"allow"}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || u.Query().Get("code") == "" {
		return nil, fmt.Errorf("no code after consent: %v", resp.Header.Get("Location"))
	}
	t, err := o.cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		return nil, err
	}
	return &oidcLogin{access: t.AccessToken, refresh: t.RefreshToken}, nil
}

// Refresh measures the token endpoint: n refresh-token grants, each worker rotating its own
// login's token (a lookup, a guarded rotation with the new pair in one transaction, an ES256
// ID token).
func (o *OIDC) Refresh(n int) (Result, error) {
	return o.W.runN("token (refresh grant)", n, len(o.logins), func(i int) error {
		l := o.logins[i%len(o.logins)]
		l.mu.Lock()
		defer l.mu.Unlock()
		rt := l.refresh
		req, _ := http.NewRequest("POST", o.cfg.Endpoint.TokenURL, strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(o.cfg.ClientID), url.QueryEscape(o.cfg.ClientSecret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Access  string `json:"access_token"`
			Refresh string `json:"refresh_token"`
			IDToken string `json:"id_token"`
			Error   string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		if out.Refresh == "" || out.IDToken == "" {
			return fmt.Errorf("refresh: %d %s", resp.StatusCode, out.Error)
		}
		l.refresh, l.access = out.Refresh, out.Access
		return nil
	})
}

// Userinfo measures n userinfo requests spread over the logins' access tokens.
func (o *OIDC) Userinfo(n int) (Result, error) {
	return o.W.runN("userinfo", n, len(o.logins), func(i int) error {
		req, _ := http.NewRequest("GET", o.Issuer+"/userinfo", nil)
		l := o.logins[i%len(o.logins)]
		l.mu.Lock()
		access := l.access
		l.mu.Unlock()
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Sub  string `json:"sub"`
			Name string `json:"name"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 || out.Sub == "" || out.Name == "" {
			return fmt.Errorf("userinfo: %d %+v", resp.StatusCode, out)
		}
		return nil
	})
}

// timed runs f on workers goroutines for d and counts the calls.
func timed(name string, d time.Duration, workers int, f func() error) (Result, error) {
	var total atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	start, cpu := time.Now(), processCPU()
	deadline := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(0); ; n++ {
				if !time.Now().Before(deadline) {
					total.Add(n)
					return
				}
				if err := f(); err != nil {
					once.Do(func() { first = err })
					total.Add(n)
					return
				}
			}
		}()
	}
	wg.Wait()
	return Result{Name: name, N: int(total.Load()), Elapsed: time.Since(start), Workers: workers, CPU: processCPU() - cpu}, first
}

// IDTokenSigning measures the provider's ID-token signing (its ES256 key, the library's path).
func (o *OIDC) IDTokenSigning(ctx context.Context, d time.Duration) (Result, error) {
	return timed("ID-token signing (ES256)", d, Workers(), func() error {
		_, err := o.Prov.SignIDToken(ctx, "subject-of-the-bench-000000000000000000000", o.cfg.ClientID)
		return err
	})
}

// RawES256 measures raw ECDSA P-256 signatures of a SHA-256 digest: the baseline of the
// ID-token signing rate, same key type.
func RawES256(d time.Duration) (Result, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Result{}, err
	}
	sum := sha256.Sum256([]byte("baseline"))
	return timed("raw ECDSA P-256 sign", d, Workers(), func() error {
		_, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
		return err
	})
}
