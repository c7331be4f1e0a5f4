//go:build !amd64

package gemm

// extraTestKernels are assembly kernels that only tests use: none here.
func extraTestKernels() []*kernel { return nil }
