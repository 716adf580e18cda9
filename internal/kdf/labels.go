package kdf

// A Label names one use of a secret. Its string is HKDF's info (with the context after a 0x00
// byte for KeyFor) and carries a version: a change of what a key is for, or of the format it
// protects, takes a new string, never a reused one.
type Label string

// The labels of the platform's master secret (cmd/mynagate's data directory, master.key). Each
// says what the key is for, its context if any, who derives it, and what is kept under it.
const (
	// Pairwise keys a tenant's pairwise person ids, sub = HMAC-SHA256(key, person id); context:
	// the tenant id. platform (PairwiseID, Pairwise, the subject index's walk). Relying parties
	// hold the ids; OIDC tokens carry them as sub.
	Pairwise Label = "mynagate/pairwise/v1"
	// CardKey is a tenant's card key, served to the tenant (GET /v1/tenant/card-key) for its
	// gates, which compute card ids with it; context: the tenant id. platform (CardKey).
	CardKey Label = "mynagate/card-key/v1"
	// SubjectIndex keys the index from a tenant's pairwise id to its person (platform, watch.go);
	// the index rows hold its MACs.
	SubjectIndex Label = "mynagate/subject-index/v1"
	// HolderToken keys a session's holder token, HMAC-SHA256(key, session id). platform
	// (session.go); not stored, derived again on each use.
	HolderToken Label = "mynagate/holder-token/v1"
	// HolderChallenge keys the MAC of the holder's consent challenges. platform (consent.go);
	// challenges live minutes.
	HolderChallenge Label = "mynagate/holder-challenge/v1"
	// ChallengeSigning is the Ed25519 seed of the key that signs session challenges, whose
	// public key holders pin. platform (challenge.go).
	ChallengeSigning Label = "mynagate/challenge-signing/v1"
	// EventID keys revocation events' ids, HMAC-SHA256(key, type, tenant, CA, serial). platform
	// (notifydata.go); the outbox and relying parties hold the ids.
	EventID Label = "mynagate/event-id/v1"
	// WebhookSecrets is the AES-256-GCM key sealing webhook signing secrets in the store.
	// platform (webhook.go) seals and opens them; delivery opens them through platform.
	WebhookSecrets Label = "mynagate/webhook-secret-seal/v1"
	// IdempotentAnswers is the AES-256-GCM key sealing kept answers of Idempotency-Key requests
	// in the store. platform (idempotency.go) seals and opens them.
	IdempotentAnswers Label = "mynagate/idempotent-answer-seal/v1"
	// PortalTenant makes the id of the platform's own holder-portal tenant (its first 8 bytes, in
	// hex), the same on every node. platform (console.go); the tenant row holds the id.
	PortalTenant Label = "mynagate/portal-tenant-id/v1"
	// OIDCSigningKeys is the AES-256-GCM key sealing the OpenID provider's signing keys in the
	// store. oidc (keys.go) seals and opens them.
	OIDCSigningKeys Label = "mynagate/oidc/signing-key-seal/v1"
	// OIDCAccessTokens is the key of the OpenID provider's opaque access tokens (zitadel/oidc's
	// crypto key). oidc.
	OIDCAccessTokens Label = "mynagate/oidc/access-token/v1"
	// OIDCPages is the key of the OpenID provider's page cookies, handed to web/ui. oidc.
	OIDCPages Label = "mynagate/oidc/pages/v1"
	// Pages is the key of the platform's own pages' cookies (console, holder, operator), handed
	// to web/ui. cmd/mynagate serve.
	Pages Label = "mynagate/pages/v1"
)

// The labels of an application's own secret.
const (
	// UISession is the AES-256-GCM key sealing web/ui session cookies, from the key the
	// application hands web/ui (ui.Config.Key, itself derived from the application's secret
	// with a label of its own). web/ui.
	UISession Label = "mynagate/web-ui/session-seal/v1"
	// TicketPages is the key of the ticket service's page cookies, from the service's secret
	// (ticket serve --code-key-file), handed to web/ui. ticket/pages. Never leaves the nodes.
	TicketPages Label = "mynagate/ticket/pages/v1"
	// TicketCodes keys the MAC of rotating ticket codes (manifest.CodeMAC), from the ticket
	// service's secret. ticket (New); it is the only key of that secret a gate manifest carries
	// (code_key), so a gate checks codes offline and holds nothing else of the service.
	TicketCodes Label = "mynagate/ticket/rotating-code/v1"
	// TicketVouchers keys the MAC that makes a voucher's code from its ticket id, from the ticket
	// service's secret. ticket (New); the database keeps only the codes' hashes. Never leaves the
	// nodes.
	TicketVouchers Label = "mynagate/ticket/voucher/v1"
)
