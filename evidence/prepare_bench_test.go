package evidence_test

import (
	"testing"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

// BenchmarkPrepare measures what the log adds to a verification's CPU: sealing the personal
// data (one data key, one AES-GCM seal, one wrap), the leaf and its hash.
func BenchmarkPrepare(b *testing.B) {
	l, err := evidence.New(memory.New(), evidencetest.Keys(b))
	if err != nil {
		b.Fatal(err)
	}
	e := evidencetest.Entry(1, "t_a")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Prepare(e); err != nil {
			b.Fatal(err)
		}
	}
}
