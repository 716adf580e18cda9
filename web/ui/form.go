package ui

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Form is a submitted (or to-be-filled) form: what the user typed, kept for re-display, and a
// message per field that failed.
type Form struct {
	Values url.Values
	Errors map[string]Msg
	order  []string
}

// NewForm returns an empty form (a page's first display).
func NewForm() *Form { return &Form{Values: url.Values{}, Errors: map[string]Msg{}} }

// ParseForm reads the request's form body (bounded under Protect) and returns it. A body that
// cannot be parsed gives an empty form with an error on the field "".
func ParseForm(r *http.Request) *Form {
	f := NewForm()
	if err := r.ParseForm(); err != nil {
		f.Fail("", "form.invalid")
		return f
	}
	for k, v := range r.PostForm {
		if k != "csrf" {
			f.Values[k] = v
		}
	}
	return f
}

// Get returns the field's value with surrounding spaces trimmed.
func (f *Form) Get(name string) string { return strings.TrimSpace(f.Values.Get(name)) }

// Raw returns the field's value as typed (passwords).
func (f *Form) Raw(name string) string { return f.Values.Get(name) }

// Set sets a field's value (a default for a first display).
func (f *Form) Set(name, v string) { f.Values.Set(name, v) }

// Fail records a message for a field; the first message of a field wins.
func (f *Form) Fail(name, key string, args ...any) {
	if _, ok := f.Errors[name]; ok {
		return
	}
	f.Errors[name] = M(key, args...)
	f.order = append(f.order, name)
}

// Required fails each named field that is empty.
func (f *Form) Required(names ...string) {
	for _, n := range names {
		if f.Get(n) == "" {
			f.Fail(n, "form.required")
		}
	}
}

// MaxLen fails a field longer than n characters.
func (f *Form) MaxLen(name string, n int) {
	if utf8.RuneCountInString(f.Values.Get(name)) > n {
		f.Fail(name, "form.toolong", n)
	}
}

// OK reports whether no field failed.
func (f *Form) OK() bool { return len(f.Errors) == 0 }

// FieldError is one entry of a form's error summary.
type FieldError struct {
	Field string
	Msg   Msg
}

// Failed lists the failed fields in the order they failed (for the error summary).
func (f *Form) Failed() []FieldError {
	var out []FieldError
	for _, n := range f.order {
		out = append(out, FieldError{Field: n, Msg: f.Errors[n]})
	}
	return out
}
