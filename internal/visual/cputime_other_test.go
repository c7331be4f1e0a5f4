//go:build !unix

package visual

// processCPUSeconds is unavailable here; benchmarks report 0 CPU seconds.
func processCPUSeconds() float64 { return 0 }
