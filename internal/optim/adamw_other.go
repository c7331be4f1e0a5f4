//go:build !amd64

package optim

const useAVX2 = false

func adamwAVX2(param, grad, expAvg, expAvgSq *float32, n int, c *[7]float32, decay int) {
	panic("optim: adamwAVX2 without AVX2")
}
