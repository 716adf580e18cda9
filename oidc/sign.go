package oidc

// The sign scope: a relying party asks the holder to sign a document's SHA-256 with the signing
// key and receives a detached CMS (CAdES-BES) it verifies with any CMS tool.
//
// The document's hash comes in a request object (RFC 9101, the request= parameter): a JWS
// (HS256) by the client over its authorization parameters and document_sha256. zitadel's op
// drops parameters it does not know, so a query parameter would never reach the provider's
// storage; and a request object also says that the relying party's back end, not whoever
// handed the browser a link, asked for this very hash. The provider verifies it here, in front
// of the library's /authorize, and hands the library only the parameters the object states
// (RFC 9101 §6.3: the object's values are the request). Since the provider keeps only SHA-256
// of a client secret, the HMAC key is that hash: HMAC-SHA256 keyed with SHA-256(client_secret).
// A public client has no secret and cannot ask for a signature.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/mynagate/mynagate/platform"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// maxRequestObject bounds the request= parameter (bytes).
const maxRequestObject = 8 << 10

// maxRequestObjectLife bounds how far ahead a request object's exp may be.
const maxRequestObjectLife = time.Hour

// requestObjectParams are the authorization parameters a request object may state; the
// library gets these and client_id, nothing from the query.
var requestObjectParams = []string{"response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "ui_locales", "response_mode", "login_hint"}

// signDoc is the document a verified request object asks to sign, passed in the request's
// context from authorize to CreateAuthRequest.
type signDoc struct {
	clientID string
	sha256   string // 64 lower-case hex digits
}

type signDocKey struct{}

func signDocOf(ctx context.Context) *signDoc {
	d, _ := ctx.Value(signDocKey{}).(*signDoc)
	return d
}

func errRequestObject(format string, a ...any) *oidc.Error {
	return (&oidc.Error{ErrorType: "invalid_request_object"}).WithDescription(format, a...)
}

// authorize serves /authorize: a request with a request object is verified and replaced by the
// parameters it states (with its document hash in the context); any other goes to the library.
func (pr *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("cannot parse the request"))
		return
	}
	raw := r.Form.Get("request")
	if raw == "" {
		http.StripPrefix(pr.base, pr.op).ServeHTTP(w, r)
		return
	}
	q, doc, oerr := pr.requestObject(r.Context(), r.Form.Get("client_id"), raw)
	if oerr != nil {
		// Not redirected: nothing in an unverified object may choose where the answer goes.
		writeOAuthError(w, http.StatusBadRequest, oerr)
		return
	}
	ctx := r.Context()
	if doc != nil {
		ctx = context.WithValue(ctx, signDocKey{}, doc)
	}
	r2 := r.Clone(ctx)
	r2.Method, r2.Body, r2.ContentLength = http.MethodGet, http.NoBody, 0
	r2.Header.Del("Content-Type")
	r2.URL.RawQuery, r2.Form, r2.PostForm = q.Encode(), nil, nil
	http.StripPrefix(pr.base, pr.op).ServeHTTP(w, r2)
}

// requestObject verifies a client's request object and returns the authorization parameters it
// states, and the document to sign when it names one.
func (pr *Provider) requestObject(ctx context.Context, clientID, raw string) (url.Values, *signDoc, *oidc.Error) {
	if len(raw) > maxRequestObject {
		return nil, nil, errRequestObject("the request object is longer than %d bytes", maxRequestObject)
	}
	if clientID == "" {
		return nil, nil, oidc.ErrInvalidRequest().WithDescription("client_id is required beside a request object")
	}
	c, err := pr.st.OIDCClient(ctx, clientID)
	if errors.Is(err, platform.ErrNotFound) || (err == nil && c.DeletedAt != nil) {
		return nil, nil, oidc.ErrInvalidClient().WithDescription("client %s is not registered", clientID)
	}
	if err != nil {
		logErr(ctx, "read a request object's client", err)
		return nil, nil, oidc.ErrServerError()
	}
	if c.Public() {
		return nil, nil, errRequestObject("a public client has no secret to sign a request object with")
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, nil, errRequestObject("the request object is not a JWS signed with HS256")
	}
	payload, err := jws.Verify(c.SecretHash)
	if err != nil {
		return nil, nil, errRequestObject("the request object is not signed by client %s", clientID)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, nil, errRequestObject("the request object's payload is not a JSON object")
	}
	str := func(k string) (string, bool) {
		v, ok := claims[k]
		if !ok {
			return "", true
		}
		s, isStr := v.(string)
		return s, isStr
	}
	if iss, ok := str("iss"); !ok || iss != clientID {
		return nil, nil, errRequestObject("the request object's iss is not the client_id")
	}
	if id, ok := str("client_id"); !ok || (id != "" && id != clientID) {
		return nil, nil, errRequestObject("the request object's client_id is not the request's")
	}
	if !audienceHas(claims["aud"], pr.cfg.Issuer) {
		return nil, nil, errRequestObject("the request object's aud is not this provider (%s)", pr.cfg.Issuer)
	}
	exp, ok := claims["exp"].(float64)
	now := pr.clk.Now()
	switch {
	case !ok:
		return nil, nil, errRequestObject("the request object has no exp")
	case !now.Before(time.Unix(int64(exp), 0)):
		return nil, nil, errRequestObject("the request object has expired")
	case time.Unix(int64(exp), 0).After(now.Add(maxRequestObjectLife)):
		return nil, nil, errRequestObject("the request object's exp is more than %s ahead", maxRequestObjectLife)
	}
	q := url.Values{"client_id": {clientID}}
	for _, k := range requestObjectParams {
		v, ok := str(k)
		if !ok {
			if n, isNum := claims[k].(float64); isNum && k == "max_age" {
				v = fmt.Sprint(int64(n))
			} else {
				return nil, nil, errRequestObject("the request object's %s is not a string", k)
			}
		}
		if v != "" {
			q.Set(k, v)
		}
	}
	d, ok := str("document_sha256")
	if !ok {
		return nil, nil, errRequestObject("document_sha256 is not a string")
	}
	if d == "" {
		return q, nil, nil
	}
	if b, err := hex.DecodeString(d); err != nil || len(b) != 32 || hex.EncodeToString(b) != d {
		return nil, nil, errRequestObject("document_sha256 is not a SHA-256 in 64 lower-case hex digits")
	}
	return q, &signDoc{clientID: clientID, sha256: d}, nil
}

func audienceHas(aud any, issuer string) bool {
	switch a := aud.(type) {
	case string:
		return a == issuer
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s == issuer {
				return true
			}
		}
	}
	return false
}

// DocumentSignature is the userinfo claim document_signature of a login with the sign scope.
type DocumentSignature struct {
	// CMS is the detached CMS SignedData (CAdES-BES, DER) in standard base64: verify it with
	// `openssl cms -verify -binary -inform DER -content DOCUMENT` and the J-LIS signing CA.
	CMS string `json:"cms"`
	// DocumentSHA256 is the hash signed, in hex; compare it with the document's.
	DocumentSHA256 string `json:"document_sha256"`
}

// documentSignature reads the CMS of a token's login from the platform (which assembles it from
// the verification's sealed evidence entry).
func (pr *Provider) documentSignature(ctx context.Context, t *Token) (*DocumentSignature, error) {
	tenant, err := pr.p.Tenant(ctx, t.TenantID)
	if err != nil {
		return nil, err
	}
	cms, digest, err := pr.p.SignedDocument(ctx, tenant, t.VerificationID)
	if err != nil {
		return nil, err
	}
	return &DocumentSignature{CMS: base64.StdEncoding.EncodeToString(cms), DocumentSHA256: hex.EncodeToString(digest)}, nil
}
