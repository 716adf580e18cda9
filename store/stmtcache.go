package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"

	"modernc.org/sqlite"
)

// A statement cache for SQLite connections.
//
// modernc.org/sqlite compiles every statement that database/sql runs through Exec or Query anew
// and finalizes it afterwards; parsing and code generation were about a fifth of the CPU of a
// verification and most of the single writer's time per transaction. A prepared statement of
// that driver, on the other hand, keeps its compiled program and is reset after each use. So
// each SQLite connection of the store is wrapped: Exec, Query and Prepare look the query text up
// in the connection's own cache of prepared statements and compile it only on first use.
//
// database/sql gives a connection to one goroutine at a time, but within that use a statement can
// still be busy (rows open while another statement of the same text runs, or a statement
// prepared twice); a busy cached statement is then bypassed for a fresh one that is finalized
// after its use. The cache holds at most maxCachedStmts statements per connection, evicting an
// idle one when full. PostgreSQL needs none of this: pgx keeps its own per-connection cache of
// prepared statements.
//
// database/sql offers no such cache itself (its *sql.Stmt would need every call site to prepare
// up front and to pass statements into transactions), which is why it is written here.

// maxCachedStmts bounds the prepared statements kept per connection.
const maxCachedStmts = 256

// cachingConnector wraps a connector's connections with a statement cache.
type cachingConnector struct{ base driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, driverMismatch(conn)
	}
	return &cachingConn{inner: inner, stmts: make(map[string]*cachedStmt)}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.base.Driver() }

// sqliteConn is what the wrapper needs of modernc.org/sqlite's connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type mismatchError struct{ typ string }

func (e mismatchError) Error() string {
	return "store: sqlite driver connection " + e.typ + " lacks the methods the statement cache needs"
}

func driverMismatch(c driver.Conn) error { return mismatchError{reflect.TypeOf(c).String()} }

// cachingConn is a connection with its statement cache. Not safe for concurrent use, like every
// driver.Conn.
type cachingConn struct {
	inner sqliteConn
	stmts map[string]*cachedStmt
}

var (
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.ExecerContext      = (*cachingConn)(nil)
	_ driver.QueryerContext     = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
)

// acquire returns the cached statement for query, marked busy, or — when it is busy — a fresh
// statement that is finalized when released.
func (c *cachingConn) acquire(ctx context.Context, query string) (*cachedStmt, error) {
	if st, ok := c.stmts[query]; ok && !st.busy {
		st.busy = true
		return st, nil
	}
	inner, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st := &cachedStmt{inner: inner, busy: true}
	if _, ok := c.stmts[query]; ok {
		st.transient = true
		return st, nil
	}
	if len(c.stmts) >= maxCachedStmts && !c.evictIdle() {
		st.transient = true
		return st, nil
	}
	c.stmts[query] = st
	return st, nil
}

// evictIdle finalizes one idle cached statement; false if all are busy.
func (c *cachingConn) evictIdle() bool {
	for q, st := range c.stmts {
		if !st.busy {
			delete(c.stmts, q)
			st.inner.Close()
			return true
		}
	}
	return false
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext hands out the cached statement; its Close returns it to the cache.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.acquire(ctx, query)
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &releasingRows{Rows: rows, st: st}, nil
}

// Close finalizes the cached statements and closes the connection.
func (c *cachingConn) Close() error {
	for q, st := range c.stmts {
		delete(c.stmts, q)
		st.inner.Close()
	}
	return c.inner.Close()
}

func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.inner.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner.BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }
func (c *cachingConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *cachingConn) IsValid() bool                          { return c.inner.IsValid() }

// cachedStmt is a prepared statement lent out by its connection's cache.
type cachedStmt struct {
	inner     driver.Stmt
	busy      bool
	transient bool // not in the cache: finalized on Close
}

// Close gives the statement back to the cache (or finalizes a transient one).
func (s *cachedStmt) Close() error {
	if s.transient {
		return s.inner.Close()
	}
	s.busy = false
	return nil
}

func (s *cachedStmt) NumInput() int { return s.inner.NumInput() }

// Exec and Query are driver.Stmt's legacy methods; database/sql calls the Context ones.
func (s *cachedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *cachedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.inner.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// releasingRows gives its statement back to the cache when closed.
type releasingRows struct {
	driver.Rows
	st *cachedStmt
}

func (r *releasingRows) Close() error {
	err := r.Rows.Close()
	if cerr := r.st.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *releasingRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *releasingRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *releasingRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

// openCachingSQLite opens an SQLite pool whose connections cache their statements.
func openCachingSQLite(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{base: c}), nil
}
