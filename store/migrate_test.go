package store_test

import (
	"context"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestOpenRefusesEarlierBuild opens databases as builds before the schema baseline left them —
// goose at version 36, or at version 1 with a table the baseline does not have — and expects a
// one-line refusal that says to recreate it, with nothing changed in the database (on SQLite,
// not a byte of the file).
func TestOpenRefusesEarlierBuild(t *testing.T) {
	for _, d := range storetest.Dialects {
		for name, versions := range map[string][]int{
			"version 36":                {0, 1, 2, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 32, 33, 35, 36},
			"version 1 with old tables": {0, 1},
		} {
			t.Run(d+"/"+name, func(t *testing.T) { testRefusesEarlierBuild(t, d, versions) })
		}
	}
}

func testRefusesEarlierBuild(t *testing.T, d string, versions []int) {
	ctx := context.Background()
	dsn := storetest.DSN(t, d)
	stmts := []string{
		`CREATE TABLE goose_db_version (id BIGINT NOT NULL PRIMARY KEY, version_id BIGINT NOT NULL, is_applied BOOLEAN NOT NULL)`,
		`CREATE TABLE evidence_sealed (seq BIGINT NOT NULL PRIMARY KEY, sealed TEXT NOT NULL)`,
		`INSERT INTO evidence_sealed (seq, sealed) VALUES (1, 'sealed data')`,
	}
	for i, v := range versions {
		stmts = append(stmts, `INSERT INTO goose_db_version (id, version_id, is_applied) VALUES (`+
			strconv.Itoa(i+1)+`, `+strconv.Itoa(v)+`, true)`)
	}
	must(t, store.ExecRaw(ctx, dsn, stmts...))
	before := snapshot(t, ctx, dsn)

	s, err := store.Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database made before the baseline succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "this database was made by a build before the schema baseline; recreate it") ||
		strings.Contains(msg, "\n") {
		t.Errorf("Open = %q, want one line saying to recreate the database", msg)
	}
	if after := snapshot(t, ctx, dsn); !reflect.DeepEqual(after, before) {
		t.Errorf("the refused database changed:\nbefore %q\nafter  %q", before, after)
	}
}

// snapshot is what a refused Open must leave as it was: the tables, goose's versions, the old
// table's rows and, on SQLite, the file's bytes.
func snapshot(t *testing.T, ctx context.Context, dsn string) []string {
	t.Helper()
	tables := `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`
	var out []string
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		tables = `SELECT name FROM sqlite_schema ORDER BY 1`
		b, err := os.ReadFile(path)
		must(t, err)
		out = append(out, string(b))
	}
	for _, q := range []string{tables, `SELECT id, version_id FROM goose_db_version ORDER BY id`, `SELECT seq, sealed FROM evidence_sealed`} {
		rows, err := store.QueryRaw(ctx, dsn, q)
		must(t, err)
		out = append(out, rows...)
	}
	return out
}

// TestBaselineVersions: the baseline is version 1 and every later migration is numbered above
// the versions of the builds before it, which Open refuses.
func TestBaselineVersions(t *testing.T) {
	for _, d := range storetest.Dialects {
		files, err := fs.Glob(store.Migrations, "migrations/"+d+"/*.sql")
		must(t, err)
		if len(files) == 0 || !strings.HasSuffix(files[0], "/00001_baseline.sql") {
			t.Fatalf("%s migrations %v do not begin with 00001_baseline.sql", d, files)
		}
		for _, f := range files[1:] {
			name := f[strings.LastIndex(f, "/")+1:]
			v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
			if err != nil || v <= store.LastLegacyVersion {
				t.Errorf("%s migration %s: number must be above %d, the versions of builds before the baseline", d, name, store.LastLegacyVersion)
			}
		}
	}
}
