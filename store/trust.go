package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Trust that survives a restart (tables trust_anchors and crl_high_water): the J-LIS CA certificates the platform
// trusts, recorded at its first start or from serve --trust, and per CA the highest cRLNumber
// accepted. The platform's wiring compares what J-LIS serves with them (internal/wiring) and
// revocation.Fetcher reads and raises the high-water mark (revocation.HighWater).

// TrustAnchors returns the recorded CA certificates (DER) by J-LIS name.
func (s *Store) TrustAnchors(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, cert FROM trust_anchors`)
	if err != nil {
		return nil, fmt.Errorf("store: trust anchors: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var der []byte
		if err := rows.Scan(&name, &der); err != nil {
			return nil, fmt.Errorf("store: trust anchors: %w", err)
		}
		out[name] = der
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: trust anchors: %w", err)
	}
	return out, nil
}

// RecordTrustAnchors records CA certificates by J-LIS name, in one transaction. With replace
// false, a name already recorded keeps its certificate (first start, trust on first use); with
// replace true (the operator pinned them with serve --trust) the given certificates replace it.
func (s *Store) RecordTrustAnchors(ctx context.Context, anchors map[string][]byte, replace bool, at time.Time) error {
	v := validate("RecordTrustAnchors").time("at", at)
	for name, der := range anchors {
		v.str("anchor name", name).bytes("anchor "+name, der)
	}
	if err := v.done(); err != nil {
		return err
	}
	conflict := `DO NOTHING`
	if replace {
		conflict = `DO UPDATE SET cert = excluded.cert, recorded_at = excluded.recorded_at`
	}
	return s.inTx(ctx, "RecordTrustAnchors", func(tx *sql.Tx) error {
		for name, der := range anchors {
			if _, err := tx.ExecContext(ctx, `INSERT INTO trust_anchors (name, cert, recorded_at) VALUES ($1, $2, $3)
				ON CONFLICT (name) `+conflict, name, der, nanos(at)); err != nil {
				return fmt.Errorf("store: record trust anchor %s: %w", name, err)
			}
		}
		return nil
	})
}

// crlNumberWidth is the width of a stored cRLNumber: 20 octets are at most 49 decimal digits.
const crlNumberWidth = 50

func padNumber(n *big.Int) (string, error) {
	if n == nil || n.Sign() < 0 || n.BitLen() > 160 {
		return "", fmt.Errorf("cRLNumber %v is not a non-negative integer of at most 20 octets", n)
	}
	d := n.String()
	return strings.Repeat("0", crlNumberWidth-len(d)) + d, nil
}

// CRLHighWater returns the highest cRLNumber accepted for a CA (its key, see revocation.CAKey)
// and the SHA-256 of that CRL's TBSCertList; a nil number when none was recorded.
func (s *Store) CRLHighWater(ctx context.Context, ca string) (*big.Int, []byte, error) {
	if err := validate("CRLHighWater").str("ca", ca).done(); err != nil {
		return nil, nil, err
	}
	var num string
	var digest []byte
	err := s.r.QueryRowContext(ctx, `SELECT number, tbs_digest FROM crl_high_water WHERE ca = $1`, ca).Scan(&num, &digest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: CRL high-water of %s: %w", ca, err)
	}
	n, ok := new(big.Int).SetString(strings.TrimLeft(num, "0"), 10)
	if !ok {
		if strings.Trim(num, "0") != "" {
			return nil, nil, fmt.Errorf("store: CRL high-water of %s: %q is not a number", ca, num)
		}
		n = new(big.Int)
	}
	return n, digest, nil
}

// RaiseCRLHighWater records number (with its TBS digest and thisUpdate) as the CA's high-water
// mark (at: when) if it is higher than the one recorded; a lower or equal number changes nothing, so nodes
// racing on consecutive CRLs never lower it.
func (s *Store) RaiseCRLHighWater(ctx context.Context, ca string, number *big.Int, tbsDigest []byte, thisUpdate, at time.Time) error {
	if err := validate("RaiseCRLHighWater").str("ca", ca).bytes("tbsDigest", tbsDigest).time("thisUpdate", thisUpdate).time("at", at).done(); err != nil {
		return err
	}
	num, err := padNumber(number)
	if err != nil {
		return fmt.Errorf("store: RaiseCRLHighWater %s: %w", ca, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO crl_high_water (ca, number, tbs_digest, this_update, recorded_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (ca) DO UPDATE SET number = excluded.number, tbs_digest = excluded.tbs_digest,
			this_update = excluded.this_update, recorded_at = excluded.recorded_at
		WHERE crl_high_water.number < excluded.number`,
		ca, num, tbsDigest, nanos(thisUpdate), nanos(at))
	if err != nil {
		return fmt.Errorf("store: RaiseCRLHighWater %s: %w", ca, err)
	}
	return nil
}
