package jpki

import "fmt"

// BirthKey formats a date of birth as the 券面AP birth-date key: the year within its era, the
// month and the day, two digits each (1980-02-17 = 昭和55年 → "550217", REFERENCE §4).
func BirthKey(d Date) (string, error) {
	for _, e := range eras {
		if !d.Before(e.start) {
			return fmt.Sprintf("%02d%02d%02d", (d.Year-e.start.Year+1)%100, d.Month, d.Day), nil
		}
	}
	return "", fmt.Errorf("jpki: date of birth %s is before the 明治 era", d)
}
