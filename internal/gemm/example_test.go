package gemm_test

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/gemm"
)

// A linear layer's forward pass: out[N, outDim] = inp[N, in] · weight[outDim, in]ᵀ.
func ExampleSgemm() {
	inp := []float32{
		1, 2, 3,
		4, 5, 6,
	} // N=2, in=3
	weight := []float32{
		1, 0, 0,
		0, 1, 1,
	} // outDim=2, in=3 (PyTorch layout)
	out := make([]float32, 2*2)
	gemm.Sgemm(false, true, 2, 2, 3, 1, inp, 3, weight, 3, 0, out, 2)
	fmt.Println(out)
	// Output: [1 5 4 11]
}

// Attention scores for two heads that sit side by side in the rows of q and k
// ([T, NH*hs]): scores_h = q_h · k_hᵀ, each head's T x T block stored one after another.
func ExampleSgemmStrided() {
	const T, NH, hs = 2, 2, 1
	q := []float32{1, 2, 3, 4} // [T, NH*hs]
	k := []float32{1, 1, 2, 0}
	scores := make([]float32, NH*T*T)
	gemm.SgemmStrided(false, true, NH, T, T, hs, 1, q, NH*hs, hs, k, NH*hs, hs, 0, scores, T, T*T)
	fmt.Println(scores)
	// Output: [1 2 3 6 2 0 4 0]
}
