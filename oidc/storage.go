package oidc

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the storage contract (besides platform.ErrNotFound and
// platform.ErrConflict, which keep their meaning: unknown row, uniqueness or state guard).
var (
	// ErrCodeUsed: ConsumeCode found the code spent already. The provider revokes what the
	// first exchange issued and answers invalid_grant.
	ErrCodeUsed = errors.New("oidc: authorization code already used")
	// ErrRefreshUsed: RotateRefresh found the refresh token rotated already. The provider
	// revokes the token's family and answers invalid_grant.
	ErrRefreshUsed = errors.New("oidc: refresh token already used")
)

// Client is a relying party's registration with the provider, owned by one tenant.
type Client struct {
	ID         string   // "c_" + 16 hex digits
	TenantID   string   // the tenant whose pairwise ids and fact allowance apply
	Name       string   // shown on the login and consent pages
	SecretHash []byte   // SHA-256 of the secret; nil for a public client (PKCE S256 required)
	Redirects  []string // redirect URIs, matched exactly
	Logouts    []string // post-logout redirect URIs, matched exactly
	CreatedAt  time.Time
	DeletedAt  *time.Time
}

// Public reports whether the client has no secret.
func (c *Client) Public() bool { return len(c.SecretHash) == 0 }

// Login is the outcome of a login step: a verification accepted by the platform.
type Login struct {
	SessionID      string
	Subject        string // the tenant's pairwise id of the person
	VerificationID string
	ACR            string
	AMR            []string
	AuthTime       time.Time
}

// Request is one login in progress: an authorization request (Kind "code") or a device
// authorization (Kind "device").
type Request struct {
	ID        string
	Kind      string
	ClientID  string
	TenantID  string
	Params    Params
	CreatedAt time.Time
	ExpiresAt time.Time
	SessionID string     // the platform session of the login step, once started
	Login     *Login     // set once the holder has verified and consented
	DeniedAt  *time.Time // the holder declined

	CodeExpiresAt *time.Time // code flow: the code's end (set with the code)
	CodeUsedAt    *time.Time
	UserCode      string // device flow
	LastPollAt    *time.Time
}

// Params are the parameters of an authorization request the provider keeps.
type Params struct {
	RedirectURI   string   `json:"redirect_uri,omitempty"`
	Scopes        []string `json:"scopes"`
	State         string   `json:"state,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	ResponseType  string   `json:"response_type,omitempty"`
	ResponseMode  string   `json:"response_mode,omitempty"`
	CodeChallenge string   `json:"code_challenge,omitempty"`
	CodeMethod    string   `json:"code_challenge_method,omitempty"`
	MaxAge        *uint    `json:"max_age,omitempty"`
	Prompt        []string `json:"prompt,omitempty"`
	UILocales     []string `json:"ui_locales,omitempty"`
	// DocumentSHA256 is the hex SHA-256 of the document the sign scope asks the holder to sign,
	// from the client's request object (sign.go).
	DocumentSHA256 string `json:"document_sha256,omitempty"`
}

// Token is an access token, or a refresh token when RefreshHash is set.
type Token struct {
	ID             string
	RefreshHash    string // hex SHA-256 of the refresh token; empty for an access token
	Family         string // the id of the first token issued from the login
	ClientID       string
	TenantID       string
	RequestID      string
	Subject        string
	VerificationID string
	Scopes         []string
	ACR            string
	AMR            []string
	AuthTime       time.Time
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         *time.Time // refresh tokens: rotated
	RevokedAt      *time.Time
}

// SigningKey is a sealed signing key.
type SigningKey struct {
	ID           string
	Alg          string
	Sealed       []byte
	CreatedAt    time.Time
	RotateAt     time.Time // it signs until then
	PublishUntil time.Time // it is in the key set until then
}

// Storage is what the provider needs from the platform's database. Package store implements
// it on SQLite and PostgreSQL. Every method MUST be safe for concurrent use, and every state
// change MUST be guarded in SQL, never read-then-write; "not found" is platform.ErrNotFound and
// a failed guard platform.ErrConflict unless said otherwise.
type Storage interface {
	// CreateOIDCClient stores a client. ErrNotFound if the tenant is unknown.
	CreateOIDCClient(ctx context.Context, c Client) error
	// OIDCClient returns a client, deleted ones included.
	OIDCClient(ctx context.Context, id string) (*Client, error)
	// OIDCClients lists a tenant's clients that are not deleted, oldest first.
	OIDCClients(ctx context.Context, tenantID string) ([]Client, error)
	// DeleteOIDCClient marks a tenant's client deleted and revokes its tokens. ErrNotFound if
	// unknown, another tenant's, or deleted already.
	DeleteOIDCClient(ctx context.Context, tenantID, id string, at time.Time) error

	// CreateOIDCRequest stores a login request. For a device request, ErrConflict means its
	// user code is taken (the caller draws another).
	CreateOIDCRequest(ctx context.Context, r Request, deviceHash string) error
	// OIDCRequest returns a request by id.
	OIDCRequest(ctx context.Context, id string) (*Request, error)
	// OIDCRequestByUserCode returns a device request by its user code.
	OIDCRequestByUserCode(ctx context.Context, userCode string) (*Request, error)
	// SetOIDCRequestSession records the platform session of a request's login step, replacing
	// an earlier one only while the request has no login. ErrConflict once it has.
	SetOIDCRequestSession(ctx context.Context, id, sessionID string) error
	// CompleteOIDCRequest records the login of a request whose session is sessionID.
	// ErrConflict if the request has a login already, was denied, or has another session.
	CompleteOIDCRequest(ctx context.Context, id string, l Login, at time.Time) error
	// DenyOIDCRequest records that the holder declined. ErrConflict if it has a login.
	DenyOIDCRequest(ctx context.Context, id string, at time.Time) error
	// SaveOIDCCode attaches a code (its hash) to a request that has a login and no code yet.
	// ErrConflict otherwise.
	SaveOIDCCode(ctx context.Context, id, codeHash string, expires time.Time) error
	// ConsumeOIDCCode spends a code and returns its request. ErrNotFound if unknown;
	// ErrCodeUsed (with the request, so that its tokens can be revoked) if spent already.
	ConsumeOIDCCode(ctx context.Context, codeHash string, at time.Time) (*Request, error)
	// PollOIDCDevice returns the device request of a device code for its client and records the
	// poll. tooSoon is true (and the poll time is kept) when the previous poll was less than
	// interval before at. ErrNotFound if unknown or another client's.
	PollOIDCDevice(ctx context.Context, clientID, deviceHash string, at time.Time, interval time.Duration) (r *Request, tooSoon bool, err error)
	// ConsumeOIDCDevice marks a completed device request's grant as used (tokens issued);
	// ErrCodeUsed if used already.
	ConsumeOIDCDevice(ctx context.Context, id string, at time.Time) error

	// CreateOIDCTokens stores an access token and, optionally, a refresh token, in one
	// transaction. With rotated set (the hash of the refresh token being exchanged), it is
	// marked used in the same transaction, guarded: ErrRefreshUsed if it was used already, and
	// then nothing is stored.
	CreateOIDCTokens(ctx context.Context, access Token, refresh *Token, rotated string, at time.Time) error
	// OIDCToken returns a token by id.
	OIDCToken(ctx context.Context, id string) (*Token, error)
	// OIDCRefreshToken returns a refresh token by its hash.
	OIDCRefreshToken(ctx context.Context, hash string) (*Token, error)
	// RevokeOIDCTokens revokes tokens not revoked yet, selected by exactly one of: a family, a
	// request, a token id, or a client and subject (logout). It returns how many it revoked.
	RevokeOIDCTokens(ctx context.Context, by RevokeBy, at time.Time) (int, error)

	// OIDCSigningKeys returns the keys still published at the given time, newest first.
	OIDCSigningKeys(ctx context.Context, at time.Time) ([]SigningKey, error)
	// CreateOIDCSigningKey stores a new key.
	CreateOIDCSigningKey(ctx context.Context, k SigningKey) error
}

// RevokeBy selects tokens to revoke; exactly one selector is set (ClientID goes with Subject).
type RevokeBy struct {
	Family, RequestID, TokenID string
	ClientID, Subject          string
}
