package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Stream is a server-sent events response (text/event-stream), for pages that move on or update
// when something happens elsewhere (a holder's card answers, a verification arrives). ui.js
// consumes events named "go" (data: a same-origin path to open) and "text" (data: new text).
type Stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// NewStream starts a stream: headers, no write deadline (the server's WriteTimeout would cut a
// long stream), and a first flush so the browser knows it is open.
func NewStream(w http.ResponseWriter, r *http.Request) (*Stream, error) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	_ = rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	s := &Stream{w: w, rc: rc}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil, err
	}
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("ui: stream: %w", err)
	}
	return s, nil
}

// Send writes one event; data may span lines. event and id must be single-line.
func (s *Stream) Send(event, data string) error {
	if strings.ContainsAny(event, "\r\n") {
		return errors.New("ui: stream: event name has a line break")
	}
	var b strings.Builder
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	for _, l := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		b.WriteString("data: " + l + "\n")
	}
	b.WriteString("\n")
	if _, err := fmt.Fprint(s.w, b.String()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// Ping writes a comment, keeping proxies from closing an idle stream.
func (s *Stream) Ping() error {
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}
