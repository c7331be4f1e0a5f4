//go:build !amd64

package kernels

const useAVX2 = false

func geluAVX2(out, inp *float32, n int)            { panic("kernels: geluAVX2 without AVX2") }
func geluBackAVX2(dinp, inp, dout *float32, n int) { panic("kernels: geluBackAVX2 without AVX2") }

func expShiftAVX2(out, x *float32, n int, shift float32) float32 {
	panic("kernels: expShiftAVX2 without AVX2")
}

func addAVX2(out, a, b *float32, n int) { panic("kernels: addAVX2 without AVX2") }

func dropoutAVX2(out, src *float32, n int, z0 *[4]uint64, inc, thr uint64, scale float32) {
	panic("kernels: dropoutAVX2 without AVX2")
}
