package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mynagate/mynagate/platform"
)

// PersonByCert returns the person a certificate (CA key id hex, serial hex) is linked to.
// platform.ErrNotFound if the certificate is not linked. The strings are compared exactly: the
// caller normalises them (upper-case hex, no leading zeros) as it did when linking.
func (s *Store) PersonByCert(ctx context.Context, ca, serial string) (string, error) {
	if err := validate("PersonByCert").str("ca", ca).str("serial", serial).done(); err != nil {
		return "", err
	}
	var person string
	err := s.r.QueryRowContext(ctx, `SELECT person_id FROM person_certs WHERE ca = $1 AND serial = $2`, ca, serial).
		Scan(&person)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: certificate %s/%s: %w", ca, serial, platform.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: person of certificate %s/%s: %w", ca, serial, err)
	}
	return person, nil
}

// Usage returns the counters of a tenant for months from..to (YYYY-MM, JST, inclusive), ordered
// by month, purpose, method. Months without verifications have no counters.
func (s *Store) Usage(ctx context.Context, tenantID, from, to string) ([]platform.Usage, error) {
	err := validate("Usage").str("tenantID", tenantID).
		check("from", validMonth(from), "is not YYYY-MM").check("to", validMonth(to), "is not YYYY-MM").
		check("to", from <= to, "is before from").done()
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT month, purpose, method, CAST(SUM(count) AS BIGINT) FROM usage_counters
		WHERE tenant_id = $1 AND month >= $2 AND month <= $3
		GROUP BY month, purpose, method
		ORDER BY month, purpose, method`, tenantID, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: usage of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []platform.Usage
	for rows.Next() {
		u := platform.Usage{TenantID: tenantID}
		var purpose, method string
		if err := rows.Scan(&u.Month, &purpose, &method, &u.Count); err != nil {
			return nil, fmt.Errorf("store: usage of %s: %w", tenantID, err)
		}
		u.Purpose, u.Method = platform.Purpose(purpose), platform.RevocationMethod(method)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: usage of %s: %w", tenantID, err)
	}
	return out, nil
}
