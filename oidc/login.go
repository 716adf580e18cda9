package oidc

import (
	"context"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/mynagate/mynagate/challenge"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
	"github.com/skip2/go-qrcode"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

//go:embed pages/*.html
var pageFS embed.FS

var messages = map[string]map[string]string{
	"ja": {
		"oidc.brand": "マイナンバーカードでログイン", "oidc.language": "言語", "oidc.other": "English",
		"oidc.loginTitle": "マイナンバーカードでログイン", "oidc.asks": "があなたのマイナンバーカードでの確認を求めています。",
		"oidc.willshare": "このサービスに提供される情報", "oidc.subject": "利用者識別子", "oidc.subjectText": "このサービス専用の識別子（他のサービスとは共有されません）",
		"oidc.howsign": "スマートフォンのアプリでQRコードを読み取り、署名用電子証明書のパスワード（6〜16文字）をアプリに入力してください。",
		"oidc.howauth": "スマートフォンのアプリでQRコードを読み取り、利用者証明用電子証明書の暗証番号（4桁）をアプリに入力してください。",
		"oidc.qralt":   "アプリで読み取るQRコード", "oidc.qrcaption": "アプリでこのQRコードを読み取ってください。",
		"oidc.urltext": "QRコードの内容:", "oidc.sameDevice": "この端末のアプリで開く",
		"oidc.waiting":      "アプリでの確認を待っています。完了するとこのページは自動的に進みます。",
		"oidc.noscript":     "JavaScriptが無効なため、このページは数秒ごとに再読み込みされます。",
		"oidc.nopin":        "暗証番号・パスワードをこのページに入力することはありません。",
		"oidc.consentTitle": "提供する情報の確認", "oidc.consentAsks": "に次の情報を提供します。",
		"oidc.allow": "提供してログイン", "oidc.deny": "提供しない",
		"oidc.retry": "もう一度試す", "oidc.errorTitle": "ログインできません", "oidc.doneTitle": "完了しました",
		"oidc.deviceDone": "確認が完了しました。テレビなどの機器の画面に戻ってください。", "oidc.denied": "情報の提供を取りやめました。",
		"oidc.rejected": "カードの確認が認められませんでした", "oidc.expired": "このログインの有効期限が切れました。サービスに戻ってやり直してください。",
		"oidc.unknown":      "このログインは見つかりません。サービスに戻ってやり直してください。",
		"oidc.otherBrowser": "このログインは別のブラウザで開始されました。ログインを始めたブラウザで続けてください。",
		"oidc.used":         "このログインは既に完了しています。",
		"oidc.deviceTitle":  "機器のログイン", "oidc.userCode": "機器の画面に表示されたコード", "oidc.next": "次へ", "oidc.badCode": "コードが正しくないか、有効期限が切れています。", "oidc.tooMany": "試行回数が多すぎます。1分後にもう一度お試しください。",
		"oidc.loggedOut": "ログアウトしました。", "oidc.loggedOutTitle": "ログアウト",
		"oidc.c_name": "氏名", "oidc.c_address": "住所", "oidc.c_birthdate": "生年月日", "oidc.c_gender": "性別",
		"oidc.c_sign": "文書への電子署名（署名用電子証明書、文書の SHA-256）",
		"oidc.v_male": "男性", "oidc.v_female": "女性", "oidc.v_unspecified": "不明",
	},
	"en": {
		"oidc.brand": "Log in with My Number Card", "oidc.language": "Language", "oidc.other": "日本語",
		"oidc.loginTitle": "Log in with My Number Card", "oidc.asks": "asks you to confirm who you are with your My Number Card.",
		"oidc.willshare": "What this service will receive", "oidc.subject": "User identifier", "oidc.subjectText": "an identifier for this service only (not shared with other services)",
		"oidc.howsign": "Scan the QR code with the app on your phone and enter the password of your signing certificate (6 to 16 characters) in the app.",
		"oidc.howauth": "Scan the QR code with the app on your phone and enter the 4-digit PIN of your user authentication certificate in the app.",
		"oidc.qralt":   "QR code to scan with the app", "oidc.qrcaption": "Scan this QR code with the app.",
		"oidc.urltext": "The QR code says:", "oidc.sameDevice": "Open in the app on this device",
		"oidc.waiting":      "Waiting for the app. This page moves on by itself when it is done.",
		"oidc.noscript":     "JavaScript is off, so this page reloads every few seconds.",
		"oidc.nopin":        "You never enter your PIN or password on this page.",
		"oidc.consentTitle": "Confirm what you share", "oidc.consentAsks": "will receive the following.",
		"oidc.allow": "Share and log in", "oidc.deny": "Do not share",
		"oidc.retry": "Try again", "oidc.errorTitle": "Cannot log in", "oidc.doneTitle": "Done",
		"oidc.deviceDone": "You are verified. Go back to the screen of your TV or device.", "oidc.denied": "You chose not to share.",
		"oidc.rejected": "Your card was not accepted", "oidc.expired": "This login has expired. Go back to the service and start again.",
		"oidc.unknown":      "This login does not exist. Go back to the service and start again.",
		"oidc.otherBrowser": "This login was started in another browser. Continue in the browser where you started.",
		"oidc.used":         "This login is already complete.",
		"oidc.deviceTitle":  "Log in a device", "oidc.userCode": "The code shown on your device", "oidc.next": "Next", "oidc.badCode": "The code is wrong or has expired.", "oidc.tooMany": "Too many tries. Try again in a minute.",
		"oidc.loggedOut": "You are logged out.", "oidc.loggedOutTitle": "Logged out",
		"oidc.c_name": "Name", "oidc.c_address": "Address", "oidc.c_birthdate": "Date of birth", "oidc.c_gender": "Sex",
		"oidc.c_sign": "An electronic signature of a document (signing certificate; the document's SHA-256)",
		"oidc.v_male": "male", "oidc.v_female": "female", "oidc.v_unspecified": "unspecified",
	},
}

// csp is web/ui's policy without form-action: the consent form's answer redirects to the
// relying party, and browsers apply form-action to the redirects after a form post.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// newUI builds the pages on web/ui: its layout, catalogs, sealed session cookie (which also
// binds a login to the browser that opened it), CSRF protection and security headers.
func (pr *Provider) newUI(key []byte) error {
	u, err := ui.New(ui.Config{Key: key, CookieName: "mynagate_oidc", Messages: messages,
		Brand: "mynagate", Home: pr.base + "/device", AssetPrefix: pr.base + "/ui/static/", CSP: csp, Clock: pr.clk, Rand: pr.rand})
	if err != nil {
		return err
	}
	pages, err := u.Parse(pageFS, "pages/*.html")
	if err != nil {
		return err
	}
	pr.ui, pr.pages = u, pages
	return nil
}

// data is what the provider's page templates get as ui.Page.Data.
type data struct {
	Base                                 string
	ID, Client, Tenant                   string
	Identity                             bool
	Asked                                []string
	EventsURL, PollURL, QRURL, HolderURL string
	AppLink                              template.URL
	Claims                               []claimView
	Message, RetryURL, UserCode          string
	Error                                bool
}

type claimView struct{ Name, Value string }

func (pr *Provider) t(r *http.Request, key string) string { return pr.ui.T(ui.LangOf(r), "oidc."+key) }

func (pr *Provider) render(w http.ResponseWriter, r *http.Request, status int, page, titleKey string, d *data) {
	d.Base = pr.base
	pr.ui.Render(w, r, pr.pages[page], status, &ui.Page{Title: pr.t(r, titleKey), Data: d})
}

func (pr *Provider) message(w http.ResponseWriter, r *http.Request, status int, titleKey, msgKey, detail, retry string) {
	msg := pr.t(r, msgKey)
	if detail != "" {
		msg += " (" + detail + ")"
	}
	pr.render(w, r, status, "message.html", titleKey, &data{Message: msg, RetryURL: retry, Error: status >= 400})
}

// The browser binding: the session of the browser that opens a login first records it; the QR
// code, the live updates and the consent answer only to that session. A link to the login
// copied to another browser (or an attacker's) cannot finish it.
func bound(r *http.Request, id string) bool { return ui.SessionOf(r).Get("login:"+id) == "1" }

func bind(r *http.Request, id string) { ui.SessionOf(r).Set("login:"+id, "1") }

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
	id, _ := checkScopes(ls.tenant, ls.req.Params.Scopes, ls.req.Params.DocumentSHA256 != "")
	return id
}

// sign is the document signature the login asks for, nil when none.
func (ls *loginState) sign() *platform.SignRequest {
	if ls.req.Params.DocumentSHA256 == "" {
		return nil
	}
	d, _ := hex.DecodeString(ls.req.Params.DocumentSHA256) // checked when the request was made
	return &platform.SignRequest{DocumentSHA256: d, RP: challengeName(ls.client.Name)}
}

// challengeName is a client's name as a challenge can state it: control characters replaced
// by U+FFFD, cut at a character boundary to challenge.MaxTenantName bytes (a client name is up
// to 200 characters, which in Japanese is more bytes than that).
func challengeName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(name, "\uFFFD"))
	for len(name) > challenge.MaxTenantName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
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
	s, _, err := pr.p.CreateSession(ctx, ls.tenant, platform.SessionRequest{Purpose: purpose, ClientRef: "oidc:" + ls.req.ID, Sign: ls.sign()})
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
		pr.message(w, r, status, "errorTitle", msg, "", "")
		return
	}
	if ls.req.Login != nil || ls.req.DeniedAt != nil {
		pr.message(w, r, http.StatusConflict, "errorTitle", "used", "", "")
		return
	}
	if l := uiLocale(ls.req.Params.UILocales); l != "" && l != ui.LangOf(r) {
		if _, err := r.Cookie("lang"); err != nil {
			// The relying party's ui_locales, unless the person chose a language: web/ui's
			// switch remembers it and comes back here.
			http.Redirect(w, r, pr.base+"/login?id="+url.QueryEscape(id)+"&lang="+l, http.StatusSeeOther)
			return
		}
	}
	if !bound(r, id) {
		if ls.req.SessionID != "" {
			pr.message(w, r, http.StatusForbidden, "errorTitle", "otherBrowser", "", "")
			return
		}
		bind(r, id)
	}
	s, err := pr.session(ctx, ls, r.URL.Query().Get("retry") == "1")
	if err != nil {
		logErr(ctx, "start the login's session", err)
		pr.message(w, r, http.StatusInternalServerError, "errorTitle", "unknown", "", "")
		return
	}
	switch s.Status {
	case platform.SessionVerified, platform.SessionFailed:
		v, err := pr.p.Verification(ctx, ls.tenant, s.VerificationID)
		if err != nil {
			logErr(ctx, "read the login's verification", err)
			pr.message(w, r, http.StatusInternalServerError, "errorTitle", "unknown", "", "")
			return
		}
		if v.Decision != platform.DecisionAccepted {
			pr.message(w, r, http.StatusOK, "errorTitle", "rejected", v.Reason, pr.base+"/login?id="+url.QueryEscape(id)+"&retry=1")
			return
		}
		pr.consentPage(w, r, ls, v)
		return
	}
	d := &data{ID: id, Client: ls.client.Name, Tenant: ls.tenant.Name, Identity: ls.identity()}
	d.Asked = []string{pr.t(r, "subject")}
	for _, sc := range ls.req.Params.Scopes {
		if _, ok := claimScopes[sc]; ok {
			d.Asked = append(d.Asked, pr.t(r, "c_"+sc))
		}
	}
	if sr := ls.sign(); sr != nil {
		d.Asked = append(d.Asked, pr.t(r, "c_sign")+": "+hex.EncodeToString(sr.DocumentSHA256))
	}
	q := "?id=" + url.QueryEscape(id)
	d.EventsURL, d.PollURL, d.QRURL, d.HolderURL = pr.base+"/login/events"+q, pr.base+"/login/status"+q, pr.base+"/login/qr.png"+q, pr.p.HolderURL(s)
	d.AppLink = template.URL(AppLink(d.HolderURL))
	pr.render(w, r, http.StatusOK, "login.html", "loginTitle", d)
}

// uiLocale is the first of the request's ui_locales the pages speak, or "".
func uiLocale(locales []string) string {
	for _, l := range locales {
		for _, have := range ui.Languages {
			if l == have || strings.HasPrefix(l, have+"-") {
				return have
			}
		}
	}
	return ""
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
		pr.message(w, r, http.StatusInternalServerError, "errorTitle", "unknown", "", "")
		return
	}
	d := &data{ID: ls.req.ID, Client: ls.client.Name, Tenant: ls.tenant.Name}
	for _, sc := range ls.req.Params.Scopes {
		val, ok := claims[sc]
		if !ok {
			continue
		}
		s := ""
		switch x := val.(type) {
		case string:
			s = x
			if sc == ScopeGender {
				if t := pr.t(r, "v_"+x); !strings.HasPrefix(t, "oidc.") {
					s = t
				}
			}
		case map[string]string:
			s = x["formatted"]
		}
		d.Claims = append(d.Claims, claimView{Name: pr.t(r, "c_"+sc), Value: s})
	}
	if sr := ls.sign(); sr != nil {
		d.Claims = append(d.Claims, claimView{Name: pr.t(r, "c_sign"), Value: hex.EncodeToString(sr.DocumentSHA256)})
	}
	pr.render(w, r, http.StatusOK, "consent.html", "consentTitle", d)
}

// consent records the holder's answer (web/ui has checked the origin and the CSRF token):
// allow completes the login with the verification as it is in the platform (never with
// anything the form says), deny ends it.
func (pr *Provider) consent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PostFormValue("id")
	ls, msg, status := pr.loadLogin(ctx, id)
	if ls == nil {
		pr.message(w, r, status, "errorTitle", msg, "", "")
		return
	}
	if !bound(r, id) {
		pr.message(w, r, http.StatusForbidden, "errorTitle", "otherBrowser", "", "")
		return
	}
	now := pr.clk.Now().UTC()
	if r.PostFormValue("action") != "allow" {
		if err := pr.st.DenyOIDCRequest(ctx, id, now); err != nil {
			pr.message(w, r, http.StatusConflict, "errorTitle", "used", "", "")
			return
		}
		if ls.req.Kind == "code" {
			http.Redirect(w, r, errorRedirect(ls.req, oidc.ErrAccessDenied().WithDescription("the holder declined")), http.StatusFound)
			return
		}
		pr.message(w, r, http.StatusOK, "doneTitle", "denied", "", "")
		return
	}
	if ls.req.SessionID == "" {
		pr.message(w, r, http.StatusConflict, "errorTitle", "unknown", "", "")
		return
	}
	s, err := pr.p.Session(ctx, ls.tenant, ls.req.SessionID)
	if err != nil || s.VerificationID == "" {
		pr.message(w, r, http.StatusConflict, "errorTitle", "unknown", "", "")
		return
	}
	v, err := pr.p.Verification(ctx, ls.tenant, s.VerificationID)
	if err != nil || v.Decision != platform.DecisionAccepted {
		pr.message(w, r, http.StatusConflict, "errorTitle", "rejected", "", "")
		return
	}
	acr := ACRLogin
	if v.Purpose == platform.PurposeIdentity {
		acr = ACRIdentity
	}
	l := Login{SessionID: s.ID, Subject: pr.p.PairwiseID(ls.tenant.ID, v.PersonID), VerificationID: v.ID, ACR: acr, AMR: amrOf(pr.p.CAName(v.CertCA)), AuthTime: v.CreatedAt}
	if err := pr.st.CompleteOIDCRequest(ctx, id, l, now); err != nil {
		pr.message(w, r, http.StatusConflict, "errorTitle", "used", "", "")
		return
	}
	if ls.req.Kind == "code" {
		http.Redirect(w, r, pr.cfg.Issuer+"/authorize/callback?id="+url.QueryEscape(id), http.StatusFound)
		return
	}
	pr.message(w, r, http.StatusOK, "doneTitle", "deviceDone", "", "")
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

// boundLogin loads a login for its live parts (QR, events, status), for its browser only.
func (pr *Provider) boundLogin(w http.ResponseWriter, r *http.Request) (*loginState, bool) {
	id := r.URL.Query().Get("id")
	ls, _, status := pr.loadLogin(r.Context(), id)
	if ls != nil && (!bound(r, id) || ls.req.SessionID == "") {
		ls, status = nil, http.StatusForbidden
	}
	if ls == nil {
		http.Error(w, http.StatusText(status), status)
		return nil, false
	}
	return ls, true
}

func (pr *Provider) loginQR(w http.ResponseWriter, r *http.Request) {
	ls, ok := pr.boundLogin(w, r)
	if !ok {
		return
	}
	s, err := pr.p.Session(r.Context(), ls.tenant, ls.req.SessionID)
	if err != nil {
		http.Error(w, "session unavailable", http.StatusInternalServerError)
		return
	}
	png, err := qrcode.Encode(pr.p.HolderURL(s), qrcode.Medium, 320)
	if err != nil {
		http.Error(w, "QR code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// over says whether a login's session has ended (answered, or expired), and where its page
// is: the page then shows the consent or the outcome.
func (pr *Provider) over(ctx context.Context, ls *loginState) (bool, string) {
	page := pr.base + "/login?id=" + url.QueryEscape(ls.req.ID)
	s, err := pr.p.Session(ctx, ls.tenant, ls.req.SessionID)
	if err == nil && s.Status != platform.SessionPending {
		return true, page
	}
	return !pr.clk.Now().Before(ls.req.ExpiresAt) || (err == nil && !pr.p.Now().Before(s.ExpiresAt)), page
}

// loginEvents streams one server-sent event, "go" with the login page's path, when the
// login's session is over (web/ui's script then opens it). It checks once a second and gives
// up when the login expires or the client goes away.
func (pr *Provider) loginEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ls, ok := pr.boundLogin(w, r)
	if !ok {
		return
	}
	st, err := ui.NewStream(w, r)
	if err != nil {
		return
	}
	tick := pr.clk.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		if done, page := pr.over(ctx, ls); done {
			st.Send("go", page)
			return
		}
		if i%15 == 14 {
			st.Ping()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
		}
	}
}

// loginStatus is the polling fallback of the live update: {"go": path} once the session is over.
func (pr *Provider) loginStatus(w http.ResponseWriter, r *http.Request) {
	ls, ok := pr.boundLogin(w, r)
	if !ok {
		return
	}
	out := map[string]string{}
	if done, page := pr.over(r.Context(), ls); done {
		out["go"] = page
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// devicePage is the verification URI of the device grant: the holder types (or scans) the
// code shown on the device, and goes on to the same login page as a browser login.
func (pr *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("user_code")
	if raw == "" {
		pr.render(w, r, http.StatusOK, "device.html", "deviceTitle", &data{})
		return
	}
	if !pr.guesses.allow(r) {
		w.Header().Set("Retry-After", "60")
		pr.render(w, r, http.StatusTooManyRequests, "device.html", "deviceTitle", &data{UserCode: raw, Message: pr.t(r, "tooMany")})
		return
	}
	code := normalizeUserCode(raw)
	var req *Request
	if code != "" {
		if got, err := pr.st.OIDCRequestByUserCode(r.Context(), code); err == nil {
			req = got
		}
	}
	if req == nil || req.Kind != "device" || !pr.clk.Now().Before(req.ExpiresAt) || req.Login != nil || req.DeniedAt != nil {
		pr.render(w, r, http.StatusBadRequest, "device.html", "deviceTitle", &data{UserCode: raw, Message: pr.t(r, "badCode")})
		return
	}
	if !bound(r, req.ID) {
		if req.SessionID != "" {
			pr.message(w, r, http.StatusForbidden, "errorTitle", "otherBrowser", "", "")
			return
		}
		bind(r, req.ID)
	}
	http.Redirect(w, r, pr.base+"/login?id="+url.QueryEscape(req.ID), http.StatusSeeOther)
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
	pr.message(w, r, http.StatusOK, "loggedOutTitle", "loggedOut", "", "")
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
		if _, err := checkScopes(t, strings.Fields(r.PostForm.Get("scope")), false); err != nil {
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

// guessLimiter bounds how fast one client address may try user codes on the device page: a
// user code is 8 letters of base 20 (about 2.6e10 codes) and lives 10 minutes, and this keeps
// guessing far below any useful rate. Addresses are kept in a bounded LRU.
type guessLimiter struct {
	mu  sync.Mutex
	ips *lru.Cache[string, *rate.Limiter]
	clk func() time.Time
}

func newGuessLimiter(clk func() time.Time) *guessLimiter {
	c, _ := lru.New[string, *rate.Limiter](10000)
	return &guessLimiter{ips: c, clk: clk}
}

// allow takes one try for the request's address: 10 at once, then one every 6 seconds.
func (g *guessLimiter) allow(r *http.Request) bool {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.ips.Get(ip)
	if !ok {
		l = rate.NewLimiter(rate.Every(6*time.Second), 10)
		g.ips.Add(ip, l)
	}
	return l.AllowN(g.clk(), 1)
}
