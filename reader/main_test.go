package reader_test

import (
	"log/slog"
	"os"
	"testing"
)

// TestMain keeps the client's audit lines (one per PIN presented and per signature, at Info)
// out of the test output.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}
