//go:build unix

package visual

import "syscall"

// processCPUSeconds is the user+system CPU time of the process so far, a
// timing that a shared machine's load does not inflate the way it does wall time.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
