package gemm

// extraTestKernels are assembly kernels that only tests use: a 12x8 AVX2 tile that
// shares the AVX-512 kernels' 12-row code path, run through the whole driver.
func extraTestKernels() []*kernel {
	if !avx2.supported() {
		return nil
	}
	return []*kernel{{
		name: "avx2-rows12", mr: 12, nr: 8,
		mc: 96, kc: 256, nc: 1024,
		supported: avx2.supported,
		tile:      tileAVX2Rows12,
	}}
}
