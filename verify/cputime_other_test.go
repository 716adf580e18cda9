//go:build !linux

package verify_test

import "time"

// threadCPU is not available here; benchmarks report wall-clock ratios only.
func threadCPU() (time.Duration, bool) { return 0, false }
