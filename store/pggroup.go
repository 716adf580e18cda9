package store

import (
	"cmp"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
)

// Grouped completions on PostgreSQL.
//
// A completion alone is two round trips and one commit (steps.go, pipeline): about 0.65 ms of
// the server's work for four small statements, so the server's per-statement and per-commit
// costs, not the rows, bound the rate. Concurrent completions are therefore written the way
// SQLite's group commit writes them, but as multi-row statements: pgCommitters goroutines each
// take what is queued (up to maxGroup completions) and write it in one transaction of two round
// trips —
//
//  1. BEGIN; the persons of accepted completions with certificates (one INSERT … ON CONFLICT DO
//     NOTHING RETURNING id, so the ones it created are known); the verifications, their entries
//     and their wanted events in one statement (the verifications INSERT … SELECT FROM unnest(…)
//     JOIN sessions … ON CONFLICT DO NOTHING RETURNING id, and, in the same WITH, the entries
//     and events of the verifications it returned: a completion whose session does not match, is
//     completed already — in the database or earlier in the same statement — whose person does
//     not exist or whose entry or event id is taken, inserts nothing instead of failing the
//     statement);
//  2. the persons created for completions that inserted no entry are deleted again; the
//     certificate links, the consents and the usage counters of the completions that did insert
//     (one statement each, the counts summed into one shard row per key: groupShard); COMMIT.
//
// A completion that finds no company is a group of one, written the same way: a committer is
// busy until its group's commit, and that is what makes the completions arriving meanwhile
// queue up into the next group. (Handing a lone completion back to run on its own freed the
// committer at once, so under load nearly every group was of one and grouping did nothing.)
// A completion whose entry its group did not insert is run again on its own (CompleteSession's
// pipelined steps), which refuses it with the precise reason, as before. Rows are locked in
// the same order in every group (persons by id, entries by session, certificates by CA and
// serial, counters by key), so groups of two nodes do not deadlock on them. An error of a
// round trip or of COMMIT fails every completion of the group, as a failed commit does on
// SQLite.
//
// Several groups run at once (pgCommitters), since PostgreSQL's writers run in parallel: the
// server groups their WAL flushes.

// pgCommitters is the number of groups that may be in flight at once.
const pgCommitters = 4

// pgCompletion is one CompleteSession waiting for its group.
type pgCompletion struct {
	v        platform.Verification
	certs    []platform.PersonCert // sorted by CA and serial
	consents []platform.Consent
	ev       *platform.Event
	rec      *evidence.Record
	month    string
	done     chan error // nil: written; errAlone: run it on its own
}

// errAlone tells a completion that its group did not insert its entry: it runs alone to learn
// why (or, having lost nothing, to be written).
var errAlone = errors.New("store: run the completion on its own")

// startPGGroups starts the committers of a PostgreSQL store. Close stops them (s.quit).
func (s *Store) startPGGroups() {
	s.pgWrites = make(chan *pgCompletion)
	s.quit = make(chan struct{})
	s.stopped = make(chan struct{})
	stopped := make(chan struct{}, pgCommitters)
	for slot := range pgCommitters {
		go func() {
			defer func() { stopped <- struct{}{} }()
			for {
				select {
				case <-s.quit:
					return
				case c := <-s.pgWrites:
					group := []*pgCompletion{c}
				more:
					for len(group) < maxGroup {
						select {
						case c := <-s.pgWrites:
							group = append(group, c)
						default:
							break more
						}
					}
					s.writePGGroup(group, slot)
				}
			}
		}()
	}
	go func() {
		for range pgCommitters {
			<-stopped
		}
		close(s.stopped)
	}()
}

// completeGrouped hands c to a committer and waits for its result.
func (s *Store) completeGrouped(ctx context.Context, c *pgCompletion) error {
	c.done = make(chan error, 1)
	select {
	case s.pgWrites <- c:
		return <-c.done
	case <-ctx.Done():
		return fmt.Errorf("store: CompleteSession: %w", ctx.Err())
	case <-s.quit:
		return fmt.Errorf("store: CompleteSession: %w", errClosed)
	}
}

// writePGGroup writes a group of completions in one transaction (see above) and answers each.
// slot is the committer's number, which picks the group's counter shards (groupShard). A group
// of one is written the same way: its committer stays busy until the commit, so that the
// completions arriving meanwhile queue up for the next group instead of each finding a free
// committer.
func (s *Store) writePGGroup(group []*pgCompletion, slot int) {
	slices.SortFunc(group, func(a, b *pgCompletion) int { return strings.Compare(a.v.SessionID, b.v.SessionID) })
	inserted, err := s.pgGroupTx(group, slot)
	for _, c := range group {
		switch {
		case err != nil:
			c.done <- err
		case inserted[c.v.ID]:
			c.done <- nil
		default:
			c.done <- errAlone
		}
	}
}

// pgGroupTx runs the group's transaction and returns the ids of the entries it inserted.
func (s *Store) pgGroupTx(group []*pgCompletion, slot int) (map[string]bool, error) {
	ctx := context.Background()
	n := len(group)
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: group of %d completions: %w", n, err)
	}
	defer conn.Close()
	var inserted map[string]bool
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres connection is %T", dc)
		}
		pc := sc.Conn()
		var err error
		inserted, err = writeGroup(ctx, pc, group, slot)
		if err != nil {
			// Whatever state the transaction is in, end it; a connection that cannot is dropped.
			if _, rerr := pc.Exec(ctx, "ROLLBACK"); rerr != nil {
				return errors.Join(err, rerr, driver.ErrBadConn)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: group of %d completions: %w", n, err)
	}
	return inserted, nil
}

// groupShard is the usage counter shard every completion of a group counts in: all of the
// group's counts of one key go to one row, and the committers of one node (slot) use rows that
// differ (usageShards is a multiple of pgCommitters), chosen among those of the slot by the
// group's first verification id, so that the groups of two nodes seldom meet on one either.
// Spread by verification id instead, a group of 16 touched most of the 16 rows of its key and
// held their locks until its commit: the groups in flight waited for each other's commits.
func groupShard(slot int, group []*pgCompletion) int64 {
	return (int64(slot) + pgCommitters*usageShard(group[0].v.ID)) % usageShards
}

// writeGroup sends the group's two round trips on pc.
func writeGroup(ctx context.Context, pc *pgx.Conn, group []*pgCompletion, slot int) (map[string]bool, error) {
	// Round trip 1: BEGIN, new persons, entries.
	var personIDs []string
	var personAt []int64
	seenPerson := map[string]bool{}
	for _, c := range group {
		if len(c.certs) > 0 && !seenPerson[c.v.PersonID] {
			seenPerson[c.v.PersonID] = true
			personIDs, personAt = append(personIDs, c.v.PersonID), append(personAt, nanos(c.v.CreatedAt))
		}
	}
	sortTogether(personIDs, personAt)
	cols := entryColumns(group)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if len(personIDs) > 0 {
		b.Queue(`INSERT INTO persons (id, created_at) SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (id) DO NOTHING RETURNING id`, personIDs, personAt)
	}
	b.Queue(`
		WITH v AS (
			INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, reason, detail, person_id,
				cert_ca, cert_serial, method, revocation_ref, created_at)
			SELECT c.id, s.tenant_id, c.session_id, c.purpose, c.decision, c.reason, c.detail, c.person_id,
				c.cert_ca, c.cert_serial, c.method, c.revocation_ref, c.created_at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $19::text[]) WITH ORDINALITY
				AS c(id, session_id, tenant_id, created_at, purpose, decision, reason, detail, person_id,
					cert_ca, cert_serial, method, revocation_ref, event_id, n)
			JOIN sessions s ON s.id = c.session_id AND s.tenant_id = c.tenant_id AND s.purpose = c.purpose
			WHERE (c.person_id IS NULL OR EXISTS (SELECT 1 FROM persons p WHERE p.id = c.person_id))
				AND NOT EXISTS (SELECT 1 FROM evidence_entries e WHERE e.id = c.id)
				AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = c.event_id)
			ORDER BY c.n
			ON CONFLICT DO NOTHING
			RETURNING id
		), e AS (
			INSERT INTO evidence_entries (id, tenant_id, created_at, leaf, leaf_hash, sealed, wrapped_key, shred_after)
			SELECT x.id, x.tenant_id, x.created_at, x.leaf, x.leaf_hash, x.sealed, x.wrapped_key, x.shred_after
			FROM unnest($1::text[], $3::text[], $4::bigint[], $14::bytea[], $15::bytea[], $16::bytea[], $17::bytea[], $18::bigint[])
				WITH ORDINALITY AS x(id, tenant_id, created_at, leaf, leaf_hash, sealed, wrapped_key, shred_after, n)
			WHERE x.id IN (SELECT id FROM v)
			ORDER BY x.n
		), o AS (
			INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at)
			SELECT y.event_id, y.tenant_id, y.event_type, y.event_payload, y.created_at, y.created_at
			FROM unnest($1::text[], $3::text[], $4::bigint[], $19::text[], $20::text[], $21::bytea[], $22::text[])
				WITH ORDINALITY AS y(id, tenant_id, created_at, event_id, event_type, event_payload, pattern, n)
			WHERE y.event_id IS NOT NULL AND y.id IN (SELECT id FROM v)
				AND `+endpointMayWant(DialectPostgres, "y.tenant_id", "y.pattern")+`
			ORDER BY y.n
		)
		SELECT id FROM v`, cols...)
	br := pc.SendBatch(ctx, b)
	created := map[string]bool{}
	inserted := map[string]bool{}
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if len(personIDs) > 0 {
			if err := collectIDs(br, created); err != nil {
				return fmt.Errorf("insert persons: %w", err)
			}
		}
		if err := collectIDs(br, inserted); err != nil {
			return fmt.Errorf("insert entries: %w", err)
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	// Round trip 2: undo persons of refused completions, certificate links, consents, counters,
	// COMMIT.
	var orphans []string
	kept := map[string]bool{}
	for _, c := range group {
		if inserted[c.v.ID] {
			kept[c.v.PersonID] = true
		}
	}
	for id := range created {
		if !kept[id] {
			orphans = append(orphans, id)
		}
	}
	slices.Sort(orphans)
	var links []platform.PersonCert
	var consents []platform.Consent
	type counterKey struct {
		tenant, month, purpose, method string
		shard                          int64
	}
	counts := map[counterKey]int64{}
	shard := groupShard(slot, group)
	for _, c := range group {
		if !inserted[c.v.ID] {
			continue
		}
		links = append(links, c.certs...)
		consents = append(consents, c.consents...)
		counts[counterKey{c.v.TenantID, c.month, string(c.v.Purpose), string(c.v.Method), shard}]++
	}
	slices.SortFunc(links, func(a, b platform.PersonCert) int {
		return cmp.Or(strings.Compare(a.CA, b.CA), strings.Compare(a.Serial, b.Serial))
	})
	links = slices.CompactFunc(links, func(a, b platform.PersonCert) bool { return a.CA == b.CA && a.Serial == b.Serial })
	keys := make([]counterKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b counterKey) int {
		return cmp.Or(strings.Compare(a.tenant, b.tenant), strings.Compare(a.month, b.month), strings.Compare(a.purpose, b.purpose),
			strings.Compare(a.method, b.method), cmp.Compare(a.shard, b.shard))
	})

	b = &pgx.Batch{}
	if len(orphans) > 0 {
		b.Queue(`DELETE FROM persons WHERE id = ANY($1::text[])`, orphans)
	}
	if len(links) > 0 {
		ca, serial, person, kind, at := make([]string, len(links)), make([]string, len(links)), make([]string, len(links)), make([]string, len(links)), make([]int64, len(links))
		for i, l := range links {
			ca[i], serial[i], person[i], kind[i], at[i] = l.CA, l.Serial, l.PersonID, l.Kind, nanos(l.LinkedAt)
		}
		b.Queue(`INSERT INTO person_certs (ca, serial, person_id, kind, linked_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
			ON CONFLICT (ca, serial) DO NOTHING`, ca, serial, person, kind, at)
	}
	if len(consents) > 0 {
		id, tenant, verification, scope, at := make([]string, len(consents)), make([]string, len(consents)), make([]string, len(consents)), make([]string, len(consents)), make([]int64, len(consents))
		for i, c := range consents {
			id[i], tenant[i], verification[i], scope[i], at[i] = c.ID, c.TenantID, c.VerificationID, c.Scope, nanos(c.GrantedAt)
		}
		b.Queue(`INSERT INTO consents (id, tenant_id, verification_id, scope, granted_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])`, id, tenant, verification, scope, at)
	}
	if len(keys) > 0 {
		tenant, month, purpose, method, shard, count := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			tenant[i], month[i], purpose[i], method[i], shard[i], count[i] = k.tenant, k.month, k.purpose, k.method, k.shard, counts[k]
		}
		b.Queue(`INSERT INTO usage_counters (tenant_id, month, purpose, method, shard, count)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
			ON CONFLICT (tenant_id, month, purpose, method, shard) DO UPDATE SET count = usage_counters.count + excluded.count`,
			tenant, month, purpose, method, shard, count)
	}
	b.Queue("COMMIT")
	if err := pc.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return inserted, nil
}

// collectIDs reads the ids a RETURNING id statement of the batch returned into into.
func collectIDs(br pgx.BatchResults, into map[string]bool) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		into[id] = true
	}
	return rows.Err()
}

// entryColumns returns the group's verifications, entries and events as one array per column,
// in the order of the parameters ($1 … $22) of the group's insert.
func entryColumns(group []*pgCompletion) []any {
	n := len(group)
	var (
		id, session, tenant                = make([]string, n), make([]string, n), make([]string, n)
		created                            = make([]int64, n)
		purpose, decision, reason, detail  = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		person                             = make([]*string, n)
		certCA, certSerial, method, revRef = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		leaf, leafHash, sealed, wrapped    = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		shredAfter                         = make([]*int64, n)
		eventID, eventType, pattern        = make([]*string, n), make([]*string, n), make([]string, n)
		payload                            = make([][]byte, n)
	)
	for i, c := range group {
		v, r := &c.v, c.rec
		id[i], session[i], tenant[i], created[i] = v.ID, v.SessionID, v.TenantID, nanos(v.CreatedAt)
		purpose[i], decision[i], reason[i], detail[i] = string(v.Purpose), string(v.Decision), v.Reason, v.Detail
		if v.PersonID != "" {
			person[i] = &v.PersonID
		}
		certCA[i], certSerial[i], method[i], revRef[i] = v.CertCA, v.CertSerial, string(v.Method), v.RevocationRef
		leaf[i], leafHash[i] = r.LeafData, r.LeafHash[:]
		if len(r.Sealed) > 0 {
			sealed[i] = r.Sealed
			at := nanos(r.ShredAfter)
			shredAfter[i] = &at
		}
		if len(r.WrappedKey) > 0 {
			wrapped[i] = r.WrappedKey
		}
		if c.ev != nil {
			eventID[i], eventType[i], payload[i], pattern[i] = &c.ev.ID, &c.ev.Type, c.ev.Payload, quotedType(c.ev.Type)
		}
	}
	return []any{id, session, tenant, created, purpose, decision, reason, detail, person,
		certCA, certSerial, method, revRef, leaf, leafHash, sealed, wrapped, shredAfter, eventID, eventType, payload, pattern}
}

// sortTogether sorts ids and, by the same permutation, at.
func sortTogether(ids []string, at []int64) {
	idx := make([]int, len(ids))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	sid, sat := slices.Clone(ids), slices.Clone(at)
	for i, j := range idx {
		ids[i], at[i] = sid[j], sat[j]
	}
}
