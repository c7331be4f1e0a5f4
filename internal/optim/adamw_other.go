//go:build !amd64

package optim

const useAVX2 = false

func adamwAVX2(param, grad, expAvg, expAvgSq *float32, n int, c *[7]float32, decay int) {
	panic("optim: adamwAVX2 without AVX2")
}

func sumSquaresAVX2(x *float32, n int) float64 { panic("optim: sumSquaresAVX2 without AVX2") }

func scaleAVX2(x *float32, n int, c float32) { panic("optim: scaleAVX2 without AVX2") }
