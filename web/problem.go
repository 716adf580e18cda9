package web

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/mynagate/mynagate/platform"
)

// ProblemBase prefixes every problem type URI; the suffix is the stable slug (RFC 9457 §3.1.1).
const ProblemBase = "https://mynagate.dev/problems/"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// RequestID lets an operator find the request's log line.
	RequestID string `json:"request_id,omitempty"`
	// VerificationID is set when a rejected verification was recorded.
	VerificationID string `json:"verification_id,omitempty"`
}

// statusOf maps a platform error kind to an HTTP status. This is the only place that does.
func statusOf(k platform.Kind) int {
	switch k {
	case platform.KindInvalid:
		return http.StatusBadRequest
	case platform.KindUnauthorized:
		return http.StatusUnauthorized
	case platform.KindNotFound:
		return http.StatusNotFound
	case platform.KindConflict:
		return http.StatusConflict
	case platform.KindGone:
		return http.StatusGone
	case platform.KindRejected:
		return http.StatusUnprocessableEntity
	case platform.KindUnavailable:
		return http.StatusServiceUnavailable
	case platform.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case platform.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case platform.KindUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case platform.KindForbidden:
		return http.StatusForbidden
	case platform.KindTooManyRequests:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// writeProblem answers with the problem document of err. Internal errors are logged with their
// cause and sent as a bare 500.
func writeProblem(w http.ResponseWriter, r *http.Request, err error, verificationID string) {
	e := platform.AsError(err)
	status := statusOf(e.Kind)
	if status == http.StatusInternalServerError {
		slog.ErrorContext(r.Context(), "web: internal error", "err", e, "path", r.URL.Path, "request_id", requestID(r))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mynagate"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	if status == http.StatusUnsupportedMediaType {
		w.Header().Set("Accept-Post", "application/json")
	}
	p := Problem{Type: ProblemBase + e.Type, Title: http.StatusText(status), Status: status, Detail: e.Detail,
		Instance: r.URL.Path, RequestID: requestID(r), VerificationID: verificationID}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
	for w != nil {
		if rec, ok := w.(*recorder); ok {
			rec.problem = e.Type
			break
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
}

// invalid is a shorthand for a 400 problem.
func invalid(format string, a ...any) error {
	return &platform.Error{Kind: platform.KindInvalid, Type: "invalid-request", Detail: fmt.Sprintf(format, a...)}
}
