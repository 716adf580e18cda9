package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mynagate/mynagate/platform"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opStorage is op.Storage over the provider: the library calls it, it keeps the rules.
type opStorage struct{ pr *Provider }

var (
	_ op.Storage                        = (*opStorage)(nil)
	_ op.DeviceAuthorizationStorage     = (*opStorage)(nil)
	_ op.CanTerminateSessionFromRequest = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*opStorage)(nil)
)

// opClient is a registered client as the library sees it.
type opClient struct {
	c   *Client
	cfg *Config
}

func (c opClient) GetID() string                    { return c.c.ID }
func (c opClient) RedirectURIs() []string           { return c.c.Redirects }
func (c opClient) PostLogoutRedirectURIs() []string { return c.c.Logouts }

// ApplicationType: a public client is a user agent, never native, because the library matches
// a native client's loopback redirect URIs without their port, and ours match exactly.
func (c opClient) ApplicationType() op.ApplicationType {
	if c.c.Public() {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}

func (c opClient) AuthMethod() oidc.AuthMethod {
	if c.c.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c opClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode}
}
func (c opClient) LoginURL(id string) string            { return c.cfg.Issuer + "/login?id=" + id }
func (c opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c opClient) IDTokenLifetime() time.Duration       { return c.cfg.IDTokenTTL }
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c opClient) ClockSkew() time.Duration             { return 0 }
func (c opClient) IsScopeAllowed(scope string) bool {
	_, ok := claimScopes[scope]
	return ok || scope == ScopeSign
}
func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// RestrictAdditionalIdTokenScopes keeps personal facts out of ID tokens: they are released at
// the userinfo endpoint only, to the holder of the access token.
func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string {
		return slices.DeleteFunc(slices.Clone(s), func(x string) bool { _, ok := claimScopes[x]; return ok })
	}
}

// DevMode lets a registered http redirect URI be used by a public client. Registration admits
// http only on loopback (clients.go), and redirect URIs are matched exactly, so this opens
// nothing beyond what was registered.
func (c opClient) DevMode() bool { return true }

// authReq is an authorization request as the library sees it.
type authReq struct{ r *Request }

func (a authReq) GetID() string { return a.r.ID }
func (a authReq) GetACR() string {
	if a.r.Login == nil {
		return ""
	}
	return a.r.Login.ACR
}
func (a authReq) GetAMR() []string {
	if a.r.Login == nil {
		return nil
	}
	return a.r.Login.AMR
}
func (a authReq) GetAudience() []string { return []string{a.r.ClientID} }
func (a authReq) GetAuthTime() time.Time {
	if a.r.Login == nil {
		return time.Time{}
	}
	return a.r.Login.AuthTime
}
func (a authReq) GetClientID() string { return a.r.ClientID }
func (a authReq) GetCodeChallenge() *oidc.CodeChallenge {
	if a.r.Params.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.r.Params.CodeChallenge, Method: oidc.CodeChallengeMethod(a.r.Params.CodeMethod)}
}
func (a authReq) GetNonce() string       { return a.r.Params.Nonce }
func (a authReq) GetRedirectURI() string { return a.r.Params.RedirectURI }
func (a authReq) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.r.Params.ResponseType)
}
func (a authReq) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.r.Params.ResponseMode)
}
func (a authReq) GetScopes() []string { return a.r.Params.Scopes }
func (a authReq) GetState() string    { return a.r.Params.State }
func (a authReq) GetSubject() string {
	if a.r.Login == nil {
		return ""
	}
	return a.r.Login.Subject
}
func (a authReq) Done() bool { return a.r.Login != nil }

// refreshReq is a refresh token being exchanged. It is also an op.AuthRequest so that the
// library puts its acr into the refreshed ID token; its id is never a request's, so the
// library's DeleteAuthRequest after the exchange does nothing.
type refreshReq struct {
	t      *Token
	scopes []string
}

func (r *refreshReq) GetID() string                         { return "refresh:" + r.t.ID }
func (r *refreshReq) GetACR() string                        { return r.t.ACR }
func (r *refreshReq) GetAMR() []string                      { return r.t.AMR }
func (r *refreshReq) GetAudience() []string                 { return []string{r.t.ClientID} }
func (r *refreshReq) GetAuthTime() time.Time                { return r.t.AuthTime }
func (r *refreshReq) GetClientID() string                   { return r.t.ClientID }
func (r *refreshReq) GetScopes() []string                   { return r.scopes }
func (r *refreshReq) GetSubject() string                    { return r.t.Subject }
func (r *refreshReq) SetCurrentScopes(s []string)           { r.scopes = s }
func (r *refreshReq) GetCodeChallenge() *oidc.CodeChallenge { return nil }
func (r *refreshReq) GetNonce() string                      { return "" }
func (r *refreshReq) GetRedirectURI() string                { return "" }
func (r *refreshReq) GetResponseType() oidc.ResponseType    { return oidc.ResponseTypeCode }
func (r *refreshReq) GetResponseMode() oidc.ResponseMode    { return "" }
func (r *refreshReq) GetState() string                      { return "" }
func (r *refreshReq) Done() bool                            { return true }

// scratch carries, within one HTTP request, which device request a device-code poll found,
// from GetDeviceAuthorizatonState to the token creation the library calls next with only an
// op.DeviceAuthorizationState.
type scratch struct{ deviceRequest *Request }

type scratchKey struct{}

func scratchOf(ctx context.Context) *scratch {
	s, _ := ctx.Value(scratchKey{}).(*scratch)
	return s
}

func (s *opStorage) client(ctx context.Context, id string) (*Client, error) {
	if id == "" {
		return nil, errors.New("oidc: no client id")
	}
	c, err := s.pr.st.OIDCClient(ctx, id)
	// An unknown or deleted client is the caller's error (invalid_client), not the server's.
	if errors.Is(err, platform.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("client %s is not registered", id)
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if c.DeletedAt != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("client %s is deleted", id)
	}
	return c, nil
}

// GetClientByClientID implements op.OPStorage.
func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return opClient{c: c, cfg: &s.pr.cfg}, nil
}

// AuthorizeClientIDSecret implements op.OPStorage.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.client(ctx, id)
	if err != nil {
		return err
	}
	if c.Public() {
		return fmt.Errorf("oidc: client %s is public and has no secret", id)
	}
	h := hashBytes(secret)
	if subtle.ConstantTimeCompare(h, c.SecretHash) != 1 {
		return fmt.Errorf("oidc: wrong secret for client %s", id)
	}
	return nil
}

// CreateAuthRequest implements op.AuthStorage. The library has checked the client, the exact
// redirect URI and the response type; the provider's own rules come here, before anything is
// stored: state and nonce are required, PKCE with S256 for a public client and never plain,
// no prompt=none (there is no session to reuse), and no scope beyond the tenant's allowance.
func (s *opStorage) CreateAuthRequest(ctx context.Context, ar *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, err := s.client(ctx, ar.ClientID)
	if err != nil {
		return nil, err
	}
	t, err := s.pr.tenantOf(ctx, c)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	switch {
	case ar.State == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("state is required")
	case ar.Nonce == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("nonce is required")
	case ar.CodeChallenge == "" && c.Public():
		return nil, oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE (code_challenge with S256)")
	case ar.CodeChallenge != "" && ar.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256; plain is refused")
	case slices.Contains(ar.Prompt, oidc.PromptNone):
		return nil, oidc.ErrLoginRequired().WithDescription("every login is a card verification; prompt=none cannot be met")
	}
	doc := signDocOf(ctx)
	switch {
	case doc != nil && doc.clientID != c.ID:
		return nil, oidc.ErrInvalidRequest().WithDescription("the request object is not this client's")
	case doc == nil && slices.Contains(ar.Scopes, ScopeSign):
		return nil, oidc.ErrInvalidRequest().WithDescription("the sign scope needs the document's SHA-256 in a request object signed by the client (request=, RFC 9101)")
	}
	if _, err := checkScopes(t, ar.Scopes, doc != nil); err != nil {
		return nil, oidc.ErrInvalidScope().WithDescription("%s", err.Error())
	}
	id, err := s.pr.randomToken(16)
	if err != nil {
		return nil, err
	}
	now := s.pr.clk.Now().UTC()
	var locales []string
	for _, l := range ar.UILocales {
		locales = append(locales, l.String())
	}
	r := Request{ID: "ar_" + id, Kind: "code", ClientID: c.ID, TenantID: c.TenantID, CreatedAt: now, ExpiresAt: now.Add(s.pr.cfg.RequestTTL),
		Params: Params{RedirectURI: ar.RedirectURI, Scopes: ar.Scopes, State: ar.State, Nonce: ar.Nonce, ResponseType: string(ar.ResponseType),
			ResponseMode: string(ar.ResponseMode), CodeChallenge: ar.CodeChallenge, CodeMethod: string(ar.CodeChallengeMethod),
			MaxAge: ar.MaxAge, Prompt: ar.Prompt, UILocales: locales}}
	if doc != nil {
		r.Params.DocumentSHA256 = doc.sha256
	}
	if err := s.pr.st.CreateOIDCRequest(ctx, r, ""); err != nil {
		return nil, err
	}
	return authReq{&r}, nil
}

// AuthRequestByID implements op.AuthStorage.
func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.pr.st.OIDCRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != "code" {
		return nil, errors.New("oidc: not an authorization request")
	}
	if r.DeniedAt != nil {
		return nil, oidc.ErrAccessDenied().WithDescription("the holder declined")
	}
	return authReq{r}, nil
}

// AuthRequestByCode implements op.AuthStorage: it spends the code. A code presented again
// revokes every token issued from it (RFC 6749 §4.1.2).
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.pr.clk.Now().UTC()
	r, err := s.pr.st.ConsumeOIDCCode(ctx, hashHex(code), now)
	if errors.Is(err, ErrCodeUsed) {
		n, rerr := s.pr.st.RevokeOIDCTokens(ctx, RevokeBy{RequestID: r.ID}, now)
		if rerr != nil {
			logErr(ctx, "revoke the tokens of a reused code", rerr)
		}
		return nil, fmt.Errorf("oidc: code reused; %d tokens issued from it revoked", n)
	}
	if err != nil {
		return nil, err
	}
	if r.CodeExpiresAt == nil || !now.Before(*r.CodeExpiresAt) {
		return nil, errors.New("oidc: code expired")
	}
	return authReq{r}, nil
}

// SaveAuthCode implements op.AuthStorage.
func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.pr.st.SaveOIDCCode(ctx, id, hashHex(code), s.pr.clk.Now().UTC().Add(s.pr.cfg.CodeTTL))
}

// DeleteAuthRequest implements op.AuthStorage. The request is kept, its code spent, so that a
// second use of the code is recognised (and revokes what the first issued); it expires.
func (s *opStorage) DeleteAuthRequest(context.Context, string) error { return nil }

// newTokens builds the access token, and a refresh token when asked, of a login.
func (s *opStorage) newTokens(ctx context.Context, req op.TokenRequest, withRefresh bool) (Token, *Token, string, error) {
	now := s.pr.clk.Now().UTC()
	id, err := s.pr.randomToken(16)
	if err != nil {
		return Token{}, nil, "", err
	}
	at := Token{ID: "at_" + id, Family: "at_" + id, CreatedAt: now, ExpiresAt: now.Add(s.pr.cfg.AccessTTL), Scopes: req.GetScopes()}
	switch r := req.(type) {
	case authReq:
		if r.r.Login == nil {
			return Token{}, nil, "", errors.New("oidc: authorization request without a login")
		}
		at.ClientID, at.TenantID, at.RequestID = r.r.ClientID, r.r.TenantID, r.r.ID
		at.Subject, at.VerificationID, at.ACR, at.AMR, at.AuthTime = r.r.Login.Subject, r.r.Login.VerificationID, r.r.Login.ACR, r.r.Login.AMR, r.r.Login.AuthTime
	case *refreshReq:
		at.Family, at.ClientID, at.TenantID, at.RequestID = r.t.Family, r.t.ClientID, r.t.TenantID, r.t.RequestID
		at.Subject, at.VerificationID, at.ACR, at.AMR, at.AuthTime = r.t.Subject, r.t.VerificationID, r.t.ACR, r.t.AMR, r.t.AuthTime
	case *op.DeviceAuthorizationState:
		sc := scratchOf(ctx)
		if sc == nil || sc.deviceRequest == nil || sc.deviceRequest.Login == nil || sc.deviceRequest.ClientID != r.ClientID {
			return Token{}, nil, "", errors.New("oidc: device token without its device request")
		}
		d := sc.deviceRequest
		at.ClientID, at.TenantID, at.RequestID = d.ClientID, d.TenantID, d.ID
		at.Subject, at.VerificationID, at.ACR, at.AMR, at.AuthTime = d.Login.Subject, d.Login.VerificationID, d.Login.ACR, d.Login.AMR, d.Login.AuthTime
	default:
		return Token{}, nil, "", fmt.Errorf("oidc: token request %T not supported", req)
	}
	if !withRefresh {
		return at, nil, "", nil
	}
	rid, err := s.pr.randomToken(16)
	if err != nil {
		return Token{}, nil, "", err
	}
	value, err := s.pr.randomToken(32)
	if err != nil {
		return Token{}, nil, "", err
	}
	value = "mgr_" + value
	rt := at
	rt.ID, rt.RefreshHash, rt.ExpiresAt = "rt_"+rid, hashHex(value), now.Add(s.pr.cfg.RefreshTTL)
	if _, ok := req.(*refreshReq); !ok {
		at.Family, rt.Family = rt.ID, rt.ID
	}
	return at, &rt, value, nil
}

// CreateAccessToken implements op.AuthStorage.
func (s *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	at, _, _, err := s.newTokens(ctx, req, false)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.pr.st.CreateOIDCTokens(ctx, at, nil, "", at.CreatedAt); err != nil {
		return "", time.Time{}, err
	}
	return at.ID, at.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens implements op.AuthStorage: a new family for a login, or a
// rotation. A rotation of a token already rotated revokes its family (reuse detection).
func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	at, rt, value, err := s.newTokens(ctx, req, true)
	if err != nil {
		return "", "", time.Time{}, err
	}
	rotated := ""
	if _, ok := req.(*refreshReq); ok {
		rotated = hashHex(current)
	}
	err = s.pr.st.CreateOIDCTokens(ctx, at, rt, rotated, at.CreatedAt)
	if errors.Is(err, ErrRefreshUsed) {
		if _, rerr := s.pr.st.RevokeOIDCTokens(ctx, RevokeBy{Family: rt.Family}, at.CreatedAt); rerr != nil {
			logErr(ctx, "revoke a reused refresh token's family", rerr)
		}
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token already used; its family is revoked")
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	return at.ID, value, at.ExpiresAt, nil
}

// TokenRequestByRefreshToken implements op.AuthStorage. A rotated token presented again is
// reuse: its whole family is revoked.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, value string) (op.RefreshTokenRequest, error) {
	now := s.pr.clk.Now().UTC()
	t, err := s.pr.st.OIDCRefreshToken(ctx, hashHex(value))
	if err != nil {
		return nil, errors.New("oidc: unknown refresh token")
	}
	switch {
	case t.RevokedAt != nil:
		return nil, errors.New("oidc: refresh token revoked")
	case t.UsedAt != nil:
		if _, err := s.pr.st.RevokeOIDCTokens(ctx, RevokeBy{Family: t.Family}, now); err != nil {
			logErr(ctx, "revoke a reused refresh token's family", err)
		}
		return nil, errors.New("oidc: refresh token reused after rotation; its family is revoked")
	case !now.Before(t.ExpiresAt):
		return nil, errors.New("oidc: refresh token expired")
	}
	return &refreshReq{t: t, scopes: t.Scopes}, nil
}

// TerminateSession implements op.AuthStorage: the client's tokens for the subject are revoked.
func (s *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	if userID == "" || clientID == "" {
		return nil
	}
	_, err := s.pr.st.RevokeOIDCTokens(ctx, RevokeBy{ClientID: clientID, Subject: userID}, s.pr.clk.Now().UTC())
	return err
}

// TerminateSessionFromRequest implements op.CanTerminateSessionFromRequest (RP-initiated
// logout): with an id_token_hint, every token of that client for that subject is revoked.
func (s *opStorage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	if err := s.TerminateSession(ctx, r.UserID, r.ClientID); err != nil {
		return "", err
	}
	return r.RedirectURI, nil
}

// RevokeToken implements op.AuthStorage (RFC 7009): only the client a token was issued to may
// revoke it; a refresh token takes its family with it.
func (s *opStorage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	now := s.pr.clk.Now().UTC()
	var t *Token
	var err error
	if userID != "" {
		t, err = s.pr.st.OIDCToken(ctx, tokenOrID)
	} else {
		t, err = s.pr.st.OIDCRefreshToken(ctx, hashHex(tokenOrID))
	}
	if errors.Is(err, platform.ErrNotFound) {
		return nil // RFC 7009 §2.2: an invalid token is not an error
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if t.ClientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
	}
	by := RevokeBy{TokenID: t.ID}
	if t.RefreshHash != "" {
		by = RevokeBy{Family: t.Family}
	}
	if _, err := s.pr.st.RevokeOIDCTokens(ctx, by, now); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// GetRefreshTokenInfo implements op.AuthStorage.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, value string) (string, string, error) {
	t, err := s.pr.st.OIDCRefreshToken(ctx, hashHex(value))
	if err != nil || t.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.Subject, t.ID, nil
}

// SigningKey implements op.AuthStorage.
func (s *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.pr.keys.signing(ctx)
}

// SignatureAlgorithms implements op.AuthStorage.
func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{keyAlg}, nil
}

// KeySet implements op.AuthStorage.
func (s *opStorage) KeySet(ctx context.Context) ([]op.Key, error) { return s.pr.keys.keySet(ctx) }

// SetUserinfoFromScopes implements op.OPStorage (deprecated by the library; unused).
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: ID tokens carry no personal
// facts, only the subject; a device grant's ID token gets its acr here (the library sets acr only for
// authorization requests).
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	ui.Subject = req.GetSubject() // the library copies the userinfo over the ID token's claims, sub included
	if _, ok := req.(*op.DeviceAuthorizationState); ok {
		if sc := scratchOf(ctx); sc != nil && sc.deviceRequest != nil && sc.deviceRequest.Login != nil {
			ui.AppendClaims("acr", sc.deviceRequest.Login.ACR)
		}
	}
	return nil
}

// activeToken returns a live access token.
func (s *opStorage) activeToken(ctx context.Context, id, subject string) (*Token, error) {
	t, err := s.pr.st.OIDCToken(ctx, id)
	if err != nil {
		return nil, errors.New("oidc: unknown token")
	}
	switch {
	case t.RefreshHash != "":
		return nil, errors.New("oidc: a refresh token is not an access token")
	case t.RevokedAt != nil:
		return nil, errors.New("oidc: token revoked")
	case !s.pr.clk.Now().Before(t.ExpiresAt):
		return nil, errors.New("oidc: token expired")
	case subject != "" && t.Subject != subject:
		return nil, errors.New("oidc: token subject mismatch")
	}
	return t, nil
}

// SetUserinfoFromToken implements op.OPStorage: the facts the token's scopes name, within the
// tenant's allowance as it is now, read from the login's verification.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.activeToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	ui.Subject = t.Subject
	if slices.Contains(t.Scopes, ScopeSign) {
		sig, err := s.pr.documentSignature(ctx, t)
		if err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		ui.AppendClaims("document_signature", sig)
	}
	claims, err := s.pr.claims(ctx, t.TenantID, t.VerificationID, t.Scopes)
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	for k, v := range claims {
		switch k {
		case "name":
			ui.Name = v.(string)
		case "birthdate":
			ui.Birthdate = v.(string)
		case "gender":
			ui.Gender = oidc.Gender(v.(string))
		case "address":
			ui.Address = &oidc.UserInfoAddress{Formatted: v.(map[string]string)["formatted"]}
		}
	}
	return nil
}

// SetIntrospectionFromToken implements op.OPStorage: a token is active only to the client it
// was issued to.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := s.activeToken(ctx, tokenID, subject)
	if err != nil || t.ClientID != clientID {
		return errors.New("oidc: token not active")
	}
	resp.Active, resp.Subject, resp.ClientID, resp.Scope = true, t.Subject, t.ClientID, t.Scopes
	resp.Expiration, resp.IssuedAt, resp.AuthTime = oidc.FromTime(t.ExpiresAt), oidc.FromTime(t.CreatedAt), oidc.FromTime(t.AuthTime)
	resp.Audience = []string{t.ClientID}
	resp.AuthenticationMethodsReferences = t.AMR
	return nil
}

// GetPrivateClaimsFromScopes implements op.OPStorage (no private claims).
func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.OPStorage; JWT client authentication is not offered.
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("oidc: JWT client authentication is not offered")
}

// ValidateJWTProfileScopes implements op.OPStorage; the JWT profile grant is not offered.
func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("oidc: the JWT profile grant is not offered")
}

// Health implements op.Storage.
func (s *opStorage) Health(context.Context) error { return nil }

// StoreDeviceAuthorization implements op.DeviceAuthorizationStorage. The scopes were checked
// against the tenant's allowance before (device.go); this checks again, as the last word.
func (s *opStorage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, _ time.Time, scopes []string) error {
	c, err := s.client(ctx, clientID)
	if err != nil {
		return err
	}
	t, err := s.pr.tenantOf(ctx, c)
	if err != nil {
		return err
	}
	if _, err := checkScopes(t, scopes, false); err != nil {
		return oidc.ErrInvalidScope().WithDescription("%s", err.Error())
	}
	id, err := s.pr.randomToken(16)
	if err != nil {
		return err
	}
	now := s.pr.clk.Now().UTC()
	r := Request{ID: "dr_" + id, Kind: "device", ClientID: c.ID, TenantID: c.TenantID, CreatedAt: now, ExpiresAt: now.Add(s.pr.cfg.DeviceTTL),
		Params: Params{Scopes: scopes}, UserCode: userCode}
	err = s.pr.st.CreateOIDCRequest(ctx, r, hashHex(deviceCode))
	if errors.Is(err, platform.ErrConflict) {
		return op.ErrDuplicateUserCode
	}
	return err
}

// GetDeviceAuthorizatonState implements op.DeviceAuthorizationStorage. A poll sooner than the
// interval after the previous one answers slow_down: the library maps a deadline error to it.
func (s *opStorage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	now := s.pr.clk.Now().UTC()
	r, tooSoon, err := s.pr.st.PollOIDCDevice(ctx, clientID, hashHex(deviceCode), now, s.pr.cfg.DeviceInterval)
	if err != nil {
		return nil, errors.New("oidc: unknown device code")
	}
	st := &op.DeviceAuthorizationState{ClientID: r.ClientID, Scopes: r.Params.Scopes, Expires: time.Now().Add(r.ExpiresAt.Sub(now))}
	switch {
	case tooSoon:
		return nil, fmt.Errorf("oidc: device code polled sooner than %s after the last poll: %w", s.pr.cfg.DeviceInterval, context.DeadlineExceeded)
	case r.DeniedAt != nil:
		st.Denied = true
		return st, nil
	case r.Login != nil:
		if err := s.pr.st.ConsumeOIDCDevice(ctx, r.ID, now); err != nil {
			return nil, errors.New("oidc: device code already exchanged")
		}
		st.Done, st.Subject, st.AMR, st.AuthTime = true, r.Login.Subject, r.Login.AMR, r.Login.AuthTime
		if sc := scratchOf(ctx); sc != nil {
			sc.deviceRequest = r
		}
		return st, nil
	case !now.Before(r.ExpiresAt):
		st.Expires = time.Time{} // the library compares with its own clock; ours says expired
	}
	return st, nil
}
