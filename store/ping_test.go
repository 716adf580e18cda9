package store_test

import (
	"context"
	"testing"

	"github.com/mynagate/mynagate/store/storetest"
)

// TestPing shows that Ping answers while the database does, and fails once it is closed.
func TestPing(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			s := storetest.Open(t, d)
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping on an open store: %v", err)
			}
			s.Close()
			if err := s.Ping(context.Background()); err == nil {
				t.Fatal("Ping on a closed store succeeded")
			}
		})
	}
}
