package platform

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mynagate/mynagate/internal/kdf"
	"golang.org/x/crypto/argon2"
)

// This file is what the web pages need beyond the API: console users (a tenant's staff and the
// platform's operators, who sign in with an email and a password), a tenant's latest
// verifications, a holder's history per company, and the operator's view of the webhook backlog.

// Console roles.
const (
	RoleStaff    = "staff"    // a tenant's staff: that tenant's console only
	RoleOperator = "operator" // the platform's operator: tenants and health
)

// ConsoleUser is someone who signs in to the web console.
type ConsoleUser struct {
	ID           string // "u_" + 16 hex digits
	TenantID     string // the tenant of a staff user; "" for an operator
	Email        string // lower case
	PasswordHash string // PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash
	Role         string // staff or operator
	CreatedAt    time.Time
	// CardSub is the pairwise subject of the user's own My Number Card at the platform's
	// OpenID provider (the portal tenant's), "" until the user links a card.
	CardSub string
}

// ConsoleStorage is the part of Storage behind the web console.
type ConsoleStorage interface {
	// CreateConsoleUser stores a user. ErrConflict if the email (or id) exists, ErrNotFound if
	// the tenant is unknown.
	CreateConsoleUser(ctx context.Context, u ConsoleUser) error
	// ConsoleUserByEmail returns a user by lower-case email. ErrNotFound if unknown.
	ConsoleUserByEmail(ctx context.Context, email string) (*ConsoleUser, error)
	// ConsoleUser returns a user by id. ErrNotFound if unknown.
	ConsoleUser(ctx context.Context, id string) (*ConsoleUser, error)
	// ConsoleUserByCard returns the user a card's subject is linked to. ErrNotFound if none.
	ConsoleUserByCard(ctx context.Context, sub string) (*ConsoleUser, error)
	// LinkConsoleCard links a user to a card's subject. ErrNotFound if the user is unknown,
	// ErrConflict if the subject is linked to another user.
	LinkConsoleCard(ctx context.Context, userID, sub string) error
	// RecentVerifications returns a tenant's latest verifications, newest first, at most limit,
	// without certificates, facts or person.
	RecentVerifications(ctx context.Context, tenantID string, limit int) ([]Verification, error)
	// PersonVerifications returns the accepted verifications of a person, oldest first, without
	// certificates or facts.
	PersonVerifications(ctx context.Context, personID string) ([]Verification, error)
	// PendingDeliveries counts the webhook deliveries not yet delivered nor dead, and returns
	// the due time of the oldest (zero if none).
	PendingDeliveries(ctx context.Context) (int, time.Time, error)
}

// Password rules: long enough to resist guessing, short enough to bound the hashing work.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// argon2id parameters: OWASP's second recommended set (19 MiB, 2 passes, 1 lane), which keeps a
// sign-in cheap on a 2-core node.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns the PHC string of an argon2id hash of password with a random salt.
func (p *Platform) HashPassword(password string) (string, error) {
	salt, err := p.randomBytes(16)
	if err != nil {
		return "", err
	}
	return phc(password, salt, argonTime, argonMemory, argonThreads), nil
}

func phc(password string, salt []byte, t, m uint32, th uint8) string {
	key := argon2.IDKey([]byte(password), salt, t, m, th, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, th,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// checkPassword reports whether password matches a PHC string made by HashPassword.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var th uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 10 || th == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) != argonKeyLen {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, th, argonKeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NormalizeEmail checks an email address and returns it in lower case.
func NormalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 || !strings.Contains(email[strings.LastIndex(email, "@"):], ".") {
		return "", newError(KindInvalid, "invalid-email", "%q is not an email address like name@example.com", email)
	}
	return strings.ToLower(email), nil
}

// CheckPasswordRules says what is wrong with a new password, if anything.
func CheckPasswordRules(password string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen || n > MaxPasswordLen || !utf8.ValidString(password) {
		return newError(KindInvalid, "invalid-password", "a password is %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// CreateConsoleUser creates a console user: staff of tenantID, or an operator when tenantID is
// empty and operator is set.
func (p *Platform) CreateConsoleUser(ctx context.Context, tenantID, email, password string, operator bool) (*ConsoleUser, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := CheckPasswordRules(password); err != nil {
		return nil, err
	}
	role := RoleStaff
	switch {
	case operator && tenantID != "":
		return nil, newError(KindInvalid, "invalid-request", "an operator belongs to no tenant")
	case operator:
		role = RoleOperator
	case tenantID == "":
		return nil, newError(KindInvalid, "invalid-request", "a staff user needs a tenant")
	default:
		if _, err := p.Tenant(ctx, tenantID); err != nil {
			return nil, err
		}
	}
	id, err := p.newID("u_")
	if err != nil {
		return nil, err
	}
	hash, err := p.HashPassword(password)
	if err != nil {
		return nil, err
	}
	u := ConsoleUser{ID: id, TenantID: tenantID, Email: email, PasswordHash: hash, Role: role, CreatedAt: p.clk.Now().UTC()}
	if err := p.store.CreateConsoleUser(ctx, u); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, newError(KindConflict, "email-taken", "a console user with email %s exists", email)
		}
		return nil, internal(err)
	}
	return &u, nil
}

// dummyHash is checked against when the email is unknown, so that a sign-in takes as long
// whether or not the account exists.
var dummyHash = phc("not a password", make([]byte, 16), argonTime, argonMemory, argonThreads)

// ConsoleLogin returns the user an email and password sign in. Any failure is the same
// KindUnauthorized error.
func (p *Platform) ConsoleLogin(ctx context.Context, email, password string) (*ConsoleUser, error) {
	deny := newError(KindUnauthorized, "bad-credentials", "the email or the password is wrong")
	if len(password) > 4*MaxPasswordLen {
		return nil, deny
	}
	u, err := p.store.ConsoleUserByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, ErrNotFound) {
		checkPassword(dummyHash, password)
		return nil, deny
	}
	if err != nil {
		return nil, internal(err)
	}
	if !checkPassword(u.PasswordHash, password) {
		return nil, deny
	}
	return u, nil
}

// ConsoleUser returns a console user by id (a signed-in session's user, read on every request
// so that a removed user is signed out at once).
func (p *Platform) ConsoleUser(ctx context.Context, id string) (*ConsoleUser, error) {
	u, err := p.store.ConsoleUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, newError(KindNotFound, "not-found", "console user %s does not exist", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	return u, nil
}

// LinkConsoleCard links a console user to the subject their own card has at the platform's
// OpenID provider, so that they may sign in with the card. A card linked to another account is
// KindConflict (one card signs in one account).
func (p *Platform) LinkConsoleCard(ctx context.Context, userID, sub string) error {
	if sub == "" || len(sub) > 255 {
		return newError(KindInvalid, "invalid-subject", "the card's subject is empty or too long")
	}
	err := p.store.LinkConsoleCard(ctx, userID, sub)
	switch {
	case errors.Is(err, ErrConflict):
		return newError(KindConflict, "card-linked", "this card is linked to another console account")
	case errors.Is(err, ErrNotFound):
		return newError(KindNotFound, "not-found", "console user %s does not exist", userID)
	case err != nil:
		return internal(err)
	}
	return nil
}

// ConsoleUserByCard returns the console user a card's subject is linked to; a card linked to
// no account is KindUnauthorized (nothing is created).
func (p *Platform) ConsoleUserByCard(ctx context.Context, sub string) (*ConsoleUser, error) {
	if sub == "" {
		return nil, newError(KindUnauthorized, "card-not-linked", "this card is linked to no console account")
	}
	u, err := p.store.ConsoleUserByCard(ctx, sub)
	if errors.Is(err, ErrNotFound) {
		return nil, newError(KindUnauthorized, "card-not-linked", "this card is linked to no console account")
	}
	if err != nil {
		return nil, internal(err)
	}
	return u, nil
}

// RevokeTenantAPIKey revokes one of tenant's keys; another tenant's key is reported as not
// found, exactly like an unknown one.
func (p *Platform) RevokeTenantAPIKey(ctx context.Context, tenant *Tenant, id string) error {
	k, err := p.store.APIKey(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && k.TenantID != tenant.ID) {
		return newError(KindNotFound, "not-found", "API key %s does not exist", id)
	}
	if err != nil {
		return internal(err)
	}
	return p.RevokeAPIKey(ctx, id)
}

// RecentVerifications returns a tenant's latest verifications (at most 100).
func (p *Platform) RecentVerifications(ctx context.Context, tenant *Tenant, limit int) ([]Verification, error) {
	limit = min(max(limit, 1), 100)
	vs, err := p.store.RecentVerifications(ctx, tenant.ID, limit)
	if err != nil {
		return nil, internal(err)
	}
	return vs, nil
}

// PortalTenant is the platform's own tenant for holders signing in to its pages with their
// card (a login session like any tenant's). Its id derives from the master secret, so every
// node finds the same one; it is created on first use.
func (p *Platform) PortalTenant(ctx context.Context) (*Tenant, error) {
	if p.keys == nil {
		return nil, internal(errors.New("platform: the holder portal needs the master secret"))
	}
	id := "t_" + hex.EncodeToString(p.keys.Key(kdf.PortalTenant)[:8])
	t, err := p.tenant(ctx, id)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, internal(err)
	}
	nt := Tenant{ID: id, Name: PortalTenantName, CreatedAt: p.clk.Now().UTC()}
	if err := p.store.CreateTenant(ctx, nt); err != nil && !errors.Is(err, ErrConflict) {
		return nil, internal(err)
	}
	return p.Tenant(ctx, id)
}

// PortalTenantName names the holder portal's tenant.
const PortalTenantName = "mynagate holder sign-in"

// SignedInPerson returns the person a holder-portal login session verified, once it has: the
// session must be the portal tenant's, for login, and accepted.
func (p *Platform) SignedInPerson(ctx context.Context, portal *Tenant, sessionID string) (string, SessionStatus, error) {
	s, err := p.Session(ctx, portal, sessionID)
	if err != nil {
		return "", "", err
	}
	if s.Purpose != PurposeLogin {
		return "", "", newError(KindInvalid, "invalid-request", "session %s is not a login session", sessionID)
	}
	if s.Status != SessionVerified || s.VerificationID == "" {
		return "", s.Status, nil
	}
	v, err := p.Verification(ctx, portal, s.VerificationID)
	if err != nil {
		return "", "", err
	}
	if v.Decision != DecisionAccepted || v.PersonID == "" {
		return "", SessionFailed, nil
	}
	return v.PersonID, s.Status, nil
}

// CompanyRecord is what one company (tenant) learned about a holder, for the holder's page.
type CompanyRecord struct {
	TenantID, TenantName string
	// Facts are the basic-4 facts the company receives with an identity verification.
	Facts []Fact
	// Verifications are the holder's accepted verifications with the company, oldest first.
	Verifications []Verification
	// Consents are the holder's consents to the company (latest grant per scope).
	Consents []HolderConsent
}

// PersonCompanies returns, per company, what it learned about a signed-in holder and when, and
// the consents the holder gave it (the holder portal itself is left out).
func (p *Platform) PersonCompanies(ctx context.Context, personID string) ([]CompanyRecord, error) {
	vs, err := p.store.PersonVerifications(ctx, personID)
	if err != nil {
		return nil, internal(err)
	}
	consents, err := p.consentsOf(ctx, personID)
	if err != nil {
		return nil, err
	}
	portal, err := p.PortalTenant(ctx)
	if err != nil {
		return nil, err
	}
	var out []CompanyRecord
	index := map[string]int{}
	add := func(tenantID string) (*CompanyRecord, error) {
		if i, ok := index[tenantID]; ok {
			return &out[i], nil
		}
		t, err := p.tenant(ctx, tenantID)
		if err != nil {
			return nil, internal(err)
		}
		index[tenantID] = len(out)
		out = append(out, CompanyRecord{TenantID: t.ID, TenantName: t.Name, Facts: slices.Clone(t.Facts)})
		return &out[len(out)-1], nil
	}
	for _, v := range vs {
		if v.TenantID == portal.ID {
			continue
		}
		c, err := add(v.TenantID)
		if err != nil {
			return nil, err
		}
		c.Verifications = append(c.Verifications, v)
	}
	for _, hc := range consents {
		c, err := add(hc.TenantID)
		if err != nil {
			return nil, err
		}
		c.Consents = append(c.Consents, hc)
	}
	return out, nil
}

// RevokePersonConsent revokes a signed-in holder's consent to a tenant for a scope (the web
// session proved the person with a card login; the API's holder endpoints prove it per request).
func (p *Platform) RevokePersonConsent(ctx context.Context, personID, tenantID, scope string) (int, error) {
	if !slices.Contains(ConsentScopes, scope) || tenantID == "" || personID == "" {
		return 0, newError(KindInvalid, "invalid-request", "a tenant and a scope (one of %v) are required", ConsentScopes)
	}
	n, err := p.store.RevokeConsents(ctx, personID, tenantID, scope, p.clk.Now().UTC())
	if err != nil {
		return 0, internal(err)
	}
	return n, nil
}

// WebhookBacklog returns how many deliveries wait, and since when the oldest is due.
func (p *Platform) WebhookBacklog(ctx context.Context) (int, time.Time, error) {
	n, oldest, err := p.store.PendingDeliveries(ctx)
	if err != nil {
		return 0, time.Time{}, internal(err)
	}
	return n, oldest, nil
}
