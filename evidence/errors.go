package evidence

import (
	"errors"
	"fmt"
	"log/slog"
)

// Sentinel errors of the storage contract. Storage implementations MUST return these (wrapped is
// fine) so that the log can tell the cases apart with errors.Is.
var (
	// ErrNotFound: the entry or checkpoint does not exist. Bundle and Wait return it too for an
	// entry of another tenant. The API answers 404.
	ErrNotFound = errors.New("evidence: not found")
	// ErrDuplicate: a record to add has an id already stored; nothing was written
	// (evidencetest.Storage's AddEntries).
	ErrDuplicate = errors.New("evidence: duplicate entry id")
	// ErrTreeMoved: Integrate found the tree at another size than the integration starts from
	// (another integrator ran in between), or an id that is already sequenced; nothing was
	// written. The log reloads its tree and tries again.
	ErrTreeMoved = errors.New("evidence: the tree moved under the integrator")
	// ErrCheckpointNotNewer: AddCheckpoint was given a checkpoint whose size is not larger than
	// the latest stored one; nothing was written. Publish then returns the stored one.
	ErrCheckpointNotNewer = errors.New("evidence: checkpoint is not newer than the latest")
)

// Errors of the log itself.
var (
	// ErrNotIntegrated is returned by Bundle for an entry that is stored but not yet in the tree
	// (the integrator runs every few hundred milliseconds). The API answers 503 with Retry-After: 1;
	// Wait blocks until the entry is integrated.
	ErrNotIntegrated = errors.New("evidence: entry is stored but not yet integrated into the tree")
	// ErrInvalidEntry is returned (wrapped in an *EntryError) by Prepare and Append for an entry
	// the log cannot record: a missing id, an unknown decision, a field too long for its
	// encoding. It is a bug in the caller; nothing was stored.
	ErrInvalidEntry = errors.New("evidence: invalid entry")
	// ErrCorrupt means the log's own storage contradicts itself: the stored tree does not hash
	// to its stored root, a tile is missing hashes, a checkpoint would contradict an earlier one.
	// The log refuses to integrate or sign until an operator investigates (mynagate evidence
	// audit says where).
	ErrCorrupt = errors.New("evidence: storage is inconsistent")
)

// EntryError says which field of an entry Prepare refused.
type EntryError struct {
	Field  string // e.g. "Challenge"
	Reason string // e.g. "is longer than 65535 bytes"
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("evidence: invalid entry: %s %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidEntry) true.
func (e *EntryError) Unwrap() error { return ErrInvalidEntry }

// Reason classifies why a bundle, an export or a consistency proof failed verification, or what
// an audit found.
type Reason int

// Verification failure reasons.
const (
	// ReasonMalformed: the file is not a well-formed, canonical evidence document (a flipped
	// byte in its syntax lands here).
	ReasonMalformed Reason = iota + 1
	// ReasonUnsupportedVersion: a format or leaf version this program does not know.
	ReasonUnsupportedVersion
	// ReasonWrongKey: the checkpoint is not signed by the key the verifier trusts, or the
	// document names another log key.
	ReasonWrongKey
	// ReasonBadSignature: the checkpoint names the trusted key but its signature is invalid
	// (the checkpoint text or signature was altered).
	ReasonBadSignature
	// ReasonWrongOrigin: the checkpoint's origin line is not the trusted key's log.
	ReasonWrongOrigin
	// ReasonNotIncluded: the inclusion proof does not lead from the entry to the checkpoint's
	// root (the entry, its index or the proof was altered).
	ReasonNotIncluded
	// ReasonSealedMismatch: the sealed personal data does not hash to the commitment in the
	// entry.
	ReasonSealedMismatch
	// ReasonDataKeyMismatch: the disclosed data key does not match the entry's key commitment,
	// or does not open the sealed data.
	ReasonDataKeyMismatch
	// ReasonInconsistent: an older checkpoint is not a prefix of a newer one (the log was
	// rewritten or forked), or a document's parts contradict each other.
	ReasonInconsistent
	// ReasonStorageMismatch: an audit found the stored log disagreeing with what it committed
	// to (a leaf, a tile or a checkpoint).
	ReasonStorageMismatch
)

var reasonNames = map[Reason]string{
	ReasonMalformed:          "malformed",
	ReasonUnsupportedVersion: "unsupported-version",
	ReasonWrongKey:           "wrong-key",
	ReasonBadSignature:       "bad-signature",
	ReasonWrongOrigin:        "wrong-origin",
	ReasonNotIncluded:        "not-included",
	ReasonSealedMismatch:     "sealed-mismatch",
	ReasonDataKeyMismatch:    "data-key-mismatch",
	ReasonInconsistent:       "inconsistent",
	ReasonStorageMismatch:    "storage-mismatch",
}

// String returns the reason's stable slug, e.g. "not-included".
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// VerifyError is the one error type of the offline verifier and of Audit: a reason and a detail
// written for the person holding the file.
type VerifyError struct {
	Reason Reason
	Detail string
	Err    error // underlying cause, if any
}

func (e *VerifyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("evidence: %s: %s: %v", e.Reason, e.Detail, e.Err)
	}
	return fmt.Sprintf("evidence: %s: %s", e.Reason, e.Detail)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// LogValue implements slog.LogValuer.
func (e *VerifyError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("reason", e.Reason.String()), slog.String("detail", e.Detail)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

func verifyErr(r Reason, format string, a ...any) *VerifyError {
	return &VerifyError{Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// IsReason reports whether err is a *VerifyError with reason r.
func IsReason(err error, r Reason) bool {
	var ve *VerifyError
	return errors.As(err, &ve) && ve.Reason == r
}
