package store_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

// Open a SQLite store (the schema is created on first use) and hand it to the platform as its
// platform.Storage. The same code runs on PostgreSQL with a postgres:// DSN.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "mynagate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "mynagate.db"), store.WithLogger(quiet))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	var storage platform.Storage = s
	err = storage.CreateTenant(ctx, platform.Tenant{ID: "t_0123456789abcdef", Name: "Example Bank",
		Facts: []platform.Fact{platform.FactName, platform.FactBirth}, CreatedAt: time.Now()})
	if err != nil {
		log.Fatal(err)
	}
	t, err := storage.Tenant(ctx, "t_0123456789abcdef")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Dialect(), t.Name, t.Facts)
	// Output: sqlite Example Bank [name birthdate]
}
