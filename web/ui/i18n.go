package ui

import "fmt"

// Msg is a message to show: a catalog key and its arguments, translated when the page renders.
type Msg struct {
	Key  string
	Args []any
}

// M makes a Msg.
func M(key string, args ...any) Msg { return Msg{Key: key, Args: args} }

// IsZero reports whether m is no message.
func (m Msg) IsZero() bool { return m.Key == "" }

// T translates key into lang with fmt.Sprintf-style args; a key missing in lang falls back to
// English, then to the key itself (so a missing translation shows, rather than hides, text).
func (u *UI) T(lang, key string, args ...any) string {
	s, ok := u.msgs[lang][key]
	if !ok {
		if s, ok = u.msgs["en"][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has reports whether the catalog of lang has key.
func (u *UI) Has(lang, key string) bool { _, ok := u.msgs[lang][key]; return ok }

// Keys returns the keys of a language's catalog (for tests that every language has them all).
func (u *UI) Keys(lang string) []string {
	var out []string
	for k := range u.msgs[lang] {
		out = append(out, k)
	}
	return out
}

// builtin are the layout's own messages.
var builtin = map[string]map[string]string{
	"en": {
		"ui.skip":            "Skip to main content",
		"ui.nav":             "Main",
		"ui.lang":            "Language",
		"ui.lang.ja":         "日本語",
		"ui.lang.en":         "English",
		"ui.signedin":        "Signed in as %s",
		"ui.logout":          "Sign out",
		"ui.footer":          "mynagate — identity verification with the My Number Card (a simulation: no real card data)",
		"ui.csrf.title":      "Request refused",
		"ui.csrf.detail":     "This form came from another site or has expired. Go back, reload the page and try again.",
		"ui.error.title":     "Something went wrong",
		"ui.notfound.title":  "Page not found",
		"ui.required":        "required",
		"ui.stream.checknow": "Check now",
		"form.errors":        "There is a problem",
		"form.required":      "Enter this field.",
		"form.toolong":       "Use at most %d characters.",
		"form.invalid":       "This value is not valid.",
	},
	"ja": {
		"ui.skip":            "本文へ移動",
		"ui.nav":             "メイン",
		"ui.lang":            "言語",
		"ui.lang.ja":         "日本語",
		"ui.lang.en":         "English",
		"ui.signedin":        "%s でログイン中",
		"ui.logout":          "ログアウト",
		"ui.footer":          "mynagate — マイナンバーカードによる本人確認（シミュレーションです。実在のカード情報は扱いません）",
		"ui.csrf.title":      "リクエストを拒否しました",
		"ui.csrf.detail":     "このフォームは別のサイトから送信されたか、有効期限が切れています。前のページに戻り、再読み込みしてからもう一度お試しください。",
		"ui.error.title":     "エラーが発生しました",
		"ui.notfound.title":  "ページが見つかりません",
		"ui.required":        "必須",
		"ui.stream.checknow": "今すぐ確認",
		"form.errors":        "入力内容に問題があります",
		"form.required":      "この項目を入力してください。",
		"form.toolong":       "%d 文字以内で入力してください。",
		"form.invalid":       "この値は使えません。",
	},
}
