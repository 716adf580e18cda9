package revocation

import (
	"crypto/x509"
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
	var (
		ix  *Index
		err error
	)
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
			ix, err = nil, fmt.Errorf("revocation: read CRL %s: memory fault at %#x: the file changed while being read", path, f.Addr())
		}()
		ix, err = Read(der, issuer, opts)
	}()
	return ix, err
}
