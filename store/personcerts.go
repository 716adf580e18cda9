package store

import (
	"context"
	"fmt"

	"github.com/mynagate/mynagate/platform"
)

// PersonCerts implements platform.PersonCertStorage: a person's certificates, the most recently
// linked first (index person_certs_person).
func (s *Store) PersonCerts(ctx context.Context, personID string) ([]platform.PersonCert, error) {
	if err := validate("PersonCerts").str("personID", personID).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT ca, serial, kind, linked_at FROM person_certs WHERE person_id = $1
		ORDER BY linked_at DESC, ca, serial LIMIT 64`, personID)
	if err != nil {
		return nil, fmt.Errorf("store: certificates of a person: %w", err)
	}
	defer rows.Close()
	var out []platform.PersonCert
	for rows.Next() {
		c := platform.PersonCert{PersonID: personID}
		var at int64
		if err := rows.Scan(&c.CA, &c.Serial, &c.Kind, &at); err != nil {
			return nil, fmt.Errorf("store: certificates of a person: %w", err)
		}
		c.LinkedAt = fromNanos(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
