package gemm

// allKernels lists every kernel, fastest first; generic must be last.
var allKernels = []*kernel{generic}
