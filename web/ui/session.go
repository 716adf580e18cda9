package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mynagate/mynagate/internal/kdf"
)

// Session is a browser's session, kept in a sealed cookie: an id (for an app that keeps
// server-side state, e.g. to end sessions at logout), a CSRF token and a few string values.
// Changes are written back as a new cookie before the response's headers go out.
type Session struct {
	id      string
	csrf    string
	values  map[string]string
	issued  time.Time
	expires time.Time
	dirty   bool
	ttl     time.Duration
	rand    io.Reader
	now     func() time.Time
}

// ID is the session's random id (it changes at Renew).
func (s *Session) ID() string { return s.id }

// CSRF is the session's synchronizer token.
func (s *Session) CSRF() string { return s.csrf }

// Issued is when the session (or its last renewal) began.
func (s *Session) Issued() time.Time { return s.issued }

// Get returns a value ("" if unset).
func (s *Session) Get(k string) string { return s.values[k] }

// Set sets a value; an empty v deletes it.
func (s *Session) Set(k, v string) {
	if v == "" {
		delete(s.values, k)
	} else {
		s.values[k] = v
	}
	s.dirty = true
}

// Renew gives the session a new id and CSRF token and restarts its lifetime, keeping its
// values. Call it at every change of privilege (login) so that a session id or token planted
// before cannot be used after (session fixation).
func (s *Session) Renew() {
	s.id, s.csrf = token(s.rand, 16), token(s.rand, 32)
	s.issued = s.now()
	s.expires = s.issued.Add(s.ttl)
	s.dirty = true
}

// Clear drops every value and renews the session (logout).
func (s *Session) Clear() {
	s.values = map[string]string{}
	s.Renew()
}

func (u *UI) newSession() *Session {
	s := &Session{values: map[string]string{}, ttl: u.cfg.SessionTTL, rand: u.cfg.Rand, now: u.cfg.Clock.Now}
	s.Renew()
	return s
}

func token(r io.Reader, n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		panic("ui: randomness failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// wire is the sealed form of a session.
type wire struct {
	ID      string            `json:"i"`
	CSRF    string            `json:"c"`
	Values  map[string]string `json:"v,omitempty"`
	Issued  int64             `json:"t"`
	Expires int64             `json:"e"`
}

// sealer seals sessions with AES-256-GCM under the kdf.UISession keys of the caller's secrets
// (each at least 32 bytes, checked by kdf.New); the first key seals, all of them open.
type sealer struct {
	aeads []cipher.AEAD
	name  string
	u     *UI
}

func newSealer(key []byte, old [][]byte, name string) (*sealer, error) {
	s := &sealer{name: name}
	for i, k := range append([][]byte{key}, old...) {
		secret, err := kdf.New(k)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("ui: session key: %w", err)
			}
			return nil, fmt.Errorf("ui: old session key %d: %w", i-1, err)
		}
		b, err := aes.NewCipher(secret.Key(kdf.UISession))
		if err != nil {
			return nil, err
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, a)
	}
	return s, nil
}

// cookieNames: on https the __Host- prefix (Secure, Path=/, no Domain: no subdomain can set it).
func (s *sealer) cookieName(secure bool) string {
	if secure {
		return "__Host-" + s.name
	}
	return s.name
}

func (u *UI) sealSession(sess *Session) string {
	s := u.sealer
	pt, _ := json.Marshal(wire{ID: sess.id, CSRF: sess.csrf, Values: sess.values, Issued: sess.issued.Unix(), Expires: sess.expires.Unix()})
	nonce := make([]byte, s.aeads[0].NonceSize())
	if _, err := io.ReadFull(u.cfg.Rand, nonce); err != nil {
		panic("ui: randomness failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(s.aeads[0].Seal(nonce, nonce, pt, []byte(s.name)))
}

func (s *sealer) cookie(sess *Session, secure bool, now time.Time) *http.Cookie {
	return &http.Cookie{Name: s.cookieName(secure), Value: s.u.sealSession(sess), Path: "/",
		Expires: sess.expires, MaxAge: int(sess.expires.Sub(now).Seconds()), HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode}
}

// open returns the request's session if its cookie opens under one of the keys and has not
// expired; a tampered, foreign or stale cookie is no session at all.
func (s *sealer) open(r *http.Request, now time.Time) (*Session, bool) {
	c, err := r.Cookie(s.cookieName(SecureRequest(r)))
	if err != nil || len(c.Value) > 4096 {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c.Value)
	if err != nil {
		return nil, false
	}
	for _, a := range s.aeads {
		if len(raw) < a.NonceSize()+a.Overhead() {
			return nil, false
		}
		pt, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(s.name))
		if err != nil {
			continue
		}
		var w wire
		if json.Unmarshal(pt, &w) != nil || w.ID == "" || w.CSRF == "" {
			return nil, false
		}
		exp := time.Unix(w.Expires, 0)
		if !now.Before(exp) {
			return nil, false
		}
		if w.Values == nil {
			w.Values = map[string]string{}
		}
		return &Session{id: w.ID, csrf: w.CSRF, values: w.Values, issued: time.Unix(w.Issued, 0), expires: exp,
			ttl: s.u.cfg.SessionTTL, rand: s.u.cfg.Rand, now: s.u.cfg.Clock.Now}, true
	}
	return nil, false
}
