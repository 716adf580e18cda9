// Package notify is 証明書失効通知管理 (revocation notification) beside the platform: certificates
// that appear on a new CRL and belong to persons some tenant watches become certificate.revoked
// events; a revocation for a change of the basic 4 facts (CRLReason affiliationChanged: a move, a
// new name) is followed up by asking J-LIS for the latest facts, which go as
// person.basic4_updated to the tenants holding the holder's consent. platform decides who watches
// whom and with which consent, and keeps the records (platform.NotifyStorage); this package runs
// the work. docs/design/revocation.md tells the whole story.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
)

// CRLRef names the CRL revocations were found on.
type CRLRef struct {
	CA     string // the issuing CA's storage key (CAKey)
	Name   string // its J-LIS name ("sign", "auth", ...)
	Number string // cRLNumber, decimal
}

func (c CRLRef) String() string { return c.Name + "#" + c.Number }

// RevokedCert is one entry of a CRL.
type RevokedCert struct {
	Serial    string    // upper-case hex, no leading zeros (as SerialHex)
	RevokedAt time.Time // revocationDate
	Reason    int       // RFC 5280 CRLReason; -1 when the entry has none
}

// Notifier turns new CRLs into events. Feed it from the CRL fetcher (CertificatesRevoked with
// the entries a CRL added, or Reconcile with the whole CRL when there is no previous one to
// diff), and run Run in the background for follow-ups and retries. It is safe for concurrent use.
type Notifier struct {
	p         *platform.Platform
	st        platform.NotifyStorage
	basic4    platform.Basic4Source
	requester string
	wake      func()
	lease     time.Duration
	maxTries  int
	poll      time.Duration
	batch     int

	inline bool

	mu    sync.Mutex
	retry []retryWork
}

type retryWork struct {
	what string
	do   func(ctx context.Context) error
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithBasic4Source sets where the latest basic 4 facts come from (jlisapi.Client). Without it
// no person.basic4_updated events are sent.
func WithBasic4Source(b platform.Basic4Source) Option { return func(n *Notifier) { n.basic4 = b } }

// WithRequester sets the name under which basic-4 requests are made to J-LIS (default
// "mynagate"); each request names the tenant and its consent as well.
func WithRequester(r string) Option { return func(n *Notifier) { n.requester = r } }

// WithEventHook sets a function called after events were written (to wake the deliverer).
func WithEventHook(f func()) Option { return func(n *Notifier) { n.wake = f } }

// WithFollowUpPolicy sets how often a follow-up is tried before it is given up (default 20) and
// how long one attempt may hold it (default 2 minutes).
func WithFollowUpPolicy(maxTries int, lease time.Duration) Option {
	return func(n *Notifier) { n.maxTries, n.lease = maxTries, lease }
}

// WithInlineFollowUp sets whether CertificatesRevoked and Reconcile run the follow-ups they made
// due before they return (default true: one fetch cycle carries a move all the way to
// person.basic4_updated). Without, Run does them at its next poll.
func WithInlineFollowUp(on bool) Option { return func(n *Notifier) { n.inline = on } }

// WithPoll sets how often Run looks for due follow-ups and retries (default 10 s).
func WithPoll(d time.Duration) Option { return func(n *Notifier) { n.poll = d } }

// New returns a notifier for a platform configured for verifications (it needs the master
// secret, the trusted CAs and the link source) over a store with platform.NotifyStorage. The
// platform's LatestFacts asks J-LIS through the newest notifier's basic-4 source.
func New(p *platform.Platform, opts ...Option) (*Notifier, error) {
	st, err := p.Notifications()
	if err != nil {
		return nil, err
	}
	n := &Notifier{p: p, st: st, requester: "mynagate", wake: func() {}, lease: 2 * time.Minute, maxTries: 20, poll: 10 * time.Second, batch: 500, inline: true}
	for _, o := range opts {
		o(n)
	}
	if n.maxTries < 1 || n.lease <= 0 || n.poll <= 0 {
		return nil, errors.New("notify: notifier needs at least one try, a positive lease and a positive poll interval")
	}
	p.UseBasic4Source(n.basic4, n.requester)
	return n, nil
}

// CertificatesRevoked notices the certificates a new CRL added: those linked to a person become
// notices, with a certificate.revoked event for each tenant watching the person, and a
// follow-up. It returns how many notices it stored (certificates noticed before are skipped).
// On failure the work is kept and retried by Run; a crash loses it, and Reconcile at the next
// start makes up for it.
func (n *Notifier) CertificatesRevoked(ctx context.Context, crl CRLRef, revoked []RevokedCert) (int, error) {
	stored, err := n.certificatesRevoked(ctx, crl, revoked)
	if err != nil {
		n.keep(fmt.Sprintf("notice %d revocations of %s", len(revoked), crl), func(ctx context.Context) error {
			_, err := n.certificatesRevoked(ctx, crl, revoked)
			return err
		})
		return stored, err
	}
	n.afterNotices(ctx, stored)
	return stored, nil
}

func (n *Notifier) certificatesRevoked(ctx context.Context, crl CRLRef, revoked []RevokedCert) (int, error) {
	stored := 0
	for chunk := range slices.Chunk(revoked, n.batch) {
		serials := make([]string, len(chunk))
		for i, r := range chunk {
			serials[i] = r.Serial
		}
		persons, err := n.st.PersonsByCerts(ctx, crl.CA, serials)
		if err != nil {
			return stored, fmt.Errorf("notify: persons of revoked certificates on %s: %w", crl, err)
		}
		var hits []hit
		for _, r := range chunk {
			if person, ok := persons[r.Serial]; ok {
				hits = append(hits, hit{r, person})
			}
		}
		k, err := n.record(ctx, crl, hits)
		stored += k
		if err != nil {
			return stored, err
		}
	}
	return stored, nil
}

type hit struct {
	RevokedCert
	person string
}

// Reconcile checks every watched certificate of crl's CA that has no notice yet against a whole
// CRL, through lookup (is this serial on it, since when, why), and notices the revoked ones as
// CertificatesRevoked does. It is what a node runs on the first CRL after it starts, when there
// is no previous CRL to diff against: revocations published while it was down are noticed, and
// those noticed before are not repeated.
func (n *Notifier) Reconcile(ctx context.Context, crl CRLRef, lookup func(serial string) (bool, time.Time, int)) (int, error) {
	stored, err := n.reconcile(ctx, crl, lookup)
	if err != nil {
		n.keep("reconcile "+crl.String(), func(ctx context.Context) error {
			_, err := n.reconcile(ctx, crl, lookup)
			return err
		})
		return stored, err
	}
	n.afterNotices(ctx, stored)
	return stored, nil
}

func (n *Notifier) reconcile(ctx context.Context, crl CRLRef, lookup func(serial string) (bool, time.Time, int)) (int, error) {
	var hits []hit
	err := n.st.WatchedCerts(ctx, crl.CA, func(serial, person string) error {
		if revoked, at, reason := lookup(serial); revoked {
			hits = append(hits, hit{RevokedCert{Serial: serial, RevokedAt: at, Reason: reason}, person})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("notify: watched certificates of %s: %w", crl.Name, err)
	}
	stored := 0
	for chunk := range slices.Chunk(hits, n.batch) {
		k, err := n.record(ctx, crl, chunk)
		stored += k
		if err != nil {
			return stored, err
		}
	}
	return stored, nil
}

// record stores the notices of hits with their certificate.revoked events.
func (n *Notifier) record(ctx context.Context, crl CRLRef, hits []hit) (int, error) {
	if len(hits) == 0 {
		return 0, nil
	}
	now := n.p.Clock().Now().UTC()
	notices := make([]platform.RevocationNotice, 0, len(hits))
	watchers := map[string][]platform.Watcher{}
	for _, h := range hits {
		ws, ok := watchers[h.person]
		if !ok {
			var err error
			if ws, err = n.st.Watchers(ctx, h.person, platform.ScopeBasic4Updates); err != nil {
				return 0, fmt.Errorf("notify: watchers of a person: %w", err)
			}
			watchers[h.person] = ws
		}
		nt := platform.RevocationNotice{CA: crl.CA, Serial: h.Serial, PersonID: h.person, Reason: h.Reason, RevokedAt: h.RevokedAt.UTC(),
			CRL: crl.String(), NoticedAt: now, FollowUp: platform.FollowUpPending, FollowUpAt: now}
		for _, w := range ws {
			t, err := n.p.Tenant(ctx, w.TenantID)
			if err != nil {
				return 0, fmt.Errorf("notify: tenant %s: %w", w.TenantID, err)
			}
			ev, err := n.revokedEvent(t, &nt)
			if err != nil {
				return 0, err
			}
			nt.Events = append(nt.Events, ev)
		}
		notices = append(notices, nt)
	}
	stored, err := n.st.RecordRevocations(ctx, notices)
	if err != nil {
		return 0, fmt.Errorf("notify: record revocations of %s: %w", crl, err)
	}
	if stored > 0 {
		slog.InfoContext(ctx, "notify: revocations noticed", "crl", crl.String(), "certificates", len(hits), "new", stored)
	}
	return stored, nil
}

// afterNotices wakes the deliverer and runs the follow-ups just made due, so that one fetch
// cycle carries a move all the way to person.basic4_updated.
func (n *Notifier) afterNotices(ctx context.Context, stored int) {
	if stored == 0 {
		return
	}
	n.wake()
	if !n.inline {
		return
	}
	if _, err := n.FollowUp(ctx); err != nil {
		slog.WarnContext(ctx, "notify: revocation follow-up failed; it is retried", "err", err)
	}
}

func eventPayload(typ string, at time.Time, data any) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"type": typ, "timestamp": at, "data": data})
	if err != nil {
		return nil, fmt.Errorf("notify: event payload: %w", err)
	}
	return b, nil
}

// CertificateRef identifies a certificate in event payloads, as verifications show it.
type CertificateRef struct {
	IssuerKeyID string `json:"issuer_key_id"`
	Serial      string `json:"serial"`
}

// RevokedEventData is the data of a certificate.revoked event.
type RevokedEventData struct {
	Sub string `json:"sub"`
	// Certificate is the revoked certificate; only for a tenant allowed the certificate
	// (platform.Tenant.AllowsCertificate).
	Certificate *CertificateRef `json:"certificate,omitempty"`
	Reason      string          `json:"reason"`      // RFC 5280 name, e.g. affiliationChanged
	ReasonCode  int             `json:"reason_code"` // RFC 5280 CRLReason; -1 when none
	RevokedAt   time.Time       `json:"revoked_at"`
	CRL         string          `json:"crl"` // the CRL it was seen on, "<ca>#<number>"
}

// Basic4EventData is the data of a person.basic4_updated event. It is a thin event: it says
// which facts have new values, not the values, so that no outbox row or webhook log holds them;
// the tenant reads them with an authenticated GET /v1/watches/{sub}/basic4 (LatestFacts).
type Basic4EventData struct {
	Sub string `json:"sub"`
	// Changed names the facts the tenant may see that J-LIS recorded anew.
	Changed []platform.Fact `json:"changed"`
	// Deceased is set when J-LIS records the holder as deceased.
	Deceased  bool      `json:"deceased"`
	UpdatedAt time.Time `json:"updated_at"` // when J-LIS recorded the facts
	// Cause is the revoked certificate whose revocation led to the update; only for a tenant
	// allowed the certificate (platform.Tenant.AllowsCertificate).
	Cause *CertificateRef `json:"cause,omitempty"`
}

func (n *Notifier) revokedEvent(t *platform.Tenant, nt *platform.RevocationNotice) (platform.Event, error) {
	tenantID := t.ID
	data := RevokedEventData{Sub: n.p.PairwiseID(tenantID, nt.PersonID),
		Reason: platform.CRLReasonName(nt.Reason), ReasonCode: nt.Reason, RevokedAt: nt.RevokedAt, CRL: nt.CRL}
	if t.AllowsCertificate() {
		data.Certificate = &CertificateRef{nt.CA, nt.Serial}
	}
	b, err := eventPayload(platform.EventCertificateRevoked, nt.NoticedAt, data)
	if err != nil {
		return platform.Event{}, err
	}
	return platform.Event{ID: n.p.EventID(platform.EventCertificateRevoked, t.ID, nt.CA, nt.Serial), TenantID: tenantID, Type: platform.EventCertificateRevoked,
		Payload: b, CreatedAt: nt.NoticedAt}, nil
}

// FollowUp runs the follow-ups that are due, once, and returns how many it finished. For each
// notice: the renewal links of the revoked certificate are followed forward (J-LIS 新旧紐付け) and
// the successors linked to the person, so the person is known by the next card too; after
// affiliationChanged, the latest basic 4 facts are asked of J-LIS once per consenting tenant
// (naming that tenant's consent) and sent as person.basic4_updated with the facts the tenant may
// see. A follow-up that fails (J-LIS unavailable) is retried with backoff, and given up after the
// last try.
func (n *Notifier) FollowUp(ctx context.Context) (int, error) {
	done := 0
	for {
		now := n.p.Clock().Now().UTC()
		notices, err := n.st.ClaimFollowUps(ctx, now, now.Add(n.lease), 16)
		if err != nil {
			return done, fmt.Errorf("notify: claim follow-ups: %w", err)
		}
		if len(notices) == 0 {
			return done, nil
		}
		var errs []error
		for _, nt := range notices {
			if err := n.followUp(ctx, nt); err != nil {
				errs = append(errs, err)
				n.failFollowUp(ctx, nt, err)
				continue
			}
			done++
		}
		if len(errs) > 0 {
			return done, errors.Join(errs...)
		}
	}
}

func (n *Notifier) failFollowUp(ctx context.Context, nt platform.RevocationNotice, cause error) {
	var next time.Time
	if nt.FollowUpAttempts < n.maxTries {
		d := 30 * time.Second << min(nt.FollowUpAttempts-1, 7) // 30 s … 64 min
		next = n.p.Clock().Now().UTC().Add(d)
	} else {
		slog.ErrorContext(ctx, "notify: revocation follow-up given up", "ca", nt.CA, "serial", nt.Serial, "attempts", nt.FollowUpAttempts, "err", cause)
	}
	if err := n.st.FailFollowUp(ctx, nt.CA, nt.Serial, next, cause.Error()); err != nil {
		slog.WarnContext(ctx, "notify: record failed follow-up", "err", err)
	}
}

func (n *Notifier) followUp(ctx context.Context, nt platform.RevocationNotice) error {
	now := n.p.Clock().Now().UTC()
	ca := n.p.TrustedCA(nt.CA)
	serial, perr := strconv.ParseInt(nt.Serial, 16, 64)
	if ca == nil || perr != nil || serial <= 0 {
		// Not a certificate J-LIS can be asked about (an unknown CA, a serial beyond int64).
		return n.st.FinishFollowUp(ctx, nt.CA, nt.Serial, nil, nil, now)
	}
	ref := jlisapi.CertRef{CA: ca.Name, Serial: serial}
	links, err := n.successors(ctx, ref, nt.PersonID, now)
	if err != nil {
		return err
	}
	var events []platform.Event
	if nt.Reason == platform.ReasonAffiliationChanged && n.basic4 != nil {
		ws, err := n.st.Watchers(ctx, nt.PersonID, platform.ScopeBasic4Updates)
		if err != nil {
			return fmt.Errorf("notify: watchers of a person: %w", err)
		}
		for _, w := range ws {
			if w.ConsentID == "" {
				continue
			}
			ev, latest, err := n.basic4Event(ctx, ref, &nt, w, now)
			if err != nil {
				return err
			}
			if latest != nil {
				links = append(links, *latest)
			}
			if ev != nil {
				events = append(events, *ev)
			}
		}
	}
	if err := n.st.FinishFollowUp(ctx, nt.CA, nt.Serial, links, events, now); err != nil {
		return fmt.Errorf("notify: finish follow-up of %s/%s: %w", nt.CA, nt.Serial, err)
	}
	if len(events) > 0 {
		n.wake()
	}
	return nil
}

// successors follows renewal links forward from ref and returns the certificates met, as links
// to person.
func (n *Notifier) successors(ctx context.Context, ref jlisapi.CertRef, person string, now time.Time) ([]platform.PersonCert, error) {
	var out []platform.PersonCert
	seen := map[jlisapi.CertRef]bool{ref: true}
	queue := []jlisapi.CertRef{ref}
	for lookups := 0; len(queue) > 0 && lookups < platform.MaxLinkLookups; lookups++ {
		cur := queue[0]
		queue = queue[1:]
		info, err := n.p.Links().Links(ctx, cur)
		if errors.Is(err, jlisapi.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("notify: renewal links of %s/%X: %w", cur.CA, cur.Serial, err)
		}
		next := []jlisapi.CertRef{}
		for _, l := range info.Next {
			next = append(next, l.New)
		}
		if info.Latest != nil {
			next = append(next, *info.Latest)
		}
		for _, r := range next {
			if seen[r] {
				continue
			}
			seen[r] = true
			if pc, ok := n.p.CertLink(r, person, now); ok {
				out = append(out, pc)
				queue = append(queue, r)
			}
		}
	}
	return out, nil
}

// basic4Event asks J-LIS for the latest facts on behalf of one consenting tenant.
func (n *Notifier) basic4Event(ctx context.Context, ref jlisapi.CertRef, nt *platform.RevocationNotice, w platform.Watcher, now time.Time) (*platform.Event, *platform.PersonCert, error) {
	ans, err := n.basic4.LatestBasic4(ctx, ref, n.requester+"/"+w.TenantID, w.ConsentID)
	if errors.Is(err, jlisapi.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("notify: latest basic 4 of %s/%X: %w", ref.CA, ref.Serial, err)
	}
	var latest *platform.PersonCert
	if ans.LatestSign != nil {
		if pc, ok := n.p.CertLink(*ans.LatestSign, nt.PersonID, now); ok {
			latest = &pc
		}
	}
	t, err := n.p.Tenant(ctx, w.TenantID)
	if err != nil {
		return nil, nil, fmt.Errorf("notify: tenant %s: %w", w.TenantID, err)
	}
	facts := platform.Facts(t, &ans.Basic4)
	if len(facts) == 0 && !ans.Deceased {
		return nil, latest, nil // the tenant may see none of the facts
	}
	data := Basic4EventData{Sub: n.p.PairwiseID(w.TenantID, nt.PersonID), Changed: slices.Sorted(maps.Keys(facts)), Deceased: ans.Deceased,
		UpdatedAt: ans.UpdatedAt}
	if t.AllowsCertificate() {
		data.Cause = &CertificateRef{nt.CA, nt.Serial}
	}
	b, err := eventPayload(platform.EventBasic4Updated, now, data)
	if err != nil {
		return nil, nil, err
	}
	return &platform.Event{ID: n.p.EventID(platform.EventBasic4Updated, w.TenantID, nt.CA, nt.Serial), TenantID: w.TenantID, Type: platform.EventBasic4Updated,
		Payload: b, CreatedAt: now}, latest, nil
}

// keep queues failed work for Run to retry.
func (n *Notifier) keep(what string, do func(ctx context.Context) error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.retry = append(n.retry, retryWork{what, do})
}

// Run retries failed work and runs due follow-ups every poll interval until ctx ends.
//
// Shutdown: cancel ctx; Run returns after the follow-up in progress, if any. Nothing is lost: a
// follow-up interrupted half-way is claimed again when its lease ends, and notices not recorded
// yet are found again by Reconcile at the next start.
func (n *Notifier) Run(ctx context.Context) {
	t := n.p.Clock().NewTicker(n.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		n.retryKept(ctx)
		if _, err := n.FollowUp(ctx); err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "notify: revocation follow-up failed; it is retried", "err", err)
		}
	}
}

// retryKept runs the kept work once; what fails again stays.
func (n *Notifier) retryKept(ctx context.Context) {
	n.mu.Lock()
	work := n.retry
	n.retry = nil
	n.mu.Unlock()
	for i, w := range work {
		if ctx.Err() != nil {
			n.mu.Lock()
			n.retry = append(n.retry, work[i:]...)
			n.mu.Unlock()
			return
		}
		if err := w.do(ctx); err != nil {
			slog.WarnContext(ctx, "notify: revocation work failed again", "work", w.what, "err", err)
			n.keep(w.what, w.do)
			continue
		}
		n.wake()
	}
}

// Pending returns how many pieces of failed work wait for a retry (for tests and readiness).
func (n *Notifier) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.retry)
}
