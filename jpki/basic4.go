package jpki

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// JST is Japan Standard Time (UTC+9, no daylight saving). Card and certificate dates are JST
// calendar dates.
var JST = time.FixedZone("JST", 9*60*60)

// Date is a calendar date without a time of day.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses YYYY-MM-DD and rejects dates that do not exist.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("jpki: date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is the zero date.
func (d Date) IsZero() bool { return d == Date{} }

// In returns midnight of the date in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.In(time.UTC).Before(e.In(time.UTC)) }

// MarshalText implements encoding.TextMarshaler (YYYY-MM-DD).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Birthday returns the holder's birthday in year y. A 29 February birthday falls on 28 February
// in common years.
func (d Date) Birthday(y int) Date {
	if d.Month == time.February && d.Day == 29 && !isLeap(y) {
		return Date{y, time.February, 28}
	}
	return Date{y, d.Month, d.Day}
}

// AgeAt returns the age in whole years of someone born on d, on day at.
func (d Date) AgeAt(at Date) int {
	age := at.Year - d.Year
	if at.Before(d.Birthday(at.Year)) {
		age--
	}
	return age
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// Sex is the 性別 of the basic 4 facts.
type Sex int

// Sex values. The certificate encodes them as "1", "2", "3"; the 券面事項入力補助AP as
// ISO 5218 "1", "2", "9".
const (
	SexMale        Sex = 1
	SexFemale      Sex = 2
	SexUnspecified Sex = 9
)

// ParseSex parses male, female or unspecified (and the digit codes).
func ParseSex(s string) (Sex, error) {
	switch strings.ToLower(s) {
	case "male", "m", "1":
		return SexMale, nil
	case "female", "f", "2":
		return SexFemale, nil
	case "unspecified", "u", "3", "9", "0":
		return SexUnspecified, nil
	}
	return 0, fmt.Errorf("jpki: sex %q is not male, female or unspecified", s)
}

// String returns male, female or unspecified.
func (s Sex) String() string {
	switch s {
	case SexMale:
		return "male"
	case SexFemale:
		return "female"
	case SexUnspecified:
		return "unspecified"
	}
	return fmt.Sprintf("Sex(%d)", int(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Sex) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Sex) UnmarshalText(b []byte) error {
	v, err := ParseSex(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// certCode is the code in the certificate's 性別 otherName. The profile's value for "not
// known" is not published; "3" follows the three-valued shape seen in platform mocks.
func (s Sex) certCode() string {
	switch s {
	case SexMale:
		return "1"
	case SexFemale:
		return "2"
	}
	return "3"
}

// CardCode is the ISO 5218 code stored in the 券面事項入力補助AP.
func (s Sex) CardCode() string {
	switch s {
	case SexMale:
		return "1"
	case SexFemale:
		return "2"
	}
	return "9"
}

// Basic4 is the 基本4情報: name, address, date of birth and sex, as written on the card and in
// the signing certificate.
type Basic4 struct {
	// Name is 氏名, family name U+3000 given name; any Unicode, including characters outside
	// JIS levels 1–2. For a resident with a registered alias (通称) the alias follows the name in
	// full-width parentheses, as the simulator's own convention.
	Name string `json:"name"`
	// NameAltPositions is 氏名の代替文字の使用位置情報: one '0' or '1' per character of Name, '1'
	// where a substitute character (代替文字) was used. Empty means none.
	NameAltPositions string `json:"name_alt_positions,omitempty"`
	// Birth is 生年月日 (Gregorian calendar date).
	Birth Date `json:"birth"`
	// Sex is 性別.
	Sex Sex `json:"sex"`
	// Address is 住所.
	Address string `json:"address"`
	// AddressAltPositions is 住所の代替文字の使用位置情報, as NameAltPositions.
	AddressAltPositions string `json:"address_alt_positions,omitempty"`
}

// Validate checks the facts are complete and well formed.
func (b Basic4) Validate() error {
	switch {
	case strings.TrimSpace(b.Name) == "":
		return errors.New("jpki: name is empty")
	case strings.TrimSpace(b.Address) == "":
		return errors.New("jpki: address is empty")
	case b.Birth.IsZero():
		return errors.New("jpki: date of birth is missing")
	case b.Sex != SexMale && b.Sex != SexFemale && b.Sex != SexUnspecified:
		return fmt.Errorf("jpki: sex %d is not valid", int(b.Sex))
	case !utf8.ValidString(b.Name) || !utf8.ValidString(b.Address):
		return errors.New("jpki: name or address is not valid UTF-8")
	}
	for _, p := range []struct{ what, pos, text string }{{"name", b.NameAltPositions, b.Name}, {"address", b.AddressAltPositions, b.Address}} {
		if p.pos == "" {
			continue
		}
		if utf8.RuneCountInString(p.pos) != utf8.RuneCountInString(p.text) || strings.Trim(p.pos, "01") != "" {
			return fmt.Errorf("jpki: %s substitute-character positions must be one 0 or 1 per character", p.what)
		}
	}
	return nil
}

// Eras of the Japanese calendar used in the 生年月日 encoding (E = 1 明治 … 5 令和).
var eras = []struct {
	code  byte
	start Date
}{
	{'5', Date{2019, time.May, 1}},
	{'4', Date{1989, time.January, 8}},
	{'3', Date{1926, time.December, 25}},
	{'2', Date{1912, time.July, 30}},
	{'1', Date{1868, time.October, 23}},
}

// EncodeBirthDate encodes a date of birth as the certificate's "EYYYYMMDD": the era digit
// followed by the Gregorian date.
func EncodeBirthDate(d Date) (string, error) {
	for _, e := range eras {
		if !d.Before(e.start) {
			return fmt.Sprintf("%c%04d%02d%02d", e.code, d.Year, d.Month, d.Day), nil
		}
	}
	return "", fmt.Errorf("jpki: date of birth %s is before the 明治 era", d)
}

// DecodeBirthDate decodes "EYYYYMMDD" and checks the era digit agrees with the date.
func DecodeBirthDate(s string) (Date, error) {
	if len(s) != 9 {
		return Date{}, fmt.Errorf("jpki: date of birth %q is not EYYYYMMDD", s)
	}
	d, err := parseCompactDate(s[1:])
	if err != nil {
		return Date{}, err
	}
	want, err := EncodeBirthDate(d)
	if err != nil {
		return Date{}, err
	}
	if want[0] != s[0] {
		return Date{}, fmt.Errorf("jpki: date of birth %q has era %c, want %c", s, s[0], want[0])
	}
	return d, nil
}

// parseCompactDate parses YYYYMMDD.
func parseCompactDate(s string) (Date, error) {
	if len(s) != 8 || strings.Trim(s, "0123456789") != "" {
		return Date{}, fmt.Errorf("jpki: date %q is not YYYYMMDD", s)
	}
	t, err := time.Parse("20060102", s)
	if err != nil {
		return Date{}, fmt.Errorf("jpki: date %q does not exist", s)
	}
	return DateOf(t), nil
}

// otherName builds GeneralName otherName [0] { type-id, [0] EXPLICIT UTF8String }.
func addOtherName(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, value string) {
	b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(value)) })
		})
	})
}

// MarshalSubjectAltName encodes the basic 4 facts as the signing certificate's subjectAltName
// extension value: a SEQUENCE of otherNames in OID order 5.5.1 … 5.5.6 (the substitute-character
// positions only when set).
func MarshalSubjectAltName(b Basic4) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	birth, err := EncodeBirthDate(b.Birth)
	if err != nil {
		return nil, err
	}
	var cb cryptobyte.Builder
	cb.AddASN1(cbasn1.SEQUENCE, func(cb *cryptobyte.Builder) {
		addOtherName(cb, OIDName, b.Name)
		if b.NameAltPositions != "" {
			addOtherName(cb, OIDNameAltPositions, b.NameAltPositions)
		}
		addOtherName(cb, OIDSex, b.Sex.certCode())
		addOtherName(cb, OIDBirthDate, birth)
		addOtherName(cb, OIDAddress, b.Address)
		if b.AddressAltPositions != "" {
			addOtherName(cb, OIDAddressAltPositions, b.AddressAltPositions)
		}
	})
	return cb.Bytes()
}

// ErrNoBasic4 is returned by ParseSubjectAltName when the extension carries none of the JPKI
// personal-data otherNames (for example an authentication certificate). Callers that expected a
// signing certificate should report the wrong certificate kind.
var ErrNoBasic4 = errors.New("jpki: no basic 4 facts in subjectAltName")

// ParseSubjectAltName decodes the basic 4 facts from a subjectAltName extension value. It is
// strict: every JPKI otherName must be a UTF8String, must appear at most once, and the four facts
// must all be present. Other GeneralNames are ignored.
func ParseSubjectAltName(der []byte) (Basic4, error) {
	var out Basic4
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return out, errors.New("jpki: subjectAltName is not a DER SEQUENCE")
	}
	seen := map[string]string{}
	for !seq.Empty() {
		var gn cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1(&gn, &tag) {
			return out, errors.New("jpki: subjectAltName has a malformed GeneralName")
		}
		if tag != cbasn1.Tag(0).ContextSpecific().Constructed() {
			continue
		}
		var oid asn1.ObjectIdentifier
		var explicit, value cryptobyte.String
		if !gn.ReadASN1ObjectIdentifier(&oid) ||
			!gn.ReadASN1(&explicit, cbasn1.Tag(0).ContextSpecific().Constructed()) || !gn.Empty() {
			return out, errors.New("jpki: subjectAltName has a malformed otherName")
		}
		if !isPersonalDataOID(oid) {
			continue
		}
		if !explicit.ReadASN1(&value, cbasn1.UTF8String) || !explicit.Empty() {
			return out, fmt.Errorf("jpki: otherName %s is not a UTF8String", oid)
		}
		if !utf8.Valid(value) {
			return out, fmt.Errorf("jpki: otherName %s is not valid UTF-8", oid)
		}
		if _, dup := seen[oid.String()]; dup {
			return out, fmt.Errorf("jpki: otherName %s appears twice", oid)
		}
		seen[oid.String()] = string(value)
	}
	if len(seen) == 0 {
		return out, ErrNoBasic4
	}
	get := func(oid asn1.ObjectIdentifier) (string, error) {
		v, ok := seen[oid.String()]
		if !ok {
			return "", fmt.Errorf("jpki: subjectAltName lacks otherName %s", oid)
		}
		return v, nil
	}
	var err error
	if out.Name, err = get(OIDName); err != nil {
		return out, err
	}
	if out.Address, err = get(OIDAddress); err != nil {
		return out, err
	}
	sex, err := get(OIDSex)
	if err != nil {
		return out, err
	}
	if out.Sex, err = ParseSex(sex); err != nil {
		return out, err
	}
	birth, err := get(OIDBirthDate)
	if err != nil {
		return out, err
	}
	if out.Birth, err = DecodeBirthDate(birth); err != nil {
		return out, err
	}
	out.NameAltPositions = seen[OIDNameAltPositions.String()]
	out.AddressAltPositions = seen[OIDAddressAltPositions.String()]
	return out, out.Validate()
}

func isPersonalDataOID(oid asn1.ObjectIdentifier) bool {
	for _, o := range []asn1.ObjectIdentifier{OIDName, OIDNameAltPositions, OIDSex, OIDBirthDate, OIDAddress, OIDAddressAltPositions} {
		if oid.Equal(o) {
			return true
		}
	}
	return false
}

// MyNumberCheckDigit computes the check digit of the first 11 digits of an individual number
// (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第8条).
func MyNumberCheckDigit(first11 string) (byte, error) {
	if len(first11) != 11 || strings.Trim(first11, "0123456789") != "" {
		return 0, fmt.Errorf("jpki: %q is not 11 digits", first11)
	}
	sum := 0
	for n := 1; n <= 11; n++ {
		p := int(first11[11-n] - '0')
		q := n + 1
		if n >= 7 {
			q = n - 5
		}
		sum += p * q
	}
	r := sum % 11
	if r <= 1 {
		return '0', nil
	}
	return byte('0' + 11 - r), nil
}

// ValidMyNumber reports whether s is 12 digits with a correct check digit.
func ValidMyNumber(s string) bool {
	if len(s) != 12 {
		return false
	}
	c, err := MyNumberCheckDigit(s[:11])
	return err == nil && c == s[11]
}
