package kiosk

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
)

// cell makes a value safe for a spreadsheet: a cell starting with = + - @ (or a tab or carriage
// return) would be read as a formula (CSV injection), so it gets a leading apostrophe, which
// spreadsheets show as text and hide.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		for i := range r {
			r[i] = cell(r[i])
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func jstTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(jst).Format(time.RFC3339)
}

var jst = time.FixedZone("JST", 9*3600)

// WriteRecordsCSV writes arrivals and departures, one a row, times in JST.
func WriteRecordsCSV(w io.Writer, recs []Record) error {
	rows := make([][]string, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, []string{r.Site, r.Kiosk, strconv.FormatInt(r.Seq, 10), jstTime(r.At), r.Kind, r.Person, r.Name, r.AgeBand, r.Source, r.Holder})
	}
	return writeCSV(w, []string{"site", "kiosk", "seq", "at", "kind", "person", "name", "age_band", "source", "holder"}, rows)
}

// WriteRosterCSV writes the roster with who is present now according to recs.
func WriteRosterCSV(w io.Writer, ro *Roster, recs []Record) error {
	rep := summarize(recs)
	rows := make([][]string, 0, len(ro.Entries))
	for _, p := range ro.Entries {
		v := rep[p.Holder]
		if v == nil {
			v = &Visit{}
		}
		rows = append(rows, []string{p.ID, p.Name, yesNo(v.Present), jstTime(v.LastArrival), jstTime(v.LastDeparture), p.Holder})
	}
	return writeCSV(w, []string{"person", "name", "present", "last_arrival", "last_departure", "holder"}, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Visit is one person's arrivals and departures at a site, for reconciliation.
type Visit struct {
	Holder, Person, Name, AgeBand, Source string
	FirstArrival, LastArrival             time.Time
	LastDeparture                         time.Time
	Arrivals, Departures                  int
	Present                               bool
	Kiosks                                []string
}

// summarize folds records (in time order) into one Visit per holder.
func summarize(recs []Record) map[string]*Visit {
	out := map[string]*Visit{}
	for _, r := range recs {
		v := out[r.Holder]
		if v == nil {
			v = &Visit{Holder: r.Holder}
			out[r.Holder] = v
		}
		for _, f := range []struct {
			dst *string
			src string
		}{{&v.Person, r.Person}, {&v.Name, r.Name}, {&v.AgeBand, r.AgeBand}, {&v.Source, r.Source}} {
			if *f.dst == "" {
				*f.dst = f.src
			}
		}
		if r.Kind == Arrive {
			v.Arrivals++
			v.LastArrival = r.At
			if v.FirstArrival.IsZero() {
				v.FirstArrival = r.At
			}
			v.Present = true
		} else {
			v.Departures++
			v.LastDeparture = r.At
			v.Present = false
		}
		if !contains(v.Kiosks, r.Kiosk) {
			v.Kiosks = append(v.Kiosks, r.Kiosk)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Rejected is a journal line Reconcile did not take, and why.
type Rejected struct {
	Line   int
	Reason string
}

// Report is the reconciliation of a site's journals.
type Report struct {
	Site       string
	Records    []Record // checked, each once, in time order
	People     []Visit  // one per person, by first arrival
	Duplicates int      // lines seen twice (the same journal given twice, a retried copy)
	Rejected   []Rejected
}

// Reconcile checks the journal lines of a site's kiosks — each signed by one of keys, for the
// site — and folds them, in time order, into one row per person: when they first arrived,
// last arrived and last left, whether they are still in, and at which kiosks. Lines of an
// unknown kiosk, with a bad signature, of another site or that do not parse are rejected and
// listed; a line seen twice counts once.
func Reconcile(site string, keys []ed25519.PublicKey, lines []gate.SignedRecord) *Report {
	byID := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		byID[manifest.KeyID(k)] = k
	}
	rep := &Report{Site: site}
	seen := map[string]bool{}
	for i, s := range lines {
		var claim struct {
			Kiosk string `json:"kiosk"`
		}
		if err := json.Unmarshal(s.Record, &claim); err != nil {
			rep.Rejected = append(rep.Rejected, Rejected{Line: i + 1, Reason: "not a record"})
			continue
		}
		pub := byID[claim.Kiosk]
		if pub == nil {
			rep.Rejected = append(rep.Rejected, Rejected{Line: i + 1, Reason: "unknown kiosk " + claim.Kiosk})
			continue
		}
		r, err := Open(s, pub)
		switch {
		case err != nil:
			rep.Rejected = append(rep.Rejected, Rejected{Line: i + 1, Reason: err.Error()})
			continue
		case r.Site != site:
			rep.Rejected = append(rep.Rejected, Rejected{Line: i + 1, Reason: "a record of site " + r.Site})
			continue
		case r.Kind != Arrive && r.Kind != Leave:
			rep.Rejected = append(rep.Rejected, Rejected{Line: i + 1, Reason: "kind " + r.Kind})
			continue
		}
		// A line counts as seen twice only once its signature checked: a tampered copy of a
		// known line is rejected, not taken for a retry.
		if sig := base64.StdEncoding.EncodeToString(s.Signature); seen[sig] {
			rep.Duplicates++
			continue
		} else {
			seen[sig] = true
		}
		rep.Records = append(rep.Records, *r)
	}
	sort.SliceStable(rep.Records, func(a, b int) bool {
		ra, rb := rep.Records[a], rep.Records[b]
		if !ra.At.Equal(rb.At) {
			return ra.At.Before(rb.At)
		}
		if ra.Kiosk != rb.Kiosk {
			return ra.Kiosk < rb.Kiosk
		}
		return ra.Seq < rb.Seq
	})
	for _, v := range summarize(rep.Records) {
		rep.People = append(rep.People, *v)
	}
	sortPeople(rep.People)
	return rep
}

// WriteReconcileCSV writes the report's people, one a row: the list a municipality compares
// with its residents' register after an evacuation.
func WriteReconcileCSV(w io.Writer, rep *Report) error {
	rows := make([][]string, 0, len(rep.People))
	for _, v := range rep.People {
		rows = append(rows, []string{rep.Site, v.Person, v.Name, v.AgeBand, v.Source, jstTime(v.FirstArrival), jstTime(v.LastArrival),
			jstTime(v.LastDeparture), yesNo(v.Present), strconv.Itoa(v.Arrivals), strconv.Itoa(v.Departures), strings.Join(v.Kiosks, " "), v.Holder})
	}
	return writeCSV(w, []string{"site", "person", "name", "age_band", "source", "first_arrival", "last_arrival", "last_departure", "present",
		"arrivals", "departures", "kiosks", "holder"}, rows)
}

// Report is the reconciliation of this kiosk's own records.
func (k *Kiosk) Report() *Report {
	recs := k.Records()
	rep := &Report{Site: k.r.Site, Records: recs}
	for _, v := range summarize(recs) {
		rep.People = append(rep.People, *v)
	}
	sortPeople(rep.People)
	return rep
}

func sortPeople(ps []Visit) {
	sort.Slice(ps, func(a, b int) bool {
		pa, pb := ps[a], ps[b]
		if !pa.FirstArrival.Equal(pb.FirstArrival) {
			return pa.FirstArrival.Before(pb.FirstArrival)
		}
		return pa.Holder < pb.Holder
	})
}
