package store

import (
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
)

// validator collects the first missing or invalid input of a call (boulder's
// core.IsAnyNilOrZero + errIncompleteRequest, with the field named).
type validator struct {
	op  string
	err *IncompleteError
}

func validate(op string) *validator { return &validator{op: op} }

// check records reason against field unless ok, keeping the first failure.
func (v *validator) check(field string, ok bool, reason string) *validator {
	if v.err == nil && !ok {
		v.err = &IncompleteError{Op: v.op, Field: field, Reason: reason}
	}
	return v
}

func (v *validator) str(field, s string) *validator { return v.check(field, s != "", "is empty") }

func (v *validator) bytes(field string, b []byte) *validator {
	return v.check(field, len(b) > 0, "is empty")
}

// Times are stored as int64 nanoseconds since 1970, which hold 1970 to 2262; a time outside
// that range (the zero time included) is a caller's bug, not something to store.
func (v *validator) time(field string, t time.Time) *validator {
	return v.check(field, !t.IsZero() && t.Year() >= 1970 && t.Year() < 2262, "is zero or out of range")
}

func (v *validator) purpose(field string, p platform.Purpose) *validator {
	return v.check(field, p.Valid(), "is not a known purpose")
}

// record checks what storing an evidence record needs beyond its ids: a leaf, and sealed data
// with its wrapped key and retention end, or neither. f prefixes the field names.
func (v *validator) record(f string, r *evidence.Record) *validator {
	v.bytes(f+"LeafData", r.LeafData).
		check(f+"Sealed", (len(r.Sealed) > 0) == (len(r.WrappedKey) > 0), "and WrappedKey must be both present or both absent")
	if len(r.Sealed) > 0 {
		v.time(f+"ShredAfter", r.ShredAfter)
	}
	return v
}

func (v *validator) done() error {
	if v.err == nil {
		return nil
	}
	return v.err
}

// validMonth reports whether m is YYYY-MM.
func validMonth(m string) bool {
	t, err := time.Parse("2006-01", m)
	return err == nil && t.Format("2006-01") == m
}
