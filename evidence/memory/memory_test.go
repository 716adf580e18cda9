package memory_test

import (
	"testing"

	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

func TestConformance(t *testing.T) {
	evidencetest.Run(t, func(t *testing.T) evidencetest.Storage { return memory.New() })
}
