package jlis

import (
	"time"

	"github.com/mynagate/mynagate/jpki"
)

// The validity rules of cards and certificates (docs/design/jpki-reference.md §12.2).
const (
	// certBirthdays: a certificate runs to the 5th birthday after its issue date,
	certBirthdays = 5
	// timelyRenewalBirthdays: or to the 6th when it renews a certificate inside its renewal
	// window, so that renewing early does not cost the holder the months before the old expiry.
	timelyRenewalBirthdays = 6
	// renewalWindowMonths: a certificate can be renewed from this many months before it expires.
	renewalWindowMonths = 3
)

// cardExpiry is the last day of a card issued today: the 10th birthday after issue for a holder
// of 18 or over, the 5th below, and for a foreign resident with a period of stay (在留期限) no
// later than its last day.
func cardExpiry(birth, today, stayUntil jpki.Date) jpki.Date {
	years := 5
	if birth.AgeAt(today) >= adultCardMinAge {
		years = 10
	}
	end := nthBirthdayAfter(birth, today, years)
	if !stayUntil.IsZero() && stayUntil.Before(end) {
		end = stayUntil
	}
	return end
}

// certEnd is the last day of a certificate issued today: the 5th birthday after today (the 6th
// for a timely renewal), capped by the card's expiry and by limit (the authentication
// certificate's last day, for a signing certificate; zero for none).
func certEnd(birth, today, card jpki.Date, timely bool, limit jpki.Date) jpki.Date {
	n := certBirthdays
	if timely {
		n = timelyRenewalBirthdays
	}
	end := nthBirthdayAfter(birth, today, n)
	if card.Before(end) {
		end = card
	}
	if !limit.IsZero() && limit.Before(end) {
		end = limit
	}
	return end
}

// renewalOpens is the first day a certificate ending on last may be renewed: the same day of
// the month three months earlier, or that month's last day when it has no such day (31 May →
// 28 or 29 February), as Japanese periods are counted (民法 §143).
func renewalOpens(last jpki.Date) jpki.Date {
	first := time.Date(last.Year, last.Month-renewalWindowMonths, 1, 12, 0, 0, 0, time.UTC)
	days := first.AddDate(0, 1, -1).Day()
	return jpki.Date{Year: first.Year(), Month: first.Month(), Day: min(last.Day, days)}
}

// dateOfEnd is the JST calendar day of a certificate's notAfter.
func dateOfEnd(notAfter time.Time) jpki.Date { return jpki.DateOf(notAfter.In(jstZone)) }
