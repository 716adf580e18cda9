//go:build !linux

package revocation

func adviseHugePages[T any](s []T) {}
