package jlis

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// Default credentials written to a new card unless the request names others.
const (
	DefaultAuthPIN      = "1234"
	DefaultSignPassword = "ABC123"
	DefaultSupportPIN   = "1234"
)

// IssueRequest asks for a new card for a resident.
type IssueRequest struct {
	// Basic4 is the resident record: name, date of birth, sex, address.
	Basic4 jpki.Basic4
	// Alias is the registered alias (通称) of a foreign resident, if any.
	Alias string
	// Medium is the card or a smartphone credential (default card).
	Medium jpki.Medium
	// AuthPIN, SignPassword and SupportPIN override the defaults.
	AuthPIN, SignPassword, SupportPIN string
	// StayUntil is the last day of a foreign resident's period of stay (在留期限); the card and
	// its certificates end no later. Zero for a Japanese national or a permanent resident.
	StayUntil jpki.Date
}

// Issued describes a newly issued card.
type Issued struct {
	Card         *jpki.CardFile
	ResidentID   int64
	CardID       int64
	AuthSerial   int64 // serial of the authentication certificate
	SignSerial   int64 // serial of the signing certificate; 0 when none was issued (under 15)
	Municipality Municipality
}

var (
	reFourDigits    = regexp.MustCompile(`^[0-9]{4}$`)
	reSignPassword  = regexp.MustCompile(`^[A-Z0-9]{6,16}$`)
	reHasLetter     = regexp.MustCompile(`[A-Z]`)
	reHasDigit      = regexp.MustCompile(`[0-9]`)
	signingMinAge   = 15 // no signing certificate below this age
	adultCardMinAge = 18 // card valid to the 10th birthday from this age, else the 5th
)

// CheckPIN validates a PIN against the card's rules for its kind ("auth", "sign", "support").
func CheckPIN(kind, pin string) error {
	switch kind {
	case "sign":
		if !reSignPassword.MatchString(pin) || !reHasLetter.MatchString(pin) || !reHasDigit.MatchString(pin) {
			return invalidf("signing password must be 6–16 upper-case letters and digits with at least one of each")
		}
	default:
		if !reFourDigits.MatchString(pin) {
			return invalidf("%s PIN must be 4 digits", kind)
		}
	}
	return nil
}

// Issue creates a resident (or finds none: every call is a new resident), a card, the holder's key
// pairs and the authentication and signing certificates, and returns the card file.
func (s *Simulator) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	if err := req.Basic4.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if req.Medium == "" {
		req.Medium = jpki.MediumCard
	}
	switch req.Medium {
	case jpki.MediumCard, jpki.MediumAndroid, jpki.MediumIPhone:
	default:
		return nil, invalidf("medium %q is not card, android or iphone", req.Medium)
	}
	for kind, p := range map[string]*string{"auth": &req.AuthPIN, "sign": &req.SignPassword, "support": &req.SupportPIN} {
		if *p == "" {
			*p = map[string]string{"auth": DefaultAuthPIN, "sign": DefaultSignPassword, "support": DefaultSupportPIN}[kind]
		}
		if err := CheckPIN(kind, *p); err != nil {
			return nil, err
		}
	}
	m, err := LookupMunicipality(req.Basic4.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := s.clk.Now()
	today := jpki.DateOf(now.In(jstZone))
	if today.Before(req.Basic4.Birth) {
		return nil, invalidf("date of birth %s is in the future", req.Basic4.Birth)
	}
	if !req.StayUntil.IsZero() && !today.Before(req.StayUntil) {
		return nil, invalidf("period of stay ending %s is over; a card needs a period of stay that ends after today (%s)", req.StayUntil, today)
	}
	b4 := req.Basic4
	if req.Alias != "" {
		b4.Name = b4.Name + "（" + req.Alias + "）"
		b4.NameAltPositions = ""
	}
	myNumber, err := s.newMyNumber()
	if err != nil {
		return nil, err
	}
	cardSerial, err := s.randomDigits(15)
	if err != nil {
		return nil, err
	}
	secCode, err := s.randomDigits(4)
	if err != nil {
		return nil, err
	}
	age := req.Basic4.Birth.AgeAt(today)
	expiry := cardExpiry(req.Basic4.Birth, today, req.StayUntil)

	authKey, err := s.newKey()
	if err != nil {
		return nil, fmt.Errorf("jlis: generate holder key: %w", err)
	}
	var signKey *rsa.PrivateKey
	if age >= signingMinAge {
		if signKey, err = s.newKey(); err != nil {
			return nil, fmt.Errorf("jlis: generate holder key: %w", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	out := &Issued{Municipality: m}
	cf := &jpki.CardFile{
		Version:          jpki.CardFileVersion,
		Medium:           req.Medium,
		CardSerial:       cardSerial,
		MunicipalityCode: m.Code,
		CardExpiry:       expiry.String(),
		MyNumber:         myNumber,
		Basic4:           b4,
		SecurityCode:     secCode,
		SupportPIN:       jpki.PIN{Value: req.SupportPIN, Tries: jpki.SupportPINTries, MaxTries: jpki.SupportPINTries},
		JukiPIN:          jpki.PIN{Value: req.SupportPIN, Tries: jpki.JukiPINTries, MaxTries: jpki.JukiPINTries},
	}
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		b4JSON, err := json.Marshal(b4)
		if err != nil {
			return fmt.Errorf("jlis: encode resident: %w", err)
		}
		stay := ""
		if !req.StayUntil.IsZero() {
			stay = req.StayUntil.String()
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO resident (my_number, basic4, alias, municipality, stay_until, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			myNumber, string(b4JSON), req.Alias, m.Code, stay, now.Unix(), now.Unix())
		if err != nil {
			return fmt.Errorf("jlis: store resident: %w", err)
		}
		if out.ResidentID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("jlis: store resident: %w", err)
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO card (resident_id, serial, medium, issued, expires) VALUES (?, ?, ?, ?, ?)`,
			out.ResidentID, cardSerial, string(req.Medium), now.Unix(), expiry.String())
		if err != nil {
			return fmt.Errorf("jlis: store card: %w", err)
		}
		if out.CardID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("jlis: store card: %w", err)
		}
		ho := holder{residentID: out.ResidentID, cardID: out.CardID, basic4: b4, municipality: m, birth: req.Basic4.Birth, cardExpiry: expiry, medium: req.Medium}
		slot, serial, err := s.issueCert(ctx, tx, ho, jpki.KindAuth, authKey, now)
		if err != nil {
			return err
		}
		slot.PIN = jpki.PIN{Value: req.AuthPIN, Tries: jpki.AuthPINTries, MaxTries: jpki.AuthPINTries}
		cf.Auth, out.AuthSerial = slot, serial
		if signKey != nil {
			ho.limit = dateOfEnd(mustNotAfter(slot.Cert))
			slot, serial, err := s.issueCert(ctx, tx, ho, jpki.KindSign, signKey, now)
			if err != nil {
				return err
			}
			slot.PIN = jpki.PIN{Value: req.SignPassword, Tries: jpki.SignPINTries, MaxTries: jpki.SignPINTries}
			cf.Sign, out.SignSerial = slot, serial
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.signSupportAP(ctx, cf); err != nil {
		return nil, err
	}
	out.Card = cf
	return out, nil
}

// holder is what a certificate is issued for.
type holder struct {
	residentID, cardID int64
	basic4             jpki.Basic4
	municipality       Municipality
	birth              jpki.Date
	cardExpiry         jpki.Date
	medium             jpki.Medium
	// timely marks a renewal inside the renewal window (the certificate runs to the 6th
	// birthday); limit, when not zero, is a last day the certificate may not pass (the
	// authentication certificate's, for a signing certificate).
	timely bool
	limit  jpki.Date
}

// caFor returns the CA generation that issues a kind of certificate for a medium: the newest.
func (s *Simulator) caFor(kind jpki.Kind, medium jpki.Medium) *authority {
	n := caName(kind)
	if medium.IsPhone() && s.phoneCAs {
		n += "-phone"
	}
	s.casMu.RLock()
	defer s.casMu.RUnlock()
	return s.newest[n]
}

// issueCert creates and stores one end-entity certificate. Validity: from 00:00 JST of the issue
// date to 23:59:59 JST of the last day certEnd gives (the 5th birthday after issue, the 6th on a
// timely renewal, capped by the card's expiry and h.limit).
func (s *Simulator) issueCert(ctx context.Context, tx *sql.Tx, h holder, kind jpki.Kind, key *rsa.PrivateKey, now time.Time) (*jpki.KeySlot, int64, error) {
	a := s.caFor(kind, h.medium)
	today := jpki.DateOf(now.In(jstZone))
	notBefore := today.In(jstZone).UTC()
	end := certEnd(h.birth, today, h.cardExpiry, h.timely, h.limit)
	notAfter := endOfDayJST(end.Year, end.Month, end.Day)
	ski, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, 0, err
	}
	cn, err := s.opaqueID(h.municipality.Code)
	if err != nil {
		return nil, 0, err
	}
	subject := []attr{country()}
	exts := []pkixExtension{}
	if kind == jpki.KindSign {
		subject = append(subject, utf8Attr(oidLocality, h.municipality.PrefectureRomaji), utf8Attr(oidLocality, h.municipality.CityRomaji))
		san, err := jpki.MarshalSubjectAltName(h.basic4)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		exts = append(exts, keyUsageExt(0xC0, 6), ext(oidExtSAN, false, san))
	} else {
		exts = append(exts, keyUsageExt(0x80, 7))
	}
	subject = append(subject, utf8Attr(oidCommonName, cn))
	exts = append(exts,
		policiesExt(s.naming.policy(a.name)),
		ext(oidExtIAN, false, directoryNames(marshalName(caAltName(a.name)))),
		crldpExt(marshalName(s.naming.crldpName(a.name, h.municipality))),
	)
	if s.ocspURL != "" {
		exts = append(exts, aiaOCSPExt(s.ocspURL+"/ocsp/"+string(a.name)))
	}
	exts = append(exts, akiExt(a.cert.SubjectKeyId), skiExt(ski))
	for attempt := 0; ; attempt++ {
		serial, err := s.randomSerial()
		if err != nil {
			return nil, 0, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:       big.NewInt(serial),
			RawSubject:         marshalName(subject),
			NotBefore:          notBefore,
			NotAfter:           notAfter,
			SignatureAlgorithm: x509.SHA256WithRSA,
			ExtraExtensions:    exts,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
		if err != nil {
			return nil, 0, fmt.Errorf("jlis: create %s certificate: %w", kind, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO cert (ca, serial, kind, resident_id, card_id, not_before, not_after, der) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			string(a.name), serial, string(kind), h.residentID, h.cardID, notBefore.Unix(), notAfter.Unix(), der)
		if err != nil {
			return nil, 0, fmt.Errorf("jlis: store certificate: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if attempt > 8 {
				return nil, 0, fmt.Errorf("jlis: could not find a free serial number")
			}
			continue // serial collision: draw again
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, 0, fmt.Errorf("jlis: marshal holder key: %w", err)
		}
		return &jpki.KeySlot{Cert: der, CACert: a.cert.Raw, Key: keyDER}, serial, nil
	}
}

// nthBirthdayAfter returns the n-th birthday strictly after day.
func nthBirthdayAfter(birth, day jpki.Date, n int) jpki.Date {
	b := birth.Birthday(day.Year)
	if b.Before(day) || b == day {
		b = birth.Birthday(day.Year + 1)
	}
	return birth.Birthday(b.Year + n - 1)
}

// opaqueID makes the subject CN of an end-entity certificate: 23 characters carrying no
// personal data — 14 random characters, the municipality code, a 3-digit sequence and a check
// letter (the structure of J-LIS's identifiers is not published; this one only keeps their shape).
func (s *Simulator) opaqueID(code string) (string, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 0, 23)
	for i := 0; i < 14; i++ {
		n, err := rand.Int(s.rand, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("jlis: random identifier: %w", err)
		}
		b = append(b, alphabet[n.Int64()])
	}
	seq, err := s.randomDigits(3)
	if err != nil {
		return "", err
	}
	b = append(b, code+seq...)
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	return string(append(b, byte('A'+sum%26))), nil
}

// newMyNumber draws a fresh individual number with its check digit.
func (s *Simulator) newMyNumber() (string, error) {
	for {
		d, err := s.randomDigits(11)
		if err != nil {
			return "", err
		}
		if d[0] == '0' {
			continue
		}
		c, err := jpki.MyNumberCheckDigit(d)
		if err != nil {
			return "", err
		}
		return d + string(c), nil
	}
}

// mustNotAfter returns the notAfter of a certificate this package just made.
func mustNotAfter(der []byte) time.Time {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(fmt.Sprintf("jlis: a certificate just issued does not parse: %v", err))
	}
	return c.NotAfter
}
