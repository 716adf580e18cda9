package revocation

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
)

// ReadFile is Read for a CRL in a file. On Linux it maps the file into memory instead of reading
// it, so the CRL's bytes (hundreds of megabytes at national scale) never count towards the Go
// heap and the garbage collector's target; the pages are dropped once the index is built.
//
// The file MUST NOT be truncated or rewritten while ReadFile runs: write a new CRL to a
// temporary file and rename it into place. If it is truncated anyway, the resulting memory
// fault is turned into an error instead of a crash.
func ReadFile(path string, issuer *x509.Certificate, opts Options) (*Index, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("revocation: read CRL: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("revocation: read CRL: %w", err)
	}
	if fi.Size() == 0 {
		return nil, errorf(ReasonMalformed, "%s is empty", path)
	}
	der, unmap, err := mapFile(fh, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("revocation: read CRL %s: %w", path, err)
	}
	defer unmap()
	return readMapped(path, der, issuer, opts)
}

func readMapped(path string, der []byte, issuer *x509.Certificate, opts Options) (*Index, error) {
	var ix *Index
	err := guardFaults(func() error {
		var err error
		ix, err = Read(der, issuer, opts)
		return err
	})
	var fe *faultError
	if errors.As(err, &fe) {
		return nil, fmt.Errorf("revocation: read CRL %s: %w", path, err)
	}
	return ix, err
}

// faultError is a memory fault while reading a mapped file.
type faultError struct{ addr uintptr }

func (e *faultError) Error() string {
	return fmt.Sprintf("memory fault at %#x: the file changed while being read", e.addr)
}

// guardFaults runs fn, turning a memory fault in the current goroutine (a mapped file that was
// truncated under us) into a *faultError instead of a crash.
func guardFaults(fn func() error) error {
	var err error
	func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			f, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = &faultError{addr: f.Addr()}
		}()
		err = fn()
	}()
	return err
}
