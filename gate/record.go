package gate

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mynagate/mynagate/gate/manifest"
)

func subtleEq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// The admission record and Merge are defined in package manifest (shared with the ticket
// service); these names keep them at hand for the gate's users.
type (
	Record       = manifest.Record
	SignedRecord = manifest.SignedRecord
	Conflict     = manifest.Conflict
	Rejected     = manifest.Rejected
	SyncResult   = manifest.SyncResult
)

// Merge is manifest.Merge.
var Merge = manifest.Merge

func writeJournal(w io.Writer, s SignedRecord) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadJournal reads signed records, one JSON object a line. A torn last line (a crash mid-write)
// is ignored; any other bad line is an error.
func ReadJournal(r io.Reader) ([]SignedRecord, error) {
	var out []SignedRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pending error
	for n := 1; sc.Scan(); n++ {
		if pending != nil {
			return nil, pending
		}
		var s SignedRecord
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			pending = fmt.Errorf("gate: journal line %d: %w", n, err)
			continue
		}
		out = append(out, s)
	}
	return out, sc.Err()
}
