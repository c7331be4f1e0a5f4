//go:build !amd64

package gemm

// allKernels lists every kernel, fastest first; generic must be last.
var allKernels = []*kernel{generic}
