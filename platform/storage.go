package platform

import (
	"context"
	"errors"
	"time"

	"github.com/mynagate/mynagate/evidence"
)

// Sentinel errors of the storage contract. Storage implementations MUST return these (wrapped is
// fine) so that the platform can tell the cases apart with errors.Is.
var (
	// ErrNotFound: the requested row does not exist. The API answers 404.
	ErrNotFound = errors.New("platform: not found")
	// ErrConflict: a uniqueness or state guard refused the change (a duplicate id, an API key
	// already revoked). The API answers 409.
	ErrConflict = errors.New("platform: conflict")
	// ErrSessionClosed: CompleteSession found the session no longer pending — its challenge was
	// already answered. The API answers 409 challenge-reused.
	ErrSessionClosed = errors.New("platform: session already completed")
)

// Storage is what the platform needs from its database. Package store implements it on SQLite
// and PostgreSQL; every method MUST be safe for concurrent use, and state changes MUST be guarded
// in SQL (never read-then-write).
//
// It is one wide interface rather than a core with optional capabilities: store is its only
// implementation, so every feature's methods are part of it (each embedded part is declared
// beside the file that uses it), and the platform never asks the store what it can do. It is an interface rather than
// *store.Store so that platform holds no SQL and store imports platform, never the reverse
// (docs/design/architecture.md).
type Storage interface {
	TenantUpdater
	IdempotencyStorage
	ConsoleStorage
	ConsentStorage
	NotifyStorage
	SubjectStorage
	PersonCertStorage
	WebhookStorage

	// CreateTenant stores a new tenant. ErrConflict if the id exists.
	CreateTenant(ctx context.Context, t Tenant) error
	// Tenant returns a tenant. ErrNotFound if unknown.
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// Tenants lists all tenants, oldest first.
	Tenants(ctx context.Context) ([]Tenant, error)

	// CreateAPIKey stores a key. ErrNotFound if the tenant is unknown, ErrConflict if the id exists.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKey returns a key by id (revoked ones included). ErrNotFound if unknown.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys lists a tenant's keys, oldest first.
	APIKeys(ctx context.Context, tenantID string) ([]APIKey, error)
	// RevokeAPIKey marks a key revoked at the given time. ErrNotFound if unknown, ErrConflict if
	// already revoked.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error

	// CreateSession stores a new session. With a non-empty idempotencyKey, a second call with the
	// same tenant and key MUST return the session stored by the first (created = false) and store
	// nothing.
	CreateSession(ctx context.Context, s Session, idempotencyKey string) (stored *Session, created bool, err error)
	// Session returns a session. ErrNotFound if unknown.
	Session(ctx context.Context, id string) (*Session, error)

	// CompleteSession records the end of a session in ONE transaction, together with rec, the
	// verification's evidence entry (証跡; evidence.Log.Prepare made it), so that no verification
	// result exists without its evidence record: the verification is stored (ErrSessionClosed if
	// the session has one already, and then nothing is written); for an accepted verification
	// with certs the person is created if new and each certificate in certs is linked to it
	// (existing links are kept) — without certs the person MUST exist already (a person comes
	// into being with its first link); the usage counter of (tenant, month, purpose, method) is
	// incremented; events, at most the verification's one event, is written to the outbox, to be
	// dispatched to the tenant's webhook endpoints (a store MAY leave it out when no endpoint of
	// the tenant can want it, since the dispatcher would send it nowhere); consents, the holder's
	// consents given with an accepted identity verification (each naming v), are stored, so that
	// a consent exists exactly when its verification does. The verification may come without
	// its certificate and OCSP response: rec holds them, sealed.
	CompleteSession(ctx context.Context, v Verification, certs []PersonCert, events []Event, consents []Consent, rec *evidence.Record) error
	// Verification returns a verification of a tenant. ErrNotFound if unknown or another
	// tenant's.
	Verification(ctx context.Context, tenantID, id string) (*Verification, error)

	// PersonByCert returns the person a certificate (CA key id hex, serial hex) is linked to.
	// ErrNotFound if the certificate is not linked.
	PersonByCert(ctx context.Context, ca, serial string) (string, error)

	// Usage returns the counters of a tenant for months from..to (YYYY-MM, inclusive), ordered
	// by month, purpose, method.
	Usage(ctx context.Context, tenantID, from, to string) ([]Usage, error)
}

// PersonCert links a certificate to a person.
type PersonCert struct {
	PersonID string
	CA       string // hex subject key identifier of the issuing CA
	Serial   string // hex serial number, upper case, no leading zeros
	Kind     string // "sign" or "auth"
	LinkedAt time.Time
}
