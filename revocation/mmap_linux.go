//go:build linux

package revocation

import (
	"errors"
	"math"
	"os"
	"syscall"
)

// mapFile maps size bytes of f read-only and returns them with the function that unmaps them.
func mapFile(f *os.File, size int64) ([]byte, func(), error) {
	if size > math.MaxInt {
		return nil, nil, errors.New("file too large to map")
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	// The reader goes through the file front to back, twice over the entries.
	_ = syscall.Madvise(b, syscall.MADV_SEQUENTIAL)
	return b, func() { _ = syscall.Munmap(b) }, nil
}
