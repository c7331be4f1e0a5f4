//go:build !unix

package train

import "os"

// tryLock is a no-op where flock is missing: stale temporary files are still
// removed at start, but two runs on one directory are not detected.
func tryLock(f *os.File) (held bool, err error) { return false, nil }
