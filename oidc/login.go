package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/skip2/go-qrcode"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

//go:embed pages/*.html
var pageFS embed.FS

//go:embed static
var staticFS embed.FS

var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "consent", "message", "device"} {
		out[name] = template.Must(template.ParseFS(pageFS, "pages/layout.html", "pages/"+name+".html"))
	}
	return out
}()

// texts are the pages' words in Japanese and English.
var texts = map[string]map[string]string{
	"ja": {
		"brand": "マイナンバーカードでログイン", "language": "言語", "other": "English",
		"loginTitle": "マイナンバーカードでログイン", "asks": "があなたのマイナンバーカードでの確認を求めています。",
		"willshare": "このサービスに提供される情報", "subject": "利用者識別子", "subjectText": "このサービス専用の識別子（他のサービスとは共有されません）",
		"howsign": "スマートフォンのアプリでQRコードを読み取り、署名用電子証明書のパスワード（6〜16文字）をアプリに入力してください。",
		"howauth": "スマートフォンのアプリでQRコードを読み取り、利用者証明用電子証明書の暗証番号（4桁）をアプリに入力してください。",
		"qralt":   "アプリで読み取るQRコード", "qrcaption": "アプリでこのQRコードを読み取ってください。",
		"urltext": "QRコードの内容:", "sameDevice": "この端末のアプリで開く",
		"waiting":      "アプリでの確認を待っています。完了するとこのページは自動的に進みます。",
		"noscript":     "JavaScriptが無効なため、このページは数秒ごとに再読み込みされます。",
		"nopin":        "暗証番号・パスワードをこのページに入力することはありません。",
		"consentTitle": "提供する情報の確認", "consentAsks": "に次の情報を提供します。",
		"allow": "提供してログイン", "deny": "提供しない",
		"retry": "もう一度試す", "errorTitle": "ログインできません", "doneTitle": "完了しました",
		"deviceDone": "確認が完了しました。テレビなどの機器の画面に戻ってください。", "denied": "情報の提供を取りやめました。",
		"rejected": "カードの確認が認められませんでした", "expired": "このログインの有効期限が切れました。サービスに戻ってやり直してください。",
		"unknown":      "このログインは見つかりません。サービスに戻ってやり直してください。",
		"otherBrowser": "このログインは別のブラウザで開始されました。ログインを始めたブラウザで続けてください。",
		"used":         "このログインは既に完了しています。",
		"deviceTitle":  "機器のログイン", "userCode": "機器の画面に表示されたコード", "next": "次へ", "badCode": "コードが正しくないか、有効期限が切れています。",
		"loggedOut": "ログアウトしました。", "loggedOutTitle": "ログアウト",
		"c_name": "氏名", "c_address": "住所", "c_birthdate": "生年月日", "c_gender": "性別",
		"v_male": "男性", "v_female": "女性", "v_unspecified": "不明",
	},
	"en": {
		"brand": "Log in with My Number Card", "language": "Language", "other": "日本語",
		"loginTitle": "Log in with My Number Card", "asks": "asks you to confirm who you are with your My Number Card.",
		"willshare": "What this service will receive", "subject": "User identifier", "subjectText": "an identifier for this service only (not shared with other services)",
		"howsign": "Scan the QR code with the app on your phone and enter the password of your signing certificate (6 to 16 characters) in the app.",
		"howauth": "Scan the QR code with the app on your phone and enter the 4-digit PIN of your user authentication certificate in the app.",
		"qralt":   "QR code to scan with the app", "qrcaption": "Scan this QR code with the app.",
		"urltext": "The QR code says:", "sameDevice": "Open in the app on this device",
		"waiting":      "Waiting for the app. This page moves on by itself when it is done.",
		"noscript":     "JavaScript is off, so this page reloads every few seconds.",
		"nopin":        "You never enter your PIN or password on this page.",
		"consentTitle": "Confirm what you share", "consentAsks": "will receive the following.",
		"allow": "Share and log in", "deny": "Do not share",
		"retry": "Try again", "errorTitle": "Cannot log in", "doneTitle": "Done",
		"deviceDone": "You are verified. Go back to the screen of your TV or device.", "denied": "You chose not to share.",
		"rejected": "Your card was not accepted", "expired": "This login has expired. Go back to the service and start again.",
		"unknown":      "This login does not exist. Go back to the service and start again.",
		"otherBrowser": "This login was started in another browser. Continue in the browser where you started.",
		"used":         "This login is already complete.",
		"deviceTitle":  "Log in a device", "userCode": "The code shown on your device", "next": "Next", "badCode": "The code is wrong or has expired.",
		"loggedOut": "You are logged out.", "loggedOutTitle": "Logged out",
		"c_name": "Name", "c_address": "Address", "c_birthdate": "Date of birth", "c_gender": "Sex",
		"v_male": "male", "v_female": "female", "v_unspecified": "unspecified",
	},
}

// view is what every page template gets.
type view struct {
	Lang, OtherLang, LangURL, Base, Title string
	T                                     map[string]string
	Refresh                               int
	Events                                bool

	ID, Client, Tenant, CSRF    string
	Identity                    bool
	Asked                       []string
	EventsURL, QRURL, HolderURL string
	AppLink                     template.URL
	Claims                      []claimView
	Message, RetryURL, UserCode string
	Error                       bool
}

type claimView struct{ Name, Value string }

// lang picks ja or en: ?lang=, then the request's ui_locales, then Accept-Language.
func lang(r *http.Request, uiLocales []string) string {
	if l := r.URL.Query().Get("lang"); l == "ja" || l == "en" {
		return l
	}
	for _, l := range uiLocales {
		if strings.HasPrefix(l, "ja") {
			return "ja"
		}
		if strings.HasPrefix(l, "en") {
			return "en"
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		p := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if strings.HasPrefix(p, "ja") {
			return "ja"
		}
		if strings.HasPrefix(p, "en") {
			return "en"
		}
	}
	return "ja"
}

func (pr *Provider) newView(r *http.Request, uiLocales []string, titleKey string) *view {
	l := lang(r, uiLocales)
	other := "en"
	if l == "en" {
		other = "ja"
	}
	q := r.URL.Query()
	q.Set("lang", other)
	u := *r.URL
	u.RawQuery = q.Encode()
	if r.Method != http.MethodGet {
		u.RawQuery = "lang=" + other
	}
	return &view{Lang: l, OtherLang: other, LangURL: u.RequestURI(), Base: pr.base, T: texts[l], Title: texts[l][titleKey]}
}

// securePage sets the headers of every page: a strict CSP (no inline script or style), no
// framing, no caching, no referrer (the URLs carry request ids).
func securePage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (pr *Provider) render(w http.ResponseWriter, status int, page string, v *view) {
	securePage(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages[page].ExecuteTemplate(w, "layout", v); err != nil {
		logErr(context.Background(), "render "+page, err)
	}
}

func (pr *Provider) message(w http.ResponseWriter, r *http.Request, status int, uiLocales []string, titleKey, msgKey, detail, retry string) {
	v := pr.newView(r, uiLocales, titleKey)
	v.Message, v.RetryURL, v.Error = v.T[msgKey], retry, status >= 400
	if detail != "" {
		v.Message += " (" + detail + ")"
	}
	pr.render(w, status, "message", v)
}

// The browser binding: the browser that opens a login first gets a cookie holding
// HMAC(bind key, request id); the QR code, the live updates and the consent answer only to it.
// A link to the login copied to another browser (or an attacker's) cannot finish it.
func (pr *Provider) bindToken(id, purpose string) string {
	m := hmac.New(sha256New, pr.bindKey)
	m.Write([]byte(purpose + ":" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func cookieName(id string) string { return "mg_login_" + id }

func (pr *Provider) bound(r *http.Request, id string) bool {
	c, err := r.Cookie(cookieName(id))
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(pr.bindToken(id, "bind"))) == 1
}

func (pr *Provider) bind(w http.ResponseWriter, id string, until time.Time) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(id), Value: pr.bindToken(id, "bind"), Path: pr.base + "/", Expires: until,
		HttpOnly: true, Secure: strings.HasPrefix(pr.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode})
}

// loginState loads a request with its client and tenant, refusing one that is over.
type loginState struct {
	req    *Request
	client *Client
	tenant *platform.Tenant
}

func (pr *Provider) loadLogin(ctx context.Context, id string) (*loginState, string, int) {
	if id == "" || len(id) > 64 {
		return nil, "unknown", http.StatusNotFound
	}
	r, err := pr.st.OIDCRequest(ctx, id)
	if errors.Is(err, platform.ErrNotFound) {
		return nil, "unknown", http.StatusNotFound
	}
	if err != nil {
		logErr(ctx, "load a login", err)
		return nil, "unknown", http.StatusInternalServerError
	}
	if !pr.clk.Now().Before(r.ExpiresAt) {
		return nil, "expired", http.StatusGone
	}
	c, err := pr.st.OIDCClient(ctx, r.ClientID)
	if err != nil || c.DeletedAt != nil {
		return nil, "unknown", http.StatusNotFound
	}
	t, err := pr.p.Tenant(ctx, c.TenantID)
	if err != nil {
		logErr(ctx, "load a login's tenant", err)
		return nil, "unknown", http.StatusInternalServerError
	}
	return &loginState{req: r, client: c, tenant: t}, "", 0
}

// identity reports whether a login needs the signing certificate.
func (ls *loginState) identity() bool {
	id, _ := checkScopes(ls.tenant, ls.req.Params.Scopes)
	return id
}

// session returns the login's platform session, starting a new one when there is none or the
// last one is over without an accepted verification (the holder may try again).
func (pr *Provider) session(ctx context.Context, ls *loginState, retry bool) (*platform.Session, error) {
	if ls.req.SessionID != "" {
		s, err := pr.p.Session(ctx, ls.tenant, ls.req.SessionID)
		if err != nil {
			return nil, err
		}
		expired := s.Status == platform.SessionPending && !pr.p.Now().Before(s.ExpiresAt)
		if !(retry && s.Status == platform.SessionFailed) && !expired {
			return s, nil
		}
	}
	purpose := platform.PurposeLogin
	if ls.identity() {
		purpose = platform.PurposeIdentity
	}
	s, _, err := pr.p.CreateSession(ctx, ls.tenant, platform.SessionRequest{Purpose: purpose, ClientRef: "oidc:" + ls.req.ID})
	if err != nil {
		return nil, err
	}
	if err := pr.st.SetOIDCRequestSession(ctx, ls.req.ID, s.ID); err != nil {
		return nil, err
	}
	ls.req.SessionID = s.ID
	return s, nil
}

func (pr *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	ls, msg, status := pr.loadLogin(ctx, id)
	if ls == nil {
		pr.message(w, r, status, nil, "errorTitle", msg, "", "")
		return
	}
	loc := ls.req.Params.UILocales
	if ls.req.Login != nil || ls.req.DeniedAt != nil {
		pr.message(w, r, http.StatusConflict, loc, "errorTitle", "used", "", "")
		return
	}
	if !pr.bound(r, id) {
		if ls.req.SessionID != "" {
			pr.message(w, r, http.StatusForbidden, loc, "errorTitle", "otherBrowser", "", "")
			return
		}
		pr.bind(w, id, ls.req.ExpiresAt)
	}
	s, err := pr.session(ctx, ls, r.URL.Query().Get("retry") == "1")
	if err != nil {
		logErr(ctx, "start the login's session", err)
		pr.message(w, r, http.StatusInternalServerError, loc, "errorTitle", "unknown", "", "")
		return
	}
	switch s.Status {
	case platform.SessionVerified, platform.SessionFailed:
		v, err := pr.p.Verification(ctx, ls.tenant, s.VerificationID)
		if err != nil {
			logErr(ctx, "read the login's verification", err)
			pr.message(w, r, http.StatusInternalServerError, loc, "errorTitle", "unknown", "", "")
			return
		}
		if v.Decision != platform.DecisionAccepted {
			pr.message(w, r, http.StatusOK, loc, "errorTitle", "rejected", v.Reason, pr.base+"/login?id="+url.QueryEscape(id)+"&retry=1")
			return
		}
		pr.consentPage(w, r, ls, v)
		return
	}
	v := pr.newView(r, loc, "loginTitle")
	v.ID, v.Client, v.Tenant, v.Identity = id, ls.client.Name, ls.tenant.Name, ls.identity()
	v.Asked = []string{v.T["subject"]}
	for _, sc := range ls.req.Params.Scopes {
		if _, ok := claimScopes[sc]; ok {
			v.Asked = append(v.Asked, v.T["c_"+sc])
		}
	}
	q := "?id=" + url.QueryEscape(id)
	v.EventsURL, v.QRURL, v.HolderURL = pr.base+"/login/events"+q, pr.base+"/login/qr.png"+q, pr.p.HolderURL(s)
	v.AppLink = template.URL(AppLink(v.HolderURL))
	v.Refresh, v.Events = 3, true
	pr.render(w, http.StatusOK, "login", v)
}

// AppLink is the same-device hand-off: a link in the scheme the holder's app registers
// (mynagate://verify?url=HOLDER_URL), which `mynagate reader verify` also takes.
func AppLink(holderURL string) string {
	return "mynagate://verify?url=" + url.QueryEscape(holderURL)
}

// consentPage shows exactly what the relying party will receive, with the values.
func (pr *Provider) consentPage(w http.ResponseWriter, r *http.Request, ls *loginState, v *platform.Verification) {
	claims, err := pr.claims(r.Context(), ls.tenant.ID, v.ID, ls.req.Params.Scopes)
	if err != nil {
		logErr(r.Context(), "read the login's claims", err)
		pr.message(w, r, http.StatusInternalServerError, ls.req.Params.UILocales, "errorTitle", "unknown", "", "")
		return
	}
	vw := pr.newView(r, ls.req.Params.UILocales, "consentTitle")
	vw.ID, vw.Client, vw.Tenant, vw.CSRF = ls.req.ID, ls.client.Name, ls.tenant.Name, pr.bindToken(ls.req.ID, "csrf")
	for _, sc := range ls.req.Params.Scopes {
		val, ok := claims[sc]
		if !ok {
			continue
		}
		s := ""
		switch x := val.(type) {
		case string:
			s = x
			if sc == ScopeGender && vw.T["v_"+x] != "" {
				s = vw.T["v_"+x]
			}
		case map[string]string:
			s = x["formatted"]
		}
		vw.Claims = append(vw.Claims, claimView{Name: vw.T["c_"+sc], Value: s})
	}
	pr.render(w, http.StatusOK, "consent", vw)
}

// consent records the holder's answer: allow completes the login with the verification as it
// is in the platform (never with anything the form says), deny ends it.
func (pr *Provider) consent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		pr.message(w, r, http.StatusBadRequest, nil, "errorTitle", "unknown", "", "")
		return
	}
	id := r.PostForm.Get("id")
	ls, msg, status := pr.loadLogin(ctx, id)
	if ls == nil {
		pr.message(w, r, status, nil, "errorTitle", msg, "", "")
		return
	}
	loc := ls.req.Params.UILocales
	if !pr.bound(r, id) || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(pr.bindToken(id, "csrf"))) != 1 {
		pr.message(w, r, http.StatusForbidden, loc, "errorTitle", "otherBrowser", "", "")
		return
	}
	now := pr.clk.Now().UTC()
	if r.PostForm.Get("action") != "allow" {
		if err := pr.st.DenyOIDCRequest(ctx, id, now); err != nil {
			pr.message(w, r, http.StatusConflict, loc, "errorTitle", "used", "", "")
			return
		}
		if ls.req.Kind == "code" {
			http.Redirect(w, r, errorRedirect(ls.req, oidc.ErrAccessDenied().WithDescription("the holder declined")), http.StatusFound)
			return
		}
		pr.message(w, r, http.StatusOK, loc, "doneTitle", "denied", "", "")
		return
	}
	if ls.req.SessionID == "" {
		pr.message(w, r, http.StatusConflict, loc, "errorTitle", "unknown", "", "")
		return
	}
	s, err := pr.p.Session(ctx, ls.tenant, ls.req.SessionID)
	if err != nil || s.VerificationID == "" {
		pr.message(w, r, http.StatusConflict, loc, "errorTitle", "unknown", "", "")
		return
	}
	v, err := pr.p.Verification(ctx, ls.tenant, s.VerificationID)
	if err != nil || v.Decision != platform.DecisionAccepted {
		pr.message(w, r, http.StatusConflict, loc, "errorTitle", "rejected", "", "")
		return
	}
	acr := ACRLogin
	if v.Purpose == platform.PurposeIdentity {
		acr = ACRIdentity
	}
	l := Login{SessionID: s.ID, Subject: pr.p.PairwiseID(ls.tenant.ID, v.PersonID), VerificationID: v.ID, ACR: acr, AMR: amr, AuthTime: v.CreatedAt}
	if err := pr.st.CompleteOIDCRequest(ctx, id, l, now); err != nil {
		pr.message(w, r, http.StatusConflict, loc, "errorTitle", "used", "", "")
		return
	}
	if ls.req.Kind == "code" {
		http.Redirect(w, r, pr.cfg.Issuer+"/authorize/callback?id="+url.QueryEscape(id), http.StatusFound)
		return
	}
	pr.message(w, r, http.StatusOK, loc, "doneTitle", "deviceDone", "", "")
}

// errorRedirect is the authorization error response to the client's redirect URI.
func errorRedirect(r *Request, e *oidc.Error) string {
	u, _ := url.Parse(r.Params.RedirectURI)
	q := u.Query()
	q.Set("error", string(e.ErrorType))
	q.Set("error_description", e.Description)
	if r.Params.State != "" {
		q.Set("state", r.Params.State)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (pr *Provider) loginQR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	ls, _, status := pr.loadLogin(ctx, id)
	if ls == nil || !pr.bound(r, id) || ls.req.SessionID == "" {
		if ls != nil {
			status = http.StatusForbidden
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	s, err := pr.p.Session(ctx, ls.tenant, ls.req.SessionID)
	if err != nil {
		http.Error(w, "session unavailable", http.StatusInternalServerError)
		return
	}
	png, err := qrcode.Encode(pr.p.HolderURL(s), qrcode.Medium, 320)
	if err != nil {
		http.Error(w, "QR code", http.StatusInternalServerError)
		return
	}
	securePage(w)
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// loginEvents streams one server-sent event, "done", when the login's session is over. It
// checks once a second and gives up when the login expires or the client goes away.
func (pr *Provider) loginEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	ls, _, status := pr.loadLogin(ctx, id)
	if ls == nil || !pr.bound(r, id) || ls.req.SessionID == "" {
		if ls != nil {
			status = http.StatusForbidden
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(pr.cfg.RequestTTL)) // past the server's write timeout, to the login's end
	fl := flusher{rc}
	securePage(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	fl.Flush()
	tick := pr.clk.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		s, err := pr.p.Session(ctx, ls.tenant, ls.req.SessionID)
		if err == nil && s.Status != platform.SessionPending {
			b, _ := json.Marshal(map[string]string{"status": string(s.Status)})
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", b)
			fl.Flush()
			return
		}
		if !pr.clk.Now().Before(ls.req.ExpiresAt) || (err == nil && !pr.p.Now().Before(s.ExpiresAt)) {
			fmt.Fprint(w, "event: done\ndata: {\"status\":\"expired\"}\n\n")
			fl.Flush()
			return
		}
		if i%15 == 14 {
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
		}
	}
}

// devicePage is the verification URI of the device grant: the holder types (or scans) the
// code shown on the device, and goes on to the same login page as a browser login.
func (pr *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	v := pr.newView(r, nil, "deviceTitle")
	raw := r.URL.Query().Get("user_code")
	if raw == "" {
		pr.render(w, http.StatusOK, "device", v)
		return
	}
	code := normalizeUserCode(raw)
	v.UserCode = raw
	var req *Request
	if code != "" {
		var err error
		req, err = pr.st.OIDCRequestByUserCode(r.Context(), code)
		if err != nil {
			req = nil
		}
	}
	if req == nil || req.Kind != "device" || !pr.clk.Now().Before(req.ExpiresAt) || req.Login != nil || req.DeniedAt != nil {
		v.Message = v.T["badCode"]
		pr.render(w, http.StatusBadRequest, "device", v)
		return
	}
	if !pr.bound(r, req.ID) {
		if req.SessionID != "" {
			pr.message(w, r, http.StatusForbidden, nil, "errorTitle", "otherBrowser", "", "")
			return
		}
		pr.bind(w, req.ID, req.ExpiresAt)
	}
	http.Redirect(w, r, pr.base+"/login?id="+url.QueryEscape(req.ID)+"&lang="+v.Lang, http.StatusSeeOther)
}

// normalizeUserCode turns what a person typed into the stored form XXXX-XXXX, or "".
func normalizeUserCode(s string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		if c >= 'A' && c <= 'Z' {
			b.WriteRune(c)
		}
	}
	if b.Len() != 8 {
		return ""
	}
	x := b.String()
	return x[:4] + "-" + x[4:]
}

func (pr *Provider) loggedOut(w http.ResponseWriter, r *http.Request) {
	pr.message(w, r, http.StatusOK, nil, "loggedOutTitle", "loggedOut", "", "")
}

func (pr *Provider) static(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(staticFS, "static")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.StripPrefix(pr.base+"/static/", http.FileServerFS(sub)).ServeHTTP(w, r)
}

// deviceAuthorization checks a device authorization request's scopes against the tenant's
// allowance before the library stores it, so that a scope beyond it is refused with
// invalid_scope (the library would report a storage refusal as a server error).
func (pr *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("cannot parse form"))
		return
	}
	id := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		if uu, err := url.QueryUnescape(u); err == nil {
			id = uu
		}
	}
	if c, err := pr.st.OIDCClient(r.Context(), id); err == nil && c.DeletedAt == nil {
		t, err := pr.p.Tenant(r.Context(), c.TenantID)
		if err != nil {
			writeOAuthError(w, http.StatusInternalServerError, oidc.ErrServerError())
			return
		}
		if _, err := checkScopes(t, strings.Fields(r.PostForm.Get("scope"))); err != nil {
			writeOAuthError(w, http.StatusBadRequest, oidc.ErrInvalidScope().WithDescription("%s", err.Error()))
			return
		}
	}
	http.StripPrefix(pr.base, pr.op).ServeHTTP(w, r)
}

func writeOAuthError(w http.ResponseWriter, status int, e *oidc.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": string(e.ErrorType), "error_description": e.Description})
}

type flusher struct{ rc *http.ResponseController }

func (f flusher) Flush() { f.rc.Flush() }
