package platform_test

import (
	"testing"

	"github.com/mynagate/mynagate/platform"
)

// wantError fails unless err is a platform error of the kind and problem type.
func wantError(t testing.TB, what string, err error, kind platform.Kind, typ string) {
	t.Helper()
	pe := platform.AsError(err)
	if err == nil || pe.Kind != kind || pe.Type != typ {
		t.Errorf("%s: %v; want kind %d, type %s", what, err, kind, typ)
	}
}
