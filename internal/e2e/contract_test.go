package e2e

// The API contract: api/openapi.yaml is checked as an OpenAPI 3.1 document, against the routes
// package web registers, and against real traffic — every request the public client sends and
// every response the server writes in the flows below goes through a validating transport, and
// the flows must reach every status each operation declares and every problem type.
//
// Each route family is a test of its own (TestContractSessions, TestContractWebhooks, …) on a
// platform of its own: it runs alone and in any order, and makes what it builds on (a verified
// session, a webhook endpoint, a card issued a day on) with the fixture's helpers. Every
// exchange any family sees is recorded in one package-level set; TestMain checks, after the
// tests ran, that the set reaches every declared response and every problem type — only when
// every family in contractFamilies ran in this process (a -run or -skip that leaves one out
// skips the check, since the coverage is the families' together).

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/notify"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	vderrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/mynagate/mynagate/api"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/verify"
	"github.com/mynagate/mynagate/web"
	"github.com/mynagate/mynagate/webhook"
)

// spec is the parsed contract.
type spec struct {
	doc   libopenapi.Document
	model *v3.Document
	// ops maps "METHOD /template" to the response codes the operation declares.
	ops map[string][]string
	// templates are the path templates, e.g. /v1/sessions/{id}.
	templates []string
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	s, err := parseSpec()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseSpec() (*spec, error) {
	doc, err := libopenapi.NewDocument(api.Spec)
	if err != nil {
		return nil, fmt.Errorf("parse api/openapi.yaml: %v", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build the model of api/openapi.yaml: %v", err)
	}
	s := &spec{doc: doc, model: &m.Model, ops: map[string][]string{}}
	for p := m.Model.Paths.PathItems.First(); p != nil; p = p.Next() {
		s.templates = append(s.templates, p.Key())
		for o := p.Value().GetOperations().First(); o != nil; o = o.Next() {
			var codes []string
			for c := o.Value().Responses.Codes.First(); c != nil; c = c.Next() {
				codes = append(codes, c.Key())
			}
			s.ops[strings.ToUpper(o.Key())+" "+p.Key()] = codes
		}
	}
	return s, nil
}

// template returns the path template matching path, or "".
func (s *spec) template(path string) string {
	segs := strings.Split(path, "/")
	// A literal segment beats a parameter (as in net/http's ServeMux): /v1/evidence/key is not
	// /v1/evidence/{id}.
	best, bestParams := "", -1
	for _, tpl := range s.templates {
		ts := strings.Split(tpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		ok := true
		for i := range ts {
			if ts[i] != segs[i] && !(strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") && segs[i] != "") {
				ok = false
				break
			}
		}
		if params := strings.Count(tpl, "{"); ok && (bestParams < 0 || params < bestParams) {
			best, bestParams = tpl, params
		}
	}
	return best
}

func (s *spec) schema(t *testing.T, name string) *base.Schema {
	t.Helper()
	sp := s.model.Components.Schemas.GetOrZero(name)
	if sp == nil {
		t.Fatalf("api/openapi.yaml has no schema %s", name)
	}
	return sp.Schema()
}

// enum returns the enum values of a component schema.
func (s *spec) enum(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	for _, n := range s.schema(t, name).Enum {
		out = append(out, n.Value)
	}
	return out
}

// problemSlugs returns the problem types the spec lists (ProblemType), by slug.
func (s *spec) problemSlugs(t *testing.T) []string {
	t.Helper()
	out, err := s.problemTypes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *spec) problemTypes() ([]string, error) {
	sp := s.model.Components.Schemas.GetOrZero("ProblemType")
	if sp == nil {
		return nil, errors.New("api/openapi.yaml has no schema ProblemType")
	}
	var out []string
	for _, sp := range sp.Schema().OneOf {
		c := sp.Schema().Const
		if c == nil || !strings.HasPrefix(c.Value, web.ProblemBase) {
			return nil, fmt.Errorf("ProblemType lists %v, not a %s… URI", c, web.ProblemBase)
		}
		out = append(out, strings.TrimPrefix(c.Value, web.ProblemBase))
	}
	return out, nil
}

func TestOpenAPISpecIsValid31(t *testing.T) {
	s := loadSpec(t)
	if v := s.doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi %s, want 3.1.x", v)
	}
	v, errs := validator.NewValidator(s.doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI 3.1 document:\n%s", describe(verrs))
	}

	// Every rejection reason of package verify, plus revocation, is a 422 problem type and a
	// verification reason; every problem type has its status in the responses.
	var reasons []string
	for r := verify.Reason(1); !strings.HasPrefix(r.String(), "Reason("); r++ {
		reasons = append(reasons, r.String())
	}
	reasons = append(reasons, "cert-revoked")
	// The chip reading's own (platform/chipreading.go).
	chipReasons := []string{"challenge-mismatch", "card-data-malformed", "card-data-tampered", "card-signature-invalid", "card-ap-untrusted"}
	reasons = append(reasons, chipReasons...)
	slices.Sort(reasons)
	got := s.enum(t, "RejectionReason")
	slices.Sort(got)
	if !slices.Equal(got, reasons) {
		t.Errorf("RejectionReason %v, want verify's reasons, cert-revoked and the chip reading's %v", got, reasons)
	}
	slugs := s.problemSlugs(t)
	for _, r := range reasons {
		if !slices.Contains(slugs, r) {
			t.Errorf("ProblemType lacks %s", r)
		}
	}
	if len(slugs) != len(problemStatus) {
		t.Errorf("ProblemType lists %d types, the test knows %d: %v", len(slugs), len(problemStatus), slugs)
	}
	responses := s.problemResponses(t)
	for _, slug := range slugs {
		want, ok := problemStatus[slug]
		if !ok {
			t.Errorf("ProblemType %s: the test does not know its status", slug)
			continue
		}
		if len(responses[slug]) == 0 {
			t.Errorf("no problem response admits %s", slug)
		}
		for _, st := range responses[slug] {
			if st != want {
				t.Errorf("a problem response admits %s with status %d, want %d", slug, st, want)
			}
		}
	}
	for slug := range responses {
		if !slices.Contains(slugs, slug) {
			t.Errorf("a problem response admits %s, which ProblemType does not list", slug)
		}
	}
}

// problemStatus is the status each problem type comes with (web's statusOf over platform's kinds).
var problemStatus = map[string]int{
	"invalid-request": 400, "unauthorized": 401, "not-found": 404, "method-not-allowed": 405, "challenge-reused": 409,
	"idempotency-key-reused":    409,
	"idempotency-key-in-flight": 409, "challenge-expired": 410, "body-too-large": 413, "unsupported-media-type": 415, "rate-limited": 429,
	"malformed-certificate": 422, "chain-invalid": 422, "cert-expired": 422, "cert-not-yet-valid": 422,
	"wrong-certificate-kind": 422, "profile-invalid": 422, "signature-invalid": 422, "cert-revoked": 422,
	"internal": 500, "revocation-unavailable": 503, "jlis-unavailable": 503, "not-ready": 503, "evidence-pending": 503,
	"already-disabled": 409, "consent-required": 409, "allowance-widening": 403,
	"challenge-mismatch": 422, "card-data-malformed": 422, "card-data-tampered": 422, "card-signature-invalid": 422, "card-ap-untrusted": 422,
}

// problemResponses reads the problem responses of the spec: for each component response with
// an application/problem+json body, the problem types its schema admits and the status it fixes.
func (s *spec) problemResponses(t *testing.T) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for r := s.model.Components.Responses.First(); r != nil; r = r.Next() {
		mt := r.Value().Content.GetOrZero("application/problem+json")
		if mt == nil {
			continue
		}
		var types []string
		status := 0
		for _, part := range mt.Schema.Schema().AllOf {
			props := part.Schema().Properties
			if props == nil {
				continue
			}
			if tp := props.GetOrZero("type"); tp != nil {
				for _, n := range tp.Schema().Enum {
					types = append(types, n.Value)
				}
			}
			if st := props.GetOrZero("status"); st != nil && st.Schema().Const != nil {
				status, _ = strconv.Atoi(st.Schema().Const.Value)
			}
		}
		if len(types) == 0 || status == 0 {
			t.Errorf("response %s: its problem schema does not narrow type and status", r.Key())
		}
		for _, ty := range types {
			slug, ok := strings.CutPrefix(ty, web.ProblemBase)
			if !ok {
				t.Errorf("response %s admits type %s, not a %s… URI", r.Key(), ty, web.ProblemBase)
			}
			out[slug] = append(out[slug], status)
		}
	}
	return out
}

// TestOpenAPICoversEveryRoute compares the routes web.New registers (read from package web's
// sources, and the OpenID provider's client routes in oidc/clients.go;
// source: ServeMux cannot list its patterns) with the operations of the spec.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	s := loadSpec(t)
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "..", "web", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("find package web's sources: %v", err)
	}
	// The OpenID provider's client registration, added to the API by web.WithTenantRoutes.
	files = append(files, filepath.Join("..", "..", "oidc", "clients.go"))
	var routes []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: route pattern is not a literal; the contract test cannot read it", fset.Position(call.Pos()))
				return true
			}
			pattern, _ := strconv.Unquote(lit.Value)
			if pattern == "/" {
				return true // the catch-all answers 404 not-found, which the spec states in words
			}
			routes = append(routes, pattern)
			return true
		})
	}
	var ops []string
	for op := range s.ops {
		ops = append(ops, op)
	}
	slices.Sort(routes)
	slices.Sort(ops)
	if len(routes) == 0 {
		t.Fatal("found no routes in package web")
	}
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("web registers %q; api/openapi.yaml lacks it", r)
		}
	}
	for _, op := range ops {
		if !slices.Contains(routes, op) {
			t.Errorf("api/openapi.yaml has %q; web does not register it", op)
		}
	}
}

// TestClientMatchesSpec checks that every JSON field the public client reads or writes is a
// property of the spec's schema: the client ignores unknown fields, so a misspelt tag would
// otherwise read as an empty value without any error.
func TestClientMatchesSpec(t *testing.T) {
	s := loadSpec(t)
	for _, c := range []struct {
		v      any
		schema string
	}{
		{client.Session{}, "Session"},
		{client.Verification{}, "Verification"},
		{client.Usage{}, "Usage"},
		{client.CardKey{}, "CardKey"},
		{client.SessionRequest{}, "CreateSessionRequest"},
		{client.Challenge{}, "HolderChallenge"},
		{client.HolderResult{}, "HolderResult"},
		{client.Problem{}, "Problem"},
		{client.EndpointRequest{}, "EndpointRequest"},
		{client.Endpoint{}, "Endpoint"},
		{client.Delivery{}, "Delivery"},
		{client.Watch{}, "Watch"},
		{client.Consent{}, "HolderConsent"},
	} {
		matchFields(t, reflect.TypeOf(c.v), s.schema(t, c.schema), c.schema)
	}
}

func matchFields(t *testing.T, typ reflect.Type, sch *base.Schema, where string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if sch.Items != nil && sch.Items.IsA() {
			sch = sch.Items.A.Schema()
		}
	}
	if typ.Kind() != reflect.Struct || sch.Properties == nil {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop := sch.Properties.GetOrZero(name)
		if prop == nil {
			t.Errorf("client field %s (json %q): %s has no such property", f.Name, name, where)
			continue
		}
		matchFields(t, f.Type, prop.Schema(), where+"."+name)
	}
}

// offSpecKey marks a request the test sends on purpose outside the contract (a missing API key,
// a malformed body): the spec MUST refuse it, and the response MUST still follow it.
type offSpecKey struct{}

func offSpec() context.Context { return context.WithValue(ctx, offSpecKey{}, true) }

// laxKey marks a hostile request the spec cannot tell from a good one (a member name given
// twice, an Authorization header in another form): its request is not judged, its response
// still is.
type laxKey struct{}

func lax() context.Context { return context.WithValue(ctx, laxKey{}, true) }

// exchange is one request and response seen through the contract transport.
type exchange struct {
	op     string // "METHOD /template", or "METHOD path" for unrouted requests
	status int
	slug   string // problem type slug, when the response is a problem
}

// contract is an http.RoundTripper that validates every request and response against the spec,
// reporting to the test it was made for.
type contract struct {
	t *testing.T
	*contractSpec
}

// contractSpec is the parsed spec and its validator, built once for the package.
type contractSpec struct {
	s       *spec
	v       validator.Validator
	problem *base.Schema
	slugs   []string // the problem types the spec lists
}

var (
	contractOnce   sync.Once
	contractShared *contractSpec
	contractErr    error

	// contractMu guards the validator and contractSeen: every exchange of every family.
	contractMu   sync.Mutex
	contractSeen []exchange
	contractRan  = map[string]bool{} // the families run in this process
)

func newContract(t *testing.T) *contract {
	t.Helper()
	contractOnce.Do(func() { contractShared, contractErr = newContractSpec() })
	if contractErr != nil {
		t.Fatal(contractErr)
	}
	return &contract{t: t, contractSpec: contractShared}
}

func newContractSpec() (*contractSpec, error) {
	s, err := parseSpec()
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(s.doc, config.WithFormatAssertions(), config.WithContentAssertions(), config.WithStrictMode())
	if len(errs) > 0 {
		return nil, fmt.Errorf("validator: %v", errs)
	}
	sp := s.model.Components.Schemas.GetOrZero("Problem")
	if sp == nil {
		return nil, errors.New("api/openapi.yaml has no schema Problem")
	}
	slugs, err := s.problemTypes()
	if err != nil {
		return nil, err
	}
	return &contractSpec{s: s, v: v, problem: sp.Schema(), slugs: slugs}, nil
}

func (c *contract) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rbody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rbody))
	c.check(req, body, resp, rbody)
	return resp, nil
}

func (c *contract) check(req *http.Request, body []byte, resp *http.Response, rbody []byte) {
	contractMu.Lock()
	defer contractMu.Unlock()
	t := c.t
	t.Helper()
	what := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), resp.StatusCode)
	clone := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		return r
	}
	x := exchange{status: resp.StatusCode}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		var p struct{ Type string }
		json.Unmarshal(rbody, &p)
		x.slug = strings.TrimPrefix(p.Type, web.ProblemBase)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id", what)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store on every API response", what, cc)
	}
	tpl := c.s.template(req.URL.Path)
	_, declared := c.s.ops[req.Method+" "+tpl]
	if !declared {
		// Not an operation of the spec: the server must answer the documented problem — 405 with
		// the path's methods in Allow when the spec has the path, else 404.
		x.op = req.Method + " " + req.URL.Path
		if ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytesWithVersion(c.problem, rbody, 3.1); !ok {
			t.Errorf("%s: the answer to an undeclared operation is not a Problem:\n%s\n%s", what, describe(errs), rbody)
		}
		var allow []string
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
			if _, ok := c.s.ops[m+" "+tpl]; ok && tpl != "" || m == "HEAD" && slices.Contains(allow, "GET") {
				allow = append(allow, m)
			}
		}
		switch {
		case len(allow) > 0 && (resp.StatusCode != http.StatusMethodNotAllowed || x.slug != "method-not-allowed"):
			t.Errorf("%s: %s is a path of the spec, taking %v; answered %d %s, want 405 method-not-allowed", what, tpl, allow, resp.StatusCode, x.slug)
		case len(allow) > 0 && resp.Header.Get("Allow") != strings.Join(allow, ", "):
			t.Errorf("%s: Allow %q, want %q", what, resp.Header.Get("Allow"), strings.Join(allow, ", "))
		case len(allow) == 0 && (resp.StatusCode != http.StatusNotFound || x.slug != "not-found"):
			t.Errorf("%s: undeclared operation answered %d %s, want 404 not-found", what, resp.StatusCode, x.slug)
		}
		contractSeen = append(contractSeen, x)
		return
	}
	x.op = req.Method + " " + tpl
	off, _ := req.Context().Value(offSpecKey{}).(bool)
	laxReq, _ := req.Context().Value(laxKey{}).(bool)
	ok, errs := c.v.ValidateHttpRequest(clone())
	switch {
	case laxReq:
	case off && ok:
		t.Errorf("%s: the request is meant to break the contract, but the spec accepts it", what)
	case !off && !ok:
		t.Errorf("%s: request does not follow the contract:\n%s\nbody: %s", what, describe(errs), clip(body))
	}
	r := *resp
	r.Body = io.NopCloser(bytes.NewReader(rbody))
	if ok, errs := c.v.ValidateHttpResponse(clone(), &r); !ok {
		t.Errorf("%s: response does not follow the contract:\n%s\nbody: %s", what, describe(errs), clip(rbody))
	}
	contractSeen = append(contractSeen, x)
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func describe(errs []*vderrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s\n", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "      %s: %s (%s)\n", f.FieldPath, f.Reason, f.KeywordLocation)
		}
	}
	return b.String()
}

// client returns an API client through the contract, as tenant key (or as holder when "").
func (c *contract) client(base, key string) *client.Client {
	opts := []client.Option{client.WithHTTPClient(&http.Client{Transport: c, Timeout: 30 * time.Second})}
	if key != "" {
		opts = append(opts, client.WithAPIKey(key))
	}
	return client.New(base, opts...)
}

// raw sends a request through the contract and returns the status, headers and body.
func (c *contract) raw(ctx context.Context, method, url, key string, hdr http.Header, body io.Reader) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Transport: c}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// tenant creates a tenant and returns its API key.
func contractTenant(t *testing.T, e *env, name string, facts []platform.Fact, settings ...platform.TenantSetting) string {
	t.Helper()
	ten, err := e.plat.CreateTenant(ctx, name, facts, settings...)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := e.plat.CreateAPIKey(ctx, ten.ID, "contract")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// receiver is a relying party's webhook endpoint: it keeps what it is sent and answers status.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []message
}

type message struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, message{req.Header.Clone(), b})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) messages() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// checkWebhooks validates webhook messages against the spec's webhooks (the body schema of the
// event's type and the three Standard Webhooks headers) and checks their signatures.
func (c *contract) checkWebhooks(t *testing.T, msgs []message, now time.Time, secret string) {
	t.Helper()
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	sv := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	for _, m := range msgs {
		var ev struct{ Type string }
		if err := json.Unmarshal(m.body, &ev); err != nil {
			t.Errorf("webhook body %s: %v", m.body, err)
			continue
		}
		hook := c.s.model.Webhooks.GetOrZero(ev.Type)
		if hook == nil || hook.Post == nil {
			t.Errorf("webhook of type %q: the spec has no such webhook", ev.Type)
			continue
		}
		sch := hook.Post.RequestBody.Content.GetOrZero("application/json").Schema.Schema()
		if ok, errs := sv.ValidateSchemaBytesWithVersion(sch, m.body, 3.1); !ok {
			t.Errorf("webhook %s does not follow the contract:\n%s\nbody: %s", ev.Type, describe(errs), m.body)
		}
		for _, p := range hook.Post.Parameters {
			val := m.header.Get(p.Name)
			if val == "" {
				t.Errorf("webhook %s lacks header %s", ev.Type, p.Name)
				continue
			}
			var x any = val
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && slices.Contains(p.Schema.Schema().Type, "integer") {
				x = n
			}
			if ok, errs := sv.ValidateSchemaObjectWithVersion(p.Schema.Schema(), x, 3.1); !ok {
				t.Errorf("webhook %s header %s: %q does not follow the contract:\n%s", ev.Type, p.Name, val, describe(errs))
			}
		}
		if _, err := v.Verify(m.header, m.body, now); err != nil {
			t.Errorf("webhook %s: %v", ev.Type, err)
		}
	}
}

// held is a session started by a tenant, with its challenge as the holder fetched it.
type held struct {
	s         *client.Session
	id, token string
	challenge []byte
}

// contractFixture is the platform, tenants and card a contract family starts from.
type contractFixture struct {
	t                   *testing.T
	c                   *contract
	e                   *env
	base                string
	key, keyNoFacts     string
	rp, rpNoFacts, anon *client.Client
	taro                *holder
	rc                  *reader.Client
	signer, authSigner  *reader.Signer
	jsonHdr             http.Header
}

// verified is an identity session answered with Taro's signature certificate, as the tenant
// and the holder know it.
type verified struct {
	s, done   *client.Session // created, and once verified
	id, token string          // the holder's id and token
}

// newContractFixture starts the platform behind the validating transport, with a tenant that
// may see every fact, one that may see none (its revocation policy OCSP), and Taro's card.
func newContractFixture(t *testing.T) *contractFixture {
	t.Helper()
	f := &contractFixture{t: t, c: newContract(t), e: newEnv(t, ""), jsonHdr: http.Header{"Content-Type": {"application/json"}}}
	f.base = f.e.api.URL
	f.key = contractTenant(t, f.e, "Example Bank", platform.AllFacts)
	f.rp = f.c.client(f.base, f.key)
	f.keyNoFacts = contractTenant(t, f.e, "Example Arcade", nil, platform.WithRevocationPolicy(platform.RevocationOCSP))
	f.rpNoFacts = f.c.client(f.base, f.keyNoFacts)
	f.anon = f.c.client(f.base, "")
	f.taro = f.e.issue(testkit.Taro())
	f.rc = f.taro.reader()
	var err error
	if f.signer, err = f.rc.SignSigner(ctx, jlis.DefaultSignPassword); err != nil {
		t.Fatal(err)
	}
	if f.authSigner, err = f.rc.AuthSigner(ctx, jlis.DefaultAuthPIN); err != nil {
		t.Fatal(err)
	}
	return f
}

// session starts a session and fetches its challenge as the holder.
func (f *contractFixture) session(rp *client.Client, purpose string) held {
	t := f.t
	t.Helper()
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
	if err != nil {
		t.Fatal(err)
	}
	_, id, tok, err := client.ParseHolderURL(s.HolderURL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := f.anon.FetchUncheckedChallenge(ctx, id, tok)
	if err != nil {
		t.Fatal(err)
	}
	// Every challenge the platform serves passes the holder's check, pinned to its key.
	if _, err := client.CheckChallenge(ch, client.ChallengeCheck{HolderURL: s.HolderURL, Purpose: purpose, Now: s.CreatedAt, PlatformKey: ch.PlatformKey}); err != nil {
		t.Fatalf("the platform's own challenge fails the holder's check: %v", err)
	}
	return held{s, id, tok, ch.Challenge}
}

func (f *contractFixture) sign(s crypto.Signer, msg []byte) []byte {
	f.t.Helper()
	sig, err := signRaw(s, msg)
	if err != nil {
		f.t.Fatal(err)
	}
	return sig
}

func (f *contractFixture) holderURL(id string) string { return f.base + "/v1/holder/sessions/" + id }

func (f *contractFixture) jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		f.t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// rejected answers h with cert and sig and expects a recorded rejection of kind slug.
func (f *contractFixture) rejected(h held, cert, sig []byte, slug string) *client.Verification {
	t := f.t
	t.Helper()
	_, err := f.anon.Answer(ctx, h.id, h.token, cert, sig)
	expectProblem(t, err, slug)
	p := err.(*client.Problem)
	v, err := f.rp.Verification(ctx, p.VerificationID)
	if err != nil {
		t.Fatalf("%s: recorded verification: %v", slug, err)
	}
	if v.Decision != "rejected" || v.Reason != slug {
		t.Errorf("%s: recorded %+v", slug, v)
	}
	return v
}

// verified runs an identity session to its verification with Taro's signature certificate
// (for the families that need one: its events, its watch, its ids).
func (f *contractFixture) verified() verified {
	t := f.t
	t.Helper()
	h := f.session(f.rp, "identity")
	if _, err := f.anon.Answer(ctx, h.id, h.token, f.signer.Certificate().Raw, f.sign(f.signer, h.challenge)); err != nil {
		t.Fatal(err)
	}
	done, err := f.rp.Session(ctx, h.s.ID)
	if err != nil || done.Status != "verified" || done.Verification == nil {
		t.Fatalf("verified session: %+v %v", done, err)
	}
	return verified{h.s, done, h.id, h.token}
}

// endpoint registers a webhook endpoint for the first tenant, to a receiver answering 200.
func (f *contractFixture) endpoint() *client.Endpoint {
	t := f.t
	t.Helper()
	ep, _, err := f.rp.CreateEndpoint(ctx, client.EndpointRequest{URL: newReceiver(t, http.StatusOK).URL + "/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// hanako issues Hanako's card at the clock's time and opens its signature and authentication
// keys: a card the platform has never seen.
func (f *contractFixture) hanako() (sign, auth *reader.Signer) {
	t := f.t
	t.Helper()
	r := f.e.issue(testkit.Hanako()).reader()
	sign, err := r.SignSigner(ctx, jlis.DefaultSignPassword)
	if err != nil {
		t.Fatal(err)
	}
	if auth, err = r.AuthSigner(ctx, jlis.DefaultAuthPIN); err != nil {
		t.Fatal(err)
	}
	return sign, auth
}

// contractFamilies are the families whose exchanges together must cover the spec (TestMain).
var contractFamilies = []string{"operations", "sessions", "usage and card key", "webhooks", "watches and consent",
	"unauthorized", "not-found", "invalid-request", "strict-input", "rate-limited", "body-too-large", "rejections",
	"chip-reading", "certificate lifecycle", "evidence", "jlis-unavailable", "tenant settings", "idempotency",
	"oidc clients", "internal"}

// runContract runs one family on a platform of its own, through the validating transport.
func runContract(t *testing.T, family string, run func(*testing.T, *contractFixture)) {
	t.Helper()
	if !slices.Contains(contractFamilies, family) {
		t.Fatalf("family %q is not in contractFamilies", family)
	}
	contractMu.Lock()
	contractRan[family] = true
	contractMu.Unlock()
	run(t, newContractFixture(t))
}

func TestContractOperations(t *testing.T) { runContract(t, "operations", contractOperations) }
func TestContractSessions(t *testing.T)   { runContract(t, "sessions", contractSessions) }
func TestContractUsageCardKey(t *testing.T) {
	runContract(t, "usage and card key", contractUsageCardKey)
}
func TestContractWebhooks(t *testing.T) { runContract(t, "webhooks", contractWebhooks) }
func TestContractWatchesConsent(t *testing.T) {
	runContract(t, "watches and consent", contractWatchesConsent)
}
func TestContractUnauthorized(t *testing.T) { runContract(t, "unauthorized", contractUnauthorized) }
func TestContractNotFound(t *testing.T)     { runContract(t, "not-found", contractNotFound) }
func TestContractInvalidRequest(t *testing.T) {
	runContract(t, "invalid-request", contractInvalidRequest)
}
func TestContractStrictInput(t *testing.T)  { runContract(t, "strict-input", contractStrictInput) }
func TestContractRateLimited(t *testing.T)  { runContract(t, "rate-limited", contractRateLimited) }
func TestContractBodyTooLarge(t *testing.T) { runContract(t, "body-too-large", contractBodyTooLarge) }
func TestContractRejections(t *testing.T)   { runContract(t, "rejections", contractRejections) }
func TestContractChipReading(t *testing.T)  { runContract(t, "chip-reading", contractChipReading) }
func TestContractCertLifecycle(t *testing.T) {
	runContract(t, "certificate lifecycle", contractCertLifecycle)
}
func TestContractEvidence(t *testing.T) { runContract(t, "evidence", contractEvidence) }
func TestContractJLISUnavailable(t *testing.T) {
	runContract(t, "jlis-unavailable", contractJLISUnavailable)
}
func TestContractTenantSettings(t *testing.T) {
	runContract(t, "tenant settings", contractTenantSettings)
}
func TestContractIdempotency(t *testing.T) {
	runContract(t, "idempotency", func(t *testing.T, f *contractFixture) { idempotencyFlows(t, f.e, f.c) })
}
func TestContractOIDCClients(t *testing.T) {
	runContract(t, "oidc clients", func(t *testing.T, f *contractFixture) { oidcClientFlows(t, f.e, f.c) })
}
func TestContractInternal(t *testing.T) { runContract(t, "internal", contractInternal) }

// contractOperations: health, readiness, request ids.
func contractOperations(t *testing.T, f *contractFixture) {
	c, e, base := f.c, f.e, f.base
	for _, p := range []string{"/healthz", "/readyz"} {
		if st, _, _ := c.raw(ctx, "GET", base+p, "", nil, nil); st != http.StatusOK {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	// Metrics are not on the API (serve --metrics-addr serves them apart).
	if st, _, b := c.raw(ctx, "GET", base+"/metrics", "", nil, nil); st != http.StatusNotFound {
		t.Errorf("GET /metrics on the API: %d %s, want 404", st, b)
	}
	_, h, _ := c.raw(ctx, "GET", base+"/healthz", "", http.Header{"X-Request-Id": {"contract-1"}}, nil)
	if got := h.Get("X-Request-Id"); got != "contract-1" {
		t.Errorf("X-Request-Id %q, want the caller's", got)
	}
	notReady := httptest.NewServer(web.New(e.plat, web.WithReadiness(func(context.Context) error { return errors.New("revocation data is stale") })))
	defer notReady.Close()
	if st, h, _ := c.raw(ctx, "GET", notReady.URL+"/readyz", "", nil, nil); st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("not ready: %d, Retry-After %q", st, h.Get("Retry-After"))
	}
}

// contractSessions: the identity flow with an idempotent create, login, and an OCSP tenant without facts.
func contractSessions(t *testing.T, f *contractFixture) {
	c, base, key, rp, rpNoFacts, anon, signer, authSigner, session, sign, holderURL, jsonBody, jsonHdr := f.c, f.base, f.key, f.rp, f.rpNoFacts, f.anon, f.signer, f.authSigner, f.session, f.sign, f.holderURL, f.jsonBody, f.jsonHdr
	// The identity flow, with an idempotent create.
	req := client.SessionRequest{Purpose: "identity", ClientRef: "order-42", IdempotencyKey: "contract-key-1"}
	s1, err := rp.CreateSession(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := rp.CreateSession(ctx, req); err != nil || again.ID != s1.ID {
		t.Fatalf("idempotent retry: %v, %v", again, err)
	}
	_, err = rp.CreateSession(ctx, client.SessionRequest{Purpose: "login", ClientRef: "order-42", IdempotencyKey: "contract-key-1"})
	expectProblem(t, err, "idempotency-key-reused")
	if s, err := rp.Session(ctx, s1.ID); err != nil || s.Status != "pending" {
		t.Fatalf("pending session: %+v %v", s, err)
	}
	st, qh, png := c.raw(ctx, "GET", base+"/v1/sessions/"+s1.ID+"/qr.png", key, nil, nil)
	if st != http.StatusOK || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || qh.Get("Content-Type") != "image/png" {
		t.Errorf("qr.png: %d %s %q", st, qh.Get("Content-Type"), clip(png))
	}
	_, id1, tok1, _ := client.ParseHolderURL(s1.HolderURL)
	ch1, err := anon.FetchUncheckedChallenge(ctx, id1, tok1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Answer(ctx, id1, tok1, signer.Certificate().Raw, sign(signer, ch1.Challenge)); err != nil {
		t.Fatal(err)
	}
	done, err := rp.Session(ctx, s1.ID)
	if err != nil || done.Status != "verified" || done.Verification == nil || len(done.Verification.Facts) != 4 {
		t.Fatalf("verified session: %+v %v", done, err)
	}
	if _, err := rp.Verification(ctx, done.Verification.ID); err != nil {
		t.Fatal(err)
	}
	// The challenge is spent.
	_, err = anon.Answer(ctx, id1, tok1, signer.Certificate().Raw, sign(signer, ch1.Challenge))
	expectProblem(t, err, "challenge-reused")

	// Login: no facts.
	hl := session(rp, "login")
	if _, err := anon.Answer(ctx, hl.id, hl.token, authSigner.Certificate().Raw, sign(authSigner, hl.challenge)); err != nil {
		t.Fatal(err)
	}
	// A tenant that may see no facts, whose policy is OCSP, with the token in the query. The
	// holder has no say in how revocation is checked: an answer asking for OCSP is refused.
	hn := session(rpNoFacts, "identity")
	st, _, b := c.raw(offSpec(), "POST", holderURL(hn.id)+"?token="+hn.token, "", jsonHdr, jsonBody(map[string]any{
		"certificate": signer.Certificate().Raw, "signature": sign(signer, hn.challenge), "prefer_ocsp": true}))
	if st != http.StatusBadRequest || !strings.Contains(string(b), "prefer_ocsp") {
		t.Fatalf("answer with the holder's prefer_ocsp: %d %s, want 400 naming the field", st, b)
	}
	st, _, b = c.raw(ctx, "POST", holderURL(hn.id)+"?token="+hn.token, "", jsonHdr, jsonBody(map[string]any{
		"certificate": signer.Certificate().Raw, "signature": sign(signer, hn.challenge)}))
	if st != http.StatusOK {
		t.Fatalf("answer for an OCSP tenant: %d %s", st, b)
	}
	if s, err := rpNoFacts.Session(ctx, hn.id); err != nil || s.Verification == nil || s.Verification.Revocation.Method != "ocsp" || s.Verification.Facts != nil {
		t.Errorf("OCSP verification for a tenant without facts: %+v %v", s, err)
	}
}

// contractUsageCardKey: usage counts and the card key.
func contractUsageCardKey(t *testing.T, f *contractFixture) {
	c, base, key, rp := f.c, f.base, f.key, f.rp
	f.verified() // something to count
	// Usage.
	if u, err := rp.Usage(ctx, "", ""); err != nil || len(u.Counts) == 0 {
		t.Errorf("usage: %+v %v", u, err)
	}
	if _, err := rp.Usage(ctx, "2026-01", "2026-04"); err != nil {
		t.Error(err)
	}
	_, err := rp.Usage(ctx, "2026-05", "2026-04")
	expectProblem(t, err, "invalid-request")
	// The card key (its schema checked on the way).
	if k, err := rp.CardKey(ctx); err != nil || len(k.Key) != 32 {
		t.Errorf("card key: %+v %v", k, err)
	}
	st, _, _ := c.raw(offSpec(), "GET", base+"/v1/usage?from=2026-13", key, nil, nil)
	if st != http.StatusBadRequest {
		t.Errorf("usage of month 13: %d", st)
	}
}

// contractWebhooks: webhook endpoints, deliveries, redelivery, rotation.
func contractWebhooks(t *testing.T, f *contractFixture) {
	c, e, base, key, rp, jsonHdr := f.c, f.e, f.base, f.key, f.rp, f.jsonHdr
	var ep1 *client.Endpoint
	recv := newReceiver(t, http.StatusOK)
	failing := newReceiver(t, http.StatusServiceUnavailable)
	var ep2 *client.Endpoint
	var secret1 string
	var err error
	ep1, secret1, err = rp.CreateEndpoint(ctx, client.EndpointRequest{URL: recv.URL + "/hooks", Description: "verifications", EventTypes: []string{"verification.completed"}})
	if err != nil {
		t.Fatal(err)
	}
	if ep2, _, err = rp.CreateEndpoint(ctx, client.EndpointRequest{URL: failing.URL}); err != nil {
		t.Fatal(err)
	}
	_, _, err = rp.CreateEndpoint(ctx, client.EndpointRequest{URL: "ftp://example.com/"})
	expectProblem(t, err, "invalid-request")
	_, _, err = rp.CreateEndpoint(offSpec(), client.EndpointRequest{URL: recv.URL, EventTypes: []string{"person.moved"}})
	expectProblem(t, err, "invalid-request")
	if es, err := rp.Endpoints(ctx); err != nil || len(es) != 2 {
		t.Errorf("endpoints: %+v %v", es, err)
	}
	if st, _, b := c.raw(ctx, "GET", base+"/v1/webhooks/endpoints/"+ep1.ID, key, nil, nil); st != http.StatusOK {
		t.Errorf("get endpoint: %d %s", st, b)
	}
	const noEndpoint = "we_0000000000000000"
	if st, _, _ := c.raw(ctx, "GET", base+"/v1/webhooks/endpoints/"+noEndpoint, key, nil, nil); st != http.StatusNotFound {
		t.Errorf("get no endpoint: %d", st)
	}

	// A verification's event goes to the outbox in its transaction when an endpoint of the
	// tenant may want it: verify once more, accepted and rejected, now that the endpoints
	// exist, and deliver: to the first endpoint, delivered; to the second, which answers 503,
	// pending a retry.
	h := f.session(rp, "identity")
	if _, err := f.anon.Answer(ctx, h.id, h.token, f.signer.Certificate().Raw, f.sign(f.signer, h.challenge)); err != nil {
		t.Fatal(err)
	}
	h = f.session(rp, "identity")
	f.rejected(h, f.authSigner.Certificate().Raw, f.sign(f.authSigner, h.challenge), "wrong-certificate-kind")
	e.deliverAll(t)
	msgs := recv.messages()
	if len(msgs) == 0 {
		t.Fatal("no webhook message was delivered")
	}
	c.checkWebhooks(t, msgs, e.clk.Now(), secret1)
	delivered, err := rp.Deliveries(ctx, client.DeliveryQuery{State: "delivered", EndpointID: ep1.ID, Limit: 10})
	if err != nil || len(delivered) == 0 {
		t.Fatalf("delivered: %+v %v", delivered, err)
	}
	if pending, err := rp.Deliveries(ctx, client.DeliveryQuery{State: "pending", EndpointID: ep2.ID}); err != nil || len(pending) == 0 || pending[0].LastStatus != http.StatusServiceUnavailable {
		t.Errorf("pending: %+v %v", pending, err)
	}
	_, err = rp.Deliveries(offSpec(), client.DeliveryQuery{State: "lost"})
	expectProblem(t, err, "invalid-request")
	if st, _, _ := c.raw(offSpec(), "GET", base+"/v1/webhooks/deliveries?limit=1000", key, nil, nil); st != http.StatusBadRequest {
		t.Errorf("deliveries?limit=1000: %d", st)
	}
	if n, err := rp.RedeliverEvent(ctx, delivered[0].EventID, ep1.ID); err != nil || n != 1 {
		t.Errorf("redeliver event: %d %v", n, err)
	}
	_, err = rp.RedeliverEvent(ctx, "evt_00000000000000000000000000000000", "")
	expectProblem(t, err, "not-found")
	if _, err := rp.RedeliverDead(ctx, ep1.ID); err != nil {
		t.Error(err)
	}
	_, err = rp.RedeliverDead(ctx, noEndpoint)
	expectProblem(t, err, "not-found")

	if _, _, err := rp.RotateSecret(ctx, ep1.ID, time.Hour); err != nil {
		t.Error(err)
	}
	if st, _, b := c.raw(ctx, "POST", base+"/v1/webhooks/endpoints/"+ep1.ID+"/rotate", key, nil, nil); st != http.StatusOK {
		t.Errorf("rotate without a body: %d %s", st, b)
	}
	if st, _, _ := c.raw(offSpec(), "POST", base+"/v1/webhooks/endpoints/"+ep1.ID+"/rotate", key, jsonHdr, strings.NewReader(`{"grace_seconds":31536000}`)); st != http.StatusBadRequest {
		t.Errorf("rotate with a year of grace: %d", st)
	}
	_, _, err = rp.RotateSecret(ctx, noEndpoint, 0)
	expectProblem(t, err, "not-found")
	big := `{"grace_seconds":1,"x":"` + strings.Repeat("x", web.MaxBody) + `"}`
	if st, _, _ := c.raw(offSpec(), "POST", base+"/v1/webhooks/endpoints/"+ep1.ID+"/rotate", key, jsonHdr, strings.NewReader(big)); st != http.StatusRequestEntityTooLarge {
		t.Errorf("rotate with a big body: %d", st)
	}
	big = `{"url":"` + recv.URL + `/` + strings.Repeat("x", web.MaxBody) + `"}`
	if st, _, _ := c.raw(offSpec(), "POST", base+"/v1/webhooks/endpoints", key, jsonHdr, strings.NewReader(big)); st != http.StatusRequestEntityTooLarge {
		t.Errorf("create endpoint with a big body: %d", st)
	}
	if err := rp.DisableEndpoint(ctx, ep2.ID); err != nil {
		t.Error(err)
	}
	expectProblem(t, rp.DisableEndpoint(ctx, ep2.ID), "already-disabled")
	expectProblem(t, rp.DisableEndpoint(ctx, noEndpoint), "not-found")
}

// contractWatchesConsent: watches, latest facts and the holder's consents.
func contractWatchesConsent(t *testing.T, f *contractFixture) {
	c, e, base, rp, anon, signer, authSigner, session, sign, jsonBody, jsonHdr, done := f.c, f.e, f.base, f.rp, f.anon, f.signer, f.authSigner, f.session, f.sign, f.jsonBody, f.jsonHdr, f.verified().done
	var err error
	// Consent given with an identity verification, seen by the tenant's watch and by the
	// holder, who revokes it.
	h := session(rp, "identity")
	if _, err := anon.AnswerWithConsent(ctx, h.id, h.token, signer.Certificate().Raw, sign(signer, h.challenge), []string{"basic4_updates"}); err != nil {
		t.Fatal(err)
	}
	hl := session(rp, "login")
	_, err = anon.AnswerWithConsent(ctx, hl.id, hl.token, authSigner.Certificate().Raw, sign(authSigner, hl.challenge), []string{"basic4_updates"})
	expectProblem(t, err, "invalid-request")
	sub := done.Verification.Sub
	if w, err := rp.Watch(ctx, sub); err != nil || !w.Watching || len(w.Consents) != 1 {
		t.Errorf("watch with consent: %+v %v", w, err)
	}
	// The latest facts, read from J-LIS with the consent (what a thin person.basic4_updated
	// points to); J-LIS unreachable first.
	if _, err := notify.New(e.plat, notify.WithBasic4Source(jlisapi.New("http://127.0.0.1:1"))); err != nil {
		t.Fatal(err)
	}
	_, err = rp.LatestFacts(ctx, sub)
	expectProblem(t, err, "jlis-unavailable")
	if _, err := notify.New(e.plat, notify.WithBasic4Source(jlisapi.New(e.jlisSrv.URL))); err != nil {
		t.Fatal(err)
	}
	if f, err := rp.LatestFacts(ctx, sub); err != nil || f.Facts["name"] != testkit.Taro().Name {
		t.Errorf("latest facts: %+v %v", f, err)
	}
	cs, err := anon.Consents(ctx, checkedConsentCh(anon, e.clk.Now()), authSigner.Certificate().Raw, authSigner)
	if err != nil || len(cs) != 1 || cs[0].Scope != "basic4_updates" {
		t.Fatalf("holder's consents: %+v %v", cs, err)
	}
	if n, err := anon.RevokeConsent(ctx, checkedConsentCh(anon, e.clk.Now()), authSigner.Certificate().Raw, authSigner, cs[0].TenantID, "basic4_updates"); err != nil || n != 1 {
		t.Errorf("revoke consent: %d %v", n, err)
	}
	_, err = rp.LatestFacts(ctx, sub)
	expectProblem(t, err, "consent-required")
	if err := rp.StopWatching(ctx, sub); err != nil {
		t.Error(err)
	}
	if w, err := rp.Watch(ctx, sub); err != nil || w.Watching {
		t.Errorf("stopped watch: %+v %v", w, err)
	}
	noSub := strings.Repeat("A", 43)
	_, err = rp.Watch(ctx, noSub)
	expectProblem(t, err, "not-found")
	_, err = rp.LatestFacts(ctx, noSub)
	expectProblem(t, err, "not-found")
	expectProblem(t, rp.StopWatching(ctx, noSub), "not-found")

	// The holder's proofs refused.
	_, err = anon.Consents(ctx, checkedConsentCh(anon, e.clk.Now()), signer.Certificate().Raw, signer)
	expectProblem(t, err, "wrong-certificate-kind")
	_, err = anon.RevokeConsent(ctx, checkedConsentCh(anon, e.clk.Now()), signer.Certificate().Raw, signer, cs[0].TenantID, "basic4_updates")
	expectProblem(t, err, "wrong-certificate-kind")
	proof := func(tenant, scope string, challenge []byte) map[string]any {
		m := map[string]any{"certificate": authSigner.Certificate().Raw, "challenge": challenge,
			"signature": sign(authSigner, client.HolderMessage("consents.list", tenant, scope, challenge))}
		if tenant != "" {
			m["tenant_id"], m["scope"] = tenant, scope
		}
		return m
	}
	if st, _, b := c.raw(ctx, "POST", base+"/v1/holder/consents/query", "", jsonHdr, jsonBody(proof("", "", bytes.Repeat([]byte{7}, 40)))); st != http.StatusBadRequest {
		t.Errorf("a challenge the platform did not issue: %d %s", st, b)
	}
	if st, _, b := c.raw(offSpec(), "POST", base+"/v1/holder/consents/query", "", jsonHdr, jsonBody(map[string]any{"certificate": authSigner.Certificate().Raw})); st != http.StatusBadRequest {
		t.Errorf("a proof without signature: %d %s", st, b)
	}
	if st, _, b := c.raw(offSpec(), "POST", base+"/v1/holder/consents/revoke", "", jsonHdr, jsonBody(proof(cs[0].TenantID, "everything", []byte("c")))); st != http.StatusBadRequest {
		t.Errorf("revoke an unknown scope: %d %s", st, b)
	}
	bigProof := proof(cs[0].TenantID, "basic4_updates", bytes.Repeat([]byte{7}, web.MaxBody))
	for _, path := range []string{"query", "revoke"} {
		if st, _, _ := c.raw(ctx, "POST", base+"/v1/holder/consents/"+path, "", jsonHdr, jsonBody(bigProof)); st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with a big body: %d", path, st)
		}
	}
}

// contractUnauthorized: a missing or bad API key on every tenant route.
func contractUnauthorized(t *testing.T, f *contractFixture) {
	v := f.verified()
	c, base, s1, done, ep1 := f.c, f.base, v.s, v.done, f.endpoint()
	nokey := c.client(base, "")
	badkey := c.client(base, "mgk_0000000000000000_"+strings.Repeat("0", 64))
	_, err := badkey.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	expectProblem(t, err, "unauthorized")
	_, err = nokey.CreateSession(offSpec(), client.SessionRequest{Purpose: "identity"})
	expectProblem(t, err, "unauthorized")
	_, err = badkey.Session(ctx, s1.ID)
	expectProblem(t, err, "unauthorized")
	_, err = nokey.Verification(offSpec(), done.Verification.ID)
	expectProblem(t, err, "unauthorized")
	_, err = badkey.Verification(ctx, done.Verification.ID)
	expectProblem(t, err, "unauthorized")
	_, err = badkey.Usage(ctx, "", "")
	expectProblem(t, err, "unauthorized")
	_, err = badkey.CardKey(ctx)
	expectProblem(t, err, "unauthorized")
	bad := "mgk_0000000000000000_" + strings.Repeat("0", 64)
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/sessions/" + s1.ID + "/qr.png"},
		{"POST", "/v1/webhooks/endpoints"}, {"GET", "/v1/webhooks/endpoints"}, {"GET", "/v1/webhooks/endpoints/" + ep1.ID},
		{"DELETE", "/v1/webhooks/endpoints/" + ep1.ID}, {"POST", "/v1/webhooks/endpoints/" + ep1.ID + "/rotate"},
		{"POST", "/v1/webhooks/endpoints/" + ep1.ID + "/redeliver"}, {"GET", "/v1/webhooks/deliveries"},
		{"POST", "/v1/events/evt_00000000000000000000000000000000/redeliver"}, {"GET", "/v1/watches/" + done.Verification.Sub},
		{"DELETE", "/v1/watches/" + done.Verification.Sub}, {"GET", "/v1/watches/" + done.Verification.Sub + "/basic4"},
		{"GET", "/v1/tenant"}, {"PATCH", "/v1/tenant"},
	} {
		var body io.Reader
		var hdr http.Header
		if r.path == "/v1/webhooks/endpoints" && r.method == "POST" {
			body, hdr = strings.NewReader(`{"url":"http://127.0.0.1:1/"}`), http.Header{"Content-Type": {"application/json"}}
		}
		if r.method == "PATCH" {
			body, hdr = strings.NewReader(`{"facts":[]}`), http.Header{"Content-Type": {"application/json"}}
		}
		if st, _, b := c.raw(ctx, r.method, base+r.path, bad, hdr, body); st != http.StatusUnauthorized {
			t.Errorf("%s %s with a bad key: %d %s", r.method, r.path, st, b)
		}
	}
}

// contractNotFound: unknown resources, another tenant's, undeclared operations.
func contractNotFound(t *testing.T, f *contractFixture) {
	c, base, key, keyNoFacts, rp, anon, signer, s1 := f.c, f.base, f.key, f.keyNoFacts, f.rp, f.anon, f.signer, f.verified().s
	const noSession, noVerification = "s_00000000000000000000000000000000", "v_00000000000000000000000000000000"
	_, err := rp.Session(ctx, noSession)
	expectProblem(t, err, "not-found")
	_, err = c.client(base, keyNoFacts).Session(ctx, s1.ID) // another tenant's
	expectProblem(t, err, "not-found")
	_, err = rp.Verification(ctx, noVerification)
	expectProblem(t, err, "not-found")
	if st, _, _ := c.raw(ctx, "GET", base+"/v1/sessions/"+noSession+"/qr.png", key, nil, nil); st != http.StatusNotFound {
		t.Errorf("qr.png of no session: %d", st)
	}
	wrong := strings.Repeat("0", 48)
	_, err = anon.FetchUncheckedChallenge(ctx, s1.ID, wrong)
	expectProblem(t, err, "not-found")
	_, err = anon.Answer(ctx, s1.ID, wrong, signer.Certificate().Raw, []byte("sig"))
	expectProblem(t, err, "not-found")
	for _, u := range []struct {
		method, path string
		want         int
	}{{"GET", "/v1/nothing", 404}, {"GET", "/", 404}, {"DELETE", "/v1/sessions/" + s1.ID, 405}, {"PUT", "/v1/sessions", 405},
		{"POST", "/v1/verifications/" + noVerification, 405}} {
		if st, _, _ := c.raw(ctx, u.method, base+u.path, key, nil, nil); st != u.want {
			t.Errorf("%s %s: %d, want %d", u.method, u.path, st, u.want)
		}
	}
}

// contractInvalidRequest: malformed session requests and answers.
func contractInvalidRequest(t *testing.T, f *contractFixture) {
	c, base, key, rp, signer, session, holderURL, jsonBody, jsonHdr := f.c, f.base, f.key, f.rp, f.signer, f.session, f.holderURL, f.jsonBody, f.jsonHdr
	_, err := rp.CreateSession(offSpec(), client.SessionRequest{Purpose: "shopping"})
	expectProblem(t, err, "invalid-request")
	_, err = rp.CreateSession(offSpec(), client.SessionRequest{Purpose: "identity", ClientRef: strings.Repeat("x", 201)})
	expectProblem(t, err, "invalid-request")
	for _, body := range []string{`{"purpose":"identity","colour":"red"}`, `{"purpose":`, `{"purpose":"identity"} {}`, ``} {
		if st, _, b := c.raw(offSpec(), "POST", base+"/v1/sessions", key, jsonHdr, strings.NewReader(body)); st != http.StatusBadRequest {
			t.Errorf("create session with %q: %d %s", body, st, b)
		}
	}
	h := session(rp, "identity")
	for _, body := range []any{
		map[string]any{"token": h.token, "certificate": signer.Certificate().Raw},
		map[string]any{"token": h.token, "signature": []byte("sig")},
		map[string]any{"token": h.token, "certificate": "not base64!", "signature": []byte("sig")},
	} {
		if st, _, b := c.raw(offSpec(), "POST", holderURL(h.id), "", jsonHdr, jsonBody(body)); st != http.StatusBadRequest {
			t.Errorf("answer %v: %d %s", body, st, b)
		}
	}
}

// contractStrictInput: strict input: one spelling of a request reaches the platform.
func contractStrictInput(t *testing.T, f *contractFixture) {
	c, base, key, rp, session, holderURL, jsonBody, jsonHdr := f.c, f.base, f.key, f.rp, f.session, f.holderURL, f.jsonBody, f.jsonHdr
	h := session(rp, "identity")
	wh := map[string]any{"url": "https://hooks.example/x"}
	for _, op := range []struct {
		path, key string
		body      any
	}{
		{"/v1/sessions", key, map[string]any{"purpose": "identity"}},
		{holderURL(h.id), "", map[string]any{"token": h.token, "certificate": []byte("c"), "signature": []byte("s")}},
		{"/v1/webhooks/endpoints", key, wh},
		{"/v1/webhooks/endpoints/we_0000000000000000/rotate", key, map[string]any{"grace_seconds": 1}},
		{"/v1/holder/consents/query", "", map[string]any{"certificate": []byte("c"), "signature": []byte("s"), "challenge": []byte("c")}},
		{"/v1/holder/consents/revoke", "", map[string]any{"certificate": []byte("c"), "signature": []byte("s"), "challenge": []byte("c"), "tenant_id": "t_0000000000000000", "scope": "basic4_updates"}},
	} {
		url := op.path
		if strings.HasPrefix(url, "/") {
			url = base + url
		}
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data; boundary=x"} {
			hdr := http.Header{}
			if ct != "" {
				hdr.Set("Content-Type", ct)
			}
			st, rh, b := c.raw(lax(), "POST", url, op.key, hdr, jsonBody(op.body))
			if st != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "unsupported-media-type") || rh.Get("Accept-Post") != "application/json" {
				t.Errorf("POST %s as %q: %d %s, want 415", op.path, ct, st, b)
			}
		}
	}
	for _, body := range []string{
		`{"purpose":"login","purpose":"identity"}`,                 // duplicate: encoding/json keeps the last
		`{"Purpose":"identity"}`,                                   // another case: encoding/json matches it
		`{"purpose":"identity","client_ref":"a","CLIENT_REF":"b"}`, // both spellings
		`{"purpose":"identity","client_ref":"a","client_ref":"b"}`, // duplicate of an optional member
		"{\"purpose\":\"identity\",\"client_ref\":\"\xff\"}",       // invalid UTF-8
	} {
		st, _, b := c.raw(lax(), "POST", base+"/v1/sessions", key, jsonHdr, strings.NewReader(body))
		if st != http.StatusBadRequest || !strings.Contains(string(b), "invalid-request") {
			t.Errorf("create session with %s: %d %s, want 400", body, st, b)
		}
	}
	// The API key only as "Authorization: Bearer <key>".
	for _, auth := range [][]string{{key}, {"Basic " + key}, {"Bearer  " + key}, {"Bearer " + key + " x"}, {"Bearer"}, {"Bearer " + key, "Bearer " + key}, {"Token " + key}} {
		st, rh, b := c.raw(lax(), "GET", base+"/v1/usage", "", http.Header{"Authorization": auth}, nil)
		if st != http.StatusUnauthorized || rh.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %s, want 401", auth, st, b)
		}
	}
	if st, _, b := c.raw(ctx, "GET", base+"/v1/usage", "", http.Header{"Authorization": {"bearer " + key}}, nil); st != http.StatusOK {
		t.Errorf("the scheme's case is free (RFC 9110 §11.1): %d %s", st, b)
	}
}

// contractRateLimited: rate limits, on a server of the same platform with small buckets and a clock of the test's.
func contractRateLimited(t *testing.T, f *contractFixture) {
	c, e, rp, session, jsonHdr := f.c, f.e, f.rp, f.session, f.jsonHdr
	var mu sync.Mutex
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	limited := httptest.NewServer(web.New(e.plat, web.WithRateLimits(web.RateLimits{
		TenantSessions: web.Limit{Rate: 1, Burst: 1}, IPSessions: web.Limit{Rate: 0.5, Burst: 3}, IPHolder: web.Limit{Rate: 1, Burst: 1}, Now: clock})))
	defer limited.Close()
	lb := limited.URL
	create := func(k string) (int, http.Header, []byte) {
		return c.raw(ctx, "POST", lb+"/v1/sessions", k, jsonHdr, strings.NewReader(`{"purpose":"login"}`))
	}
	limitedProblem := func(what string, st int, h http.Header, b []byte, detail, retry string) {
		t.Helper()
		if st != http.StatusTooManyRequests || !strings.Contains(string(b), "rate-limited") || !strings.Contains(string(b), detail) || h.Get("Retry-After") != retry {
			t.Errorf("%s: %d Retry-After %q %s; want 429 rate-limited naming %q, Retry-After %s", what, st, h.Get("Retry-After"), b, detail, retry)
		}
	}
	k1 := contractTenant(t, e, "Limited One", nil)
	k2 := contractTenant(t, e, "Limited Two", nil)
	k3 := contractTenant(t, e, "Limited Three", nil)
	st, _, b := create(k1)
	if st != http.StatusCreated {
		t.Fatalf("first session: %d %s", st, b)
	}
	st, h, b := create(k1) // the tenant's bucket (1) is empty; the address's (3) is not
	limitedProblem("second session of a tenant", st, h, b, "for this tenant", "1")
	st, _, b = create(k2)
	if st != http.StatusCreated {
		t.Fatalf("another tenant's session: %d %s", st, b)
	}
	st, h, b = create(k3) // the address's bucket is empty now; it refills at 1 per 2 s
	limitedProblem("a third tenant from the same address", st, h, b, "from this address", "2")
	st, h, b = c.raw(lax(), "POST", lb+"/v1/sessions", "", jsonHdr, strings.NewReader(`{"purpose":"login"}`))
	limitedProblem("no API key at all", st, h, b, "from this address", "2") // refused before the key is looked up
	advance(2 * time.Second)
	if st, _, b := create(k1); st != http.StatusCreated {
		t.Errorf("after Retry-After: %d %s", st, b)
	}

	hs := session(rp, "login")
	hurl := lb + "/v1/holder/sessions/" + hs.id
	if st, _, b := c.raw(ctx, "GET", hurl+"?token="+hs.token, "", nil, nil); st != http.StatusOK {
		t.Fatalf("holder challenge: %d %s", st, b)
	}
	for _, op := range []struct{ method, url string }{
		{"GET", hurl + "?token=" + hs.token}, {"POST", hurl}, {"POST", lb + "/v1/holder/consents/challenge"},
		{"POST", lb + "/v1/holder/consents/query"}, {"POST", lb + "/v1/holder/consents/revoke"},
	} {
		var body io.Reader
		if op.method == "POST" {
			body = strings.NewReader(`{}`)
		}
		st, h, b := c.raw(lax(), op.method, op.url, "", jsonHdr, body)
		limitedProblem(op.method+" "+op.url, st, h, b, "from this address", "1")
	}
	advance(time.Second)
	if st, _, b := c.raw(ctx, "GET", hurl+"?token="+hs.token, "", nil, nil); st != http.StatusOK {
		t.Errorf("holder challenge after Retry-After: %d %s", st, b)
	}
}

// contractBodyTooLarge: oversized bodies.
func contractBodyTooLarge(t *testing.T, f *contractFixture) {
	c, base, key, rp, session, holderURL, jsonBody, jsonHdr := f.c, f.base, f.key, f.rp, f.session, f.holderURL, f.jsonBody, f.jsonHdr
	big := `{"purpose":"identity","client_ref":"` + strings.Repeat("x", web.MaxBody) + `"}`
	// With a Content-Length the server refuses before routing; without one (chunked), while
	// decoding.
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(big)
		if chunked {
			body = io.MultiReader(strings.NewReader(big))
		}
		if st, _, b := c.raw(offSpec(), "POST", base+"/v1/sessions", key, jsonHdr, body); st != http.StatusRequestEntityTooLarge {
			t.Errorf("big session request (chunked %v): %d %s", chunked, st, b)
		}
	}
	h := session(rp, "login")
	bigAnswer := map[string]any{"token": h.token, "certificate": bytes.Repeat([]byte{1}, web.MaxBody), "signature": []byte("sig")}
	// The answer itself follows the schema; only its size breaks the limit.
	if st, _, b := c.raw(ctx, "POST", holderURL(h.id), "", jsonHdr, jsonBody(bigAnswer)); st != http.StatusRequestEntityTooLarge {
		t.Errorf("big answer: %d %s", st, b)
	}
}

// contractRejections: answers rejected for the certificate or the signature.
func contractRejections(t *testing.T, f *contractFixture) {
	e, rp, signer, authSigner, session, sign, rejected := f.e, f.rp, f.signer, f.authSigner, f.session, f.sign, f.rejected
	fake, _, _ := testkit.Simulator(t)
	fakeCard := testkit.Issue(t, fake, testkit.Taro()).Card
	root, err := e.sim.CACertificate("sign")
	if err != nil {
		t.Fatal(err)
	}
	h := session(rp, "identity")
	v := rejected(h, authSigner.Certificate().Raw, sign(authSigner, h.challenge), "wrong-certificate-kind")
	if v.Cert != nil || v.Revocation.Method != "none" {
		t.Errorf("wrong kind recorded %+v", v)
	}
	h = session(rp, "identity")
	v = rejected(h, signer.Certificate().Raw, sign(signer, []byte("other bytes")), "signature-invalid")
	if v.Cert == nil || v.Revocation.Method != "crl" {
		t.Errorf("bad signature recorded %+v", v)
	}
	h = session(rp, "identity")
	rejected(h, fakeCard.Sign.Cert, bytes.Repeat([]byte{1}, 256), "chain-invalid")
	h = session(rp, "login")
	rejected(h, []byte("garbage"), []byte("sig"), "malformed-certificate")
	h = session(rp, "identity")
	rejected(h, root.Raw, bytes.Repeat([]byte{1}, 256), "profile-invalid")
}

// contractChipReading: the chip reading (the weaker method): accepted with its limitations, and each of its rejections.
func contractChipReading(t *testing.T, f *contractFixture) {
	c, rp, anon, session, holderURL, jsonBody, jsonHdr, rc := f.c, f.rp, f.anon, f.session, f.holderURL, f.jsonBody, f.jsonHdr, f.rc
	d, err := rc.ReadSupportAPData(ctx, jlis.DefaultSupportPIN)
	if err != nil {
		t.Fatal(err)
	}
	foreignSig, foreignCert := foreignAP(t, d)
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "chip_reading"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := anon.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: s.HolderURL, Now: s.CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	res, err := anon.AnswerCardData(ctx, cc, client.CardData{Basic4: d.Basic4, Signature: d.Signature, Certificate: d.Cert})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := rp.Verification(ctx, res.VerificationID); err != nil || len(v.Limitations) != 4 || v.Sub != "" || len(v.Facts) != 4 {
		t.Errorf("chip reading: %+v %v", v, err)
	}
	tampered := bytes.Clone(d.Basic4)
	tampered[len(tampered)-1] ^= 1 // the sex code
	for _, tt := range []struct {
		basic4, sig, cert []byte
		otherChallenge    bool
		slug              string
	}{
		{d.Basic4, d.Signature, d.Cert, true, "challenge-mismatch"},
		{d.Basic4, bytes.Repeat([]byte{0xFF}, 336), d.Cert, false, "card-data-malformed"},
		{tampered, d.Signature, d.Cert, false, "card-data-tampered"},
		{d.Basic4, d.Signature, foreignCert, false, "card-signature-invalid"},
		{d.Basic4, foreignSig, foreignCert, false, "card-ap-untrusted"},
	} {
		h := session(rp, "chip_reading")
		echo := h.challenge
		if tt.otherChallenge {
			echo = session(rp, "chip_reading").challenge
		}
		body := map[string]any{"token": h.token, "challenge": echo,
			"card_data": map[string][]byte{"basic4": tt.basic4, "signature": tt.sig, "certificate": tt.cert}}
		st, _, b := c.raw(ctx, "POST", holderURL(h.id), "", jsonHdr, jsonBody(body))
		var p client.Problem
		if err := json.Unmarshal(b, &p); st != http.StatusUnprocessableEntity || err != nil || p.Slug() != tt.slug {
			t.Errorf("%s: %d %s", tt.slug, st, b)
			continue
		}
		if v, err := rp.Verification(ctx, p.VerificationID); err != nil || v.Reason != tt.slug || len(v.Limitations) != 4 {
			t.Errorf("%s recorded: %+v %v", tt.slug, v, err)
		}
	}
}

// contractCertLifecycle: expired challenges, a certificate not yet valid, a revoked one (the clock moves on).
func contractCertLifecycle(t *testing.T, f *contractFixture) {
	c, e, base, rp, anon, signer, authSigner, session, sign, jsonBody, jsonHdr, rejected, taro := f.c, f.e, f.base, f.rp, f.anon, f.signer, f.authSigner, f.session, f.sign, f.jsonBody, f.jsonHdr, f.rejected, f.taro
	// An expired challenge; the tenant sees the session as expired.
	he := session(rp, "identity")
	st, _, b := c.raw(ctx, "POST", base+"/v1/holder/consents/challenge", "", nil, nil)
	var consentCh struct{ Challenge []byte }
	if err := json.Unmarshal(b, &consentCh); st != http.StatusOK || err != nil {
		t.Fatalf("consent challenge: %d %s", st, b)
	}
	e.clk.Advance(6 * time.Minute)
	for _, path := range []string{"query", "revoke"} {
		action, tenant, scope := "consents.list", "", ""
		if path == "revoke" {
			action, tenant, scope = "consents.revoke", "t_0000000000000000", "basic4_updates"
		}
		body := map[string]any{"certificate": authSigner.Certificate().Raw, "challenge": consentCh.Challenge,
			"signature": sign(authSigner, client.HolderMessage(action, tenant, scope, consentCh.Challenge))}
		if tenant != "" {
			body["tenant_id"], body["scope"] = tenant, scope
		}
		if st, _, b := c.raw(ctx, "POST", base+"/v1/holder/consents/"+path, "", jsonHdr, jsonBody(body)); st != http.StatusGone {
			t.Errorf("consent %s with an expired challenge: %d %s", path, st, b)
		}
	}
	_, err := anon.Answer(ctx, he.id, he.token, signer.Certificate().Raw, sign(signer, he.challenge))
	expectProblem(t, err, "challenge-expired")
	if s, err := rp.Session(ctx, he.id); err != nil || s.Status != "expired" {
		t.Errorf("expired session: %+v %v", s, err)
	}
	if ch, err := anon.FetchUncheckedChallenge(ctx, he.id, he.token); err != nil || ch.Status != "expired" {
		t.Errorf("holder's view of an expired session: status %q %v, want expired as the tenant sees it", ch.Status, err)
	}

	// A certificate not yet valid: issued tomorrow (valid from tomorrow 00:00 JST), presented
	// tonight.
	e.clk.Advance(24 * time.Hour)
	hanakoSigner, _ := f.hanako()
	e.clk.Advance(-11 * time.Hour)
	h := session(rp, "identity")
	rejected(h, hanakoSigner.Certificate().Raw, sign(hanakoSigner, h.challenge), "cert-not-yet-valid")
	e.clk.Advance(11 * time.Hour)

	// Revoked.
	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	h = session(rp, "identity")
	v := rejected(h, signer.Certificate().Raw, sign(signer, h.challenge), "cert-revoked")
	if v.Cert == nil || v.Revocation.Method != "crl" || !strings.HasPrefix(v.Revocation.Ref, "crl:") {
		t.Errorf("revoked recorded %+v", v)
	}
}

// contractEvidence: evidence bundles, checkpoint, consistency and key.
func contractEvidence(t *testing.T, f *contractFixture) {
	c, e, base, key, keyNoFacts, rp, anon, session := f.c, f.e, f.base, f.key, f.keyNoFacts, f.rp, f.anon, f.session
	_, fresh := f.hanako()
	h := session(rp, "login")
	sig, err := signRaw(fresh, h.challenge)
	if err != nil {
		t.Fatal(err)
	}
	res, err := anon.Answer(ctx, h.id, h.token, fresh.Certificate().Raw, sig)
	if err != nil {
		t.Fatal(err)
	}
	var code int
	var body []byte
	for i := 0; i < 200; i++ {
		if code, _, body = c.raw(ctx, "GET", base+"/v1/evidence/"+res.VerificationID, key, nil, nil); code != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("evidence bundle: %d %s", code, body)
	}
	if _, err := evidence.VerifyBundle(body, e.evidence.PublicKey()); err != nil {
		t.Errorf("bundle from the API does not verify: %v", err)
	}
	off := context.WithValue(ctx, offSpecKey{}, true)
	if code, _, _ := c.raw(off, "GET", base+"/v1/evidence/"+res.VerificationID, "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("bundle without key: %d", code)
	}
	if code, _, _ := c.raw(ctx, "GET", base+"/v1/evidence/"+res.VerificationID, keyNoFacts, nil, nil); code != http.StatusNotFound {
		t.Errorf("another tenant's bundle: %d", code)
	}
	code, _, note := c.raw(ctx, "GET", base+"/v1/evidence/checkpoint", "", nil, nil)
	lines := strings.Split(string(note), "\n")
	if code != http.StatusOK || len(lines) < 3 {
		t.Fatalf("checkpoint: %d %q", code, note)
	}
	if code, _, _ := c.raw(ctx, "GET", base+"/v1/evidence/consistency?from="+lines[1], "", nil, nil); code != http.StatusOK {
		t.Errorf("consistency from the latest size: %d", code)
	}
	if code, _, _ := c.raw(off, "GET", base+"/v1/evidence/consistency?from=x", "", nil, nil); code != http.StatusBadRequest {
		t.Errorf("consistency from=x: %d", code)
	}
	if code, _, _ := c.raw(ctx, "GET", base+"/v1/evidence/consistency?from=999999999", "", nil, nil); code != http.StatusNotFound {
		t.Errorf("consistency from an unknown size: %d", code)
	}
	if code, _, k := c.raw(ctx, "GET", base+"/v1/evidence/key", "", nil, nil); code != http.StatusOK || !strings.HasPrefix(string(k), evidence.DefaultOrigin+"+") {
		t.Errorf("key: %d %q", code, k)
	}
}

// contractJLISUnavailable: J-LIS away, then a certificate expired six years on.
func contractJLISUnavailable(t *testing.T, f *contractFixture) {
	c, e, rp, rpNoFacts, anon, authSigner, session, sign, holderURL, jsonBody, jsonHdr, rejected := f.c, f.e, f.rp, f.rpNoFacts, f.anon, f.authSigner, f.session, f.sign, f.holderURL, f.jsonBody, f.jsonHdr, f.rejected
	// Hanako's card, which the platform has never seen.
	hanakoSigner, hanakoAuth := f.hanako()
	// J-LIS goes away: a new person cannot be resolved, and OCSP cannot answer.
	jiro := testkit.Hanako()
	jiro.Name, jiro.Sex = "鈴木　次郎", jpki.SexMale
	jiroSigner, err := e.issue(jiro).reader().SignSigner(ctx, jlis.DefaultSignPassword)
	if err != nil {
		t.Fatal(err)
	}
	e.jlisSrv.Close()
	h := session(rp, "identity")
	_, err = anon.Answer(ctx, h.id, h.token, hanakoSigner.Certificate().Raw, sign(hanakoSigner, h.challenge))
	expectProblem(t, err, "jlis-unavailable")
	// The holder's consent requests of a certificate the platform never saw need J-LIS too.
	_, err = anon.Consents(ctx, checkedConsentCh(anon, e.clk.Now()), hanakoAuth.Certificate().Raw, hanakoAuth)
	expectProblem(t, err, "jlis-unavailable")
	_, err = anon.RevokeConsent(ctx, checkedConsentCh(anon, e.clk.Now()), hanakoAuth.Certificate().Raw, hanakoAuth, "t_0000000000000000", "basic4_updates")
	expectProblem(t, err, "jlis-unavailable")
	h = session(rpNoFacts, "identity")
	st, hdr, b := c.raw(ctx, "POST", holderURL(h.id), "", jsonHdr, jsonBody(map[string]any{
		"token": h.token, "certificate": jiroSigner.Certificate().Raw, "signature": sign(jiroSigner, h.challenge)}))
	if st != http.StatusServiceUnavailable || !strings.Contains(string(b), "revocation-unavailable") || hdr.Get("Retry-After") == "" {
		t.Errorf("OCSP unreachable: %d %s", st, b)
	}

	// Expired: six years on.
	e.clk.Advance(6 * 365 * 24 * time.Hour)
	h = session(rp, "login")
	rejected(h, authSigner.Certificate().Raw, sign(authSigner, h.challenge), "cert-expired")
}

// contractTenantSettings: GET and PATCH /v1/tenant.
func contractTenantSettings(t *testing.T, f *contractFixture) {
	c, e, base := f.c, f.e, f.base
	// A tenant of its own, so that narrowing changes nothing the other flows rely on.
	k := contractTenant(t, e, "Example Pharmacy", []platform.Fact{platform.FactName, platform.FactBirth})
	patch := func(ctx context.Context, hdr http.Header, body string) (int, []byte) {
		t.Helper()
		h := http.Header{"Content-Type": {"application/json"}}
		for name, v := range hdr {
			h[name] = v
		}
		code, _, b := c.raw(ctx, "PATCH", base+"/v1/tenant", k, h, strings.NewReader(body))
		return code, b
	}
	if code, _, b := c.raw(ctx, "GET", base+"/v1/tenant", k, nil, nil); code != http.StatusOK || !strings.Contains(string(b), `"birthdate"`) {
		t.Errorf("GET /v1/tenant: %d %s", code, b)
	}
	idem := http.Header{"Idempotency-Key": {"narrow"}}
	if code, b := patch(ctx, idem, `{"facts":["name"],"revocation":"ocsp"}`); code != http.StatusOK || !strings.Contains(string(b), `"ocsp"`) {
		t.Errorf("narrowing: %d %s", code, b)
	}
	if code, b := patch(ctx, idem, `{"facts":["name"]}`); code != http.StatusConflict {
		t.Errorf("the key with another body: %d %s", code, b)
	}
	if code, b := patch(ctx, nil, `{"facts":["name","birthdate"]}`); code != http.StatusForbidden || !strings.Contains(string(b), "allowance-widening") {
		t.Errorf("widening: %d %s", code, b)
	}
	if code, b := patch(offSpec(), nil, `{"facts":["mynumber"]}`); code != http.StatusBadRequest {
		t.Errorf("an unknown fact: %d %s", code, b)
	}
	if code, b := patch(offSpec(), nil, `{}`); code != http.StatusBadRequest {
		t.Errorf("nothing to change: %d %s", code, b)
	}
	if code, b := patch(offSpec(), nil, `{"facts":["name"],"x":"`+strings.Repeat("x", web.MaxBody)+`"}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized PATCH: %d %s", code, b)
	}
	if code, _, b := c.raw(offSpec(), "PATCH", base+"/v1/tenant", k, http.Header{"Content-Type": {"text/plain"}}, strings.NewReader(`{"facts":[]}`)); code != http.StatusUnsupportedMediaType {
		t.Errorf("a PATCH that is not JSON: %d %s", code, b)
	}
}

// contractInternal: a broken platform answers the documented 500 on every route.
func contractInternal(t *testing.T, f *contractFixture) {
	v := f.verified()
	c, key, signer, authSigner, jsonBody, jsonHdr, s1, done, id1, tok1, ep1 := f.c, f.key, f.signer, f.authSigner, f.jsonBody, f.jsonHdr, v.s, v.done, v.id, v.token, f.endpoint()
	// A platform on a closed store, and not configured for verifications: every call fails
	// inside, and must still answer the documented 500.
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, err := platform.New(st)
	if err != nil {
		t.Fatal(err)
	}
	bprov, err := oidc.New(p, st, oidc.Config{Issuer: "http://127.0.0.1:1/oidc", Master: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	broken := httptest.NewServer(web.New(p, web.WithTenantRoutes(bprov.APIRoutes)))
	defer broken.Close()
	bc := c.client(broken.URL, key)
	_, err = bc.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	expectProblem(t, err, "internal")
	_, err = bc.Session(ctx, s1.ID)
	expectProblem(t, err, "internal")
	_, err = bc.Verification(ctx, done.Verification.ID)
	expectProblem(t, err, "internal")
	_, err = bc.Usage(ctx, "", "")
	expectProblem(t, err, "internal")
	_, err = bc.CardKey(ctx)
	expectProblem(t, err, "internal")
	if code, _, _ := c.raw(ctx, "GET", broken.URL+"/v1/sessions/"+s1.ID+"/qr.png", key, nil, nil); code != http.StatusInternalServerError {
		t.Errorf("qr.png on a broken store: %d", code)
	}
	_, err = c.client(broken.URL, "").FetchUncheckedChallenge(ctx, id1, tok1)
	expectProblem(t, err, "internal")
	_, err = c.client(broken.URL, "").Answer(ctx, id1, tok1, signer.Certificate().Raw, []byte("sig"))
	expectProblem(t, err, "internal")
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/webhooks/endpoints"}, {"GET", "/v1/webhooks/endpoints"}, {"GET", "/v1/webhooks/endpoints/" + ep1.ID},
		{"DELETE", "/v1/webhooks/endpoints/" + ep1.ID}, {"POST", "/v1/webhooks/endpoints/" + ep1.ID + "/rotate"},
		{"POST", "/v1/webhooks/endpoints/" + ep1.ID + "/redeliver"}, {"GET", "/v1/webhooks/deliveries"},
		{"POST", "/v1/events/evt_00000000000000000000000000000000/redeliver"}, {"GET", "/v1/watches/" + done.Verification.Sub},
		{"DELETE", "/v1/watches/" + done.Verification.Sub}, {"GET", "/v1/watches/" + done.Verification.Sub + "/basic4"},
		{"POST", "/v1/holder/consents/challenge"}, {"GET", "/v1/tenant"}, {"PATCH", "/v1/tenant"},
		{"POST", "/v1/oidc/clients"}, {"GET", "/v1/oidc/clients"}, {"DELETE", "/v1/oidc/clients/c_0000000000000000"},
	} {
		var body io.Reader
		if r.path == "/v1/webhooks/endpoints" && r.method == "POST" {
			body = strings.NewReader(`{"url":"http://127.0.0.1:1/"}`)
		}
		if r.method == "PATCH" {
			body = strings.NewReader(`{"facts":[]}`)
		}
		if r.path == "/v1/oidc/clients" && r.method == "POST" {
			body = strings.NewReader(`{"name":"x","redirect_uris":["https://rp.example/cb"]}`)
		}
		var hdr http.Header
		if body != nil {
			hdr = jsonHdr
		}
		if code, _, b := c.raw(ctx, r.method, broken.URL+r.path, key, hdr, body); code != http.StatusInternalServerError {
			t.Errorf("%s %s on a broken platform: %d %s", r.method, r.path, code, b)
		}
	}
	for _, path := range []string{"query", "revoke"} {
		proof := map[string]any{"certificate": authSigner.Certificate().Raw, "signature": []byte("sig"), "challenge": []byte("challenge"),
			"tenant_id": "t_0000000000000000", "scope": "basic4_updates"}
		if path == "query" {
			delete(proof, "tenant_id")
			delete(proof, "scope")
		}
		if code, _, b := c.raw(ctx, "POST", broken.URL+"/v1/holder/consents/"+path, "", jsonHdr, jsonBody(proof)); code != http.StatusInternalServerError {
			t.Errorf("consents %s on a broken platform: %d %s", path, code, b)
		}
	}
}

// contractCoverage checks that the exchanges of every family together reached every declared
// response of every operation, and every problem type. It says nothing (ok false) unless every
// family ran in this process.
func contractCoverage() (problems []string, exchanges int, ok bool) {
	contractMu.Lock()
	defer contractMu.Unlock()
	for _, fam := range contractFamilies {
		if !contractRan[fam] {
			return nil, 0, false
		}
	}
	got := map[string]bool{}
	slugs := map[string]bool{}
	for _, x := range contractSeen {
		got[x.op+" "+strconv.Itoa(x.status)] = true
		if x.slug != "" {
			slugs[x.slug] = true
		}
	}
	// Not provoked on purpose: an entry waits for its index only for the ~100 ms until the
	// integrator runs, so the evidence flow may or may not see 503 evidence-pending first.
	timing := map[string]bool{"GET /v1/evidence/{id} 503": true}
	var missing []string
	for op, codes := range contractShared.s.ops {
		for _, code := range codes {
			if !got[op+" "+code] && !timing[op+" "+code] {
				missing = append(missing, op+" "+code)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		problems = append(problems, "the flows never produced these declared responses:\n  "+strings.Join(missing, "\n  "))
	}
	for _, slug := range contractShared.slugs {
		if !slugs[slug] && slug != "evidence-pending" {
			problems = append(problems, "the flows never produced problem type "+slug)
		}
	}
	return problems, len(contractSeen), true
}
