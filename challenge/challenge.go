// Package challenge is the text a holder's card signs (docs/design/challenge.md): eight
// LF-terminated "key=value" lines in a fixed order with strict values, so that one challenge has
// exactly one encoding and the holder's app can check, before the card signs, that it is a
// challenge of the platform its URL names, for the session in the URL, for the key it is about
// to use, and still valid:
//
//	mynagate-challenge/v1
//	origin=https://verify.example
//	session=s_…
//	tenant=t_…
//	tenant-name=<the tenant's display name, percent-encoded>
//	purpose=identity|login|chip_reading
//	expires=2026-04-01T01:05:00Z
//	nonce=<32 random bytes, unpadded base64url>
//
// A document-signing challenge (the OpenID provider's sign scope) has three more lines, and its
// purpose is identity (the signing key):
//
//	document-sha256=<64 lower-case hex digits>
//	rp=<the relying party's name, percent-encoded as tenant-name>
//	signing-time=2026-04-01T01:00:00Z
//
// The holder then signs not the challenge but CAdES signed attributes over the document's
// SHA-256 that carry the challenge (package cades, ChallengeAttribute).
// The platform writes challenges with Encode and the holder's side (package client) reads them
// with Parse, so the two cannot drift apart. The package imports nothing of this module: the
// platform and the client both use it, and the client must not import the platform.
//
// The encoder and parser are written here rather than taken from a library because the format
// is this project's own.
package challenge

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Domain is the first line of every challenge, so a signature made for mynagate cannot be
// replayed as a signature over anything else, and vice versa.
const Domain = "mynagate-challenge/v1"

// MaxTenantName bounds the tenant display name a challenge carries, in bytes of UTF-8.
const MaxTenantName = 256

// maxLen bounds the size of a challenge Parse reads.
const maxLen = 4096

// Fields is a parsed challenge.
type Fields struct {
	Origin     string // scheme://host[:port] of the platform, lower case, default port omitted
	SessionID  string
	TenantID   string
	TenantName string // as the platform sent it; show it with client.DisplayName
	Purpose    string // identity (signing key), login (authentication key) or chip_reading (no key: echoed, not signed)
	ExpiresAt  time.Time
	Nonce      []byte // 32 bytes
	// Document signing only: the document's SHA-256 (32 bytes; nil for a plain verification),
	// the relying party that asks for the signature (its display name, at most MaxTenantName
	// bytes) and the signing time the signed attributes state (to the second).
	DocumentSHA256 []byte
	RP             string
	SigningTime    time.Time
}

// Signing reports whether the challenge asks for a document signature.
func (f *Fields) Signing() bool { return f.DocumentSHA256 != nil }

var keys = [...]string{"origin", "session", "tenant", "tenant-name", "purpose", "expires", "nonce"}

var signKeys = [...]string{"document-sha256", "rp", "signing-time"}

// Encode writes a challenge in its canonical form.
func Encode(f Fields) []byte {
	var b bytes.Buffer
	b.WriteString(Domain + "\n")
	vals := [...]string{f.Origin, f.SessionID, f.TenantID, escapeName(f.TenantName), f.Purpose,
		f.ExpiresAt.UTC().Format(time.RFC3339), base64.RawURLEncoding.EncodeToString(f.Nonce)}
	for i, k := range keys {
		b.WriteString(k + "=" + vals[i] + "\n")
	}
	if f.Signing() {
		svals := [...]string{hex.EncodeToString(f.DocumentSHA256), escapeName(f.RP), f.SigningTime.UTC().Format(time.RFC3339)}
		for i, k := range signKeys {
			b.WriteString(k + "=" + svals[i] + "\n")
		}
	}
	return b.Bytes()
}

// escapeName percent-encodes every byte of s but ALPHA, DIGIT, "-", ".", "_" and "~" (RFC 3986
// unreserved), with upper-case hex digits.
func escapeName(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// Parse parses a challenge, refusing anything but the one canonical encoding.
func Parse(b []byte) (*Fields, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("not a mynagate challenge: "+format, a...)
	}
	if len(b) > maxLen {
		return nil, bad("%d bytes is too long", len(b))
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) == 0 || lines[0] != Domain {
		return nil, bad("it does not start with %s", Domain)
	}
	signing := len(lines) == len(keys)+len(signKeys)+2
	if (len(lines) != len(keys)+2 && !signing) || lines[len(lines)-1] != "" {
		return nil, bad("it has %d lines, not %d (or %d to sign a document) ending with a line feed", len(lines)-1, len(keys)+1, len(keys)+len(signKeys)+1)
	}
	var v [len(keys)]string
	for i, k := range keys {
		val, ok := strings.CutPrefix(lines[i+1], k+"=")
		if !ok {
			return nil, bad("line %d is not %s=", i+2, k)
		}
		v[i] = val
	}
	f := &Fields{Origin: v[0], SessionID: v[1], TenantID: v[2], Purpose: v[4]}
	if o, err := Origin(f.Origin); err != nil || o != f.Origin {
		return nil, bad("origin %q is not a canonical http(s) origin", f.Origin)
	}
	if !idLike(f.SessionID) || !idLike(f.TenantID) {
		return nil, bad("session or tenant id is malformed")
	}
	name, err := textValue(v[3])
	if err != nil {
		return nil, bad("tenant-name %s", err)
	}
	f.TenantName = name
	if !signing {
		return parseRest(f, v, bad)
	}
	var sv [len(signKeys)]string
	for i, k := range signKeys {
		val, ok := strings.CutPrefix(lines[len(keys)+1+i], k+"=")
		if !ok {
			return nil, bad("line %d is not %s=", len(keys)+2+i, k)
		}
		sv[i] = val
	}
	digest, err := hex.DecodeString(sv[0])
	if err != nil || len(digest) != 32 || hex.EncodeToString(digest) != sv[0] {
		return nil, bad("document-sha256 is not 64 lower-case hex digits")
	}
	rp, err := textValue(sv[1])
	if err != nil {
		return nil, bad("rp %s", err)
	}
	at, err := time.Parse(time.RFC3339, sv[2])
	if err != nil || at.UTC().Format(time.RFC3339) != sv[2] {
		return nil, bad("signing-time %q is not an RFC 3339 UTC time to the second", sv[2])
	}
	f.DocumentSHA256, f.RP, f.SigningTime = digest, rp, at
	if _, err := parseRest(f, v, bad); err != nil {
		return nil, err
	}
	if f.Purpose != "identity" {
		return nil, bad("a document is signed with the signing key (purpose identity), not %s", f.Purpose)
	}
	return f, nil
}

// parseRest checks the purpose, expiry and nonce lines.
func parseRest(f *Fields, v [len(keys)]string, bad func(string, ...any) error) (*Fields, error) {
	if f.Purpose != "identity" && f.Purpose != "login" && f.Purpose != "chip_reading" {
		return nil, bad("purpose %q is not identity, login or chip_reading", f.Purpose)
	}
	exp, err := time.Parse(time.RFC3339, v[5])
	if err != nil || exp.UTC().Format(time.RFC3339) != v[5] {
		return nil, bad("expires %q is not an RFC 3339 UTC time to the second", v[5])
	}
	f.ExpiresAt = exp
	nonce, err := base64.RawURLEncoding.Strict().DecodeString(v[6])
	if err != nil || len(nonce) != 32 {
		return nil, bad("nonce is not 32 bytes in unpadded base64url")
	}
	f.Nonce = nonce
	return f, nil
}

// textValue decodes a percent-encoded name line (tenant-name, rp).
func textValue(v string) (string, error) {
	name, err := url.PathUnescape(v)
	if err != nil || escapeName(name) != v || !utf8.ValidString(name) || len(name) > MaxTenantName {
		return "", fmt.Errorf("is not canonical percent-encoded UTF-8 of at most %d bytes", MaxTenantName)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", errors.New("carries control characters (a terminal escape sequence?)")
	}
	return name, nil
}

func idLike(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Origin returns the origin of an http(s) URL as a challenge states it: scheme "://" host
// [":" port], in lower case, without the scheme's default port.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host, nil
}
