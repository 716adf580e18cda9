package platform

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Kind classifies an Error for the API layer, which alone maps it to an HTTP status.
type Kind int

// Error kinds.
const (
	KindInternal         Kind = iota // 500; the detail is logged, never sent
	KindInvalid                      // 400: the request is malformed
	KindUnauthorized                 // 401: missing or invalid API key
	KindNotFound                     // 404
	KindConflict                     // 409: the state forbids it (challenge already answered)
	KindGone                         // 410: expired (challenge)
	KindRejected                     // 422: a verification was carried out and rejected
	KindUnavailable                  // 503: a dependency (J-LIS, revocation data) is unavailable
	KindTooLarge                     // 413: body too large
	KindMethodNotAllowed             // 405: a known path, another method
	KindUnsupportedMedia             // 415: a body that is not application/json
	KindTooManyRequests              // 429: a rate limit; RetryAfter says when to retry
	KindForbidden                    // 403: the caller is known but may not do this (widen its own allowance)
)

// Error is the platform's error across the API boundary. Type is the stable problem type slug
// (e.g. "cert-revoked"); Detail says what happened in words a developer can act on.
type Error struct {
	Kind   Kind
	Type   string
	Detail string
	Err    error // underlying cause, logged, never sent
	// RetryAfter is when a KindTooManyRequests request may be retried (the Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("platform: %s: %s: %v", e.Type, e.Detail, e.Err)
	}
	return fmt.Sprintf("platform: %s: %s", e.Type, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// LogValue implements slog.LogValuer.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("type", e.Type), slog.String("detail", e.Detail)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

func newError(k Kind, typ, format string, a ...any) *Error {
	return &Error{Kind: k, Type: typ, Detail: fmt.Sprintf(format, a...)}
}

// internal wraps an unexpected error.
func internal(err error) *Error {
	return &Error{Kind: KindInternal, Type: "internal", Detail: "internal error", Err: err}
}

// AsError returns err as an *Error, wrapping unknown errors as internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return internal(err)
}
