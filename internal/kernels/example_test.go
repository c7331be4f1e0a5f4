package kernels_test

import (
	"fmt"

	"github.com/vlbert/vlbert/internal/kernels"
)

// A Linear layer followed by GELU, forward and backward, with the accumulate/overwrite
// contract: the parameter gradients add up over calls, the input gradient is replaced.
func Example() {
	const N, in, out = 2, 3, 2
	x := []float32{1, 2, 3, -1, 0, 1}
	w := []float32{0.1, 0.2, 0.3, -0.3, -0.2, -0.1} // [out,in], PyTorch layout
	b := []float32{0, 0.5}
	pre, act := make([]float32, N*out), make([]float32, N*out)
	kernels.LinearForward(pre, x, w, b, N, in, out)
	kernels.GELUForward(act, pre)

	dact := []float32{1, 1, 1, 1}
	dpre, dx := make([]float32, N*out), make([]float32, N*in)
	dw, db := make([]float32, out*in), make([]float32, out)
	for range 2 { // two micro-batches: dw and db accumulate, dx is overwritten
		kernels.GELUBackward(dpre, pre, dact)
		kernels.LinearBackward(dx, dw, db, dpre, x, w, N, in, out)
	}
	fmt.Printf("pre %.2f\nact %.3f\ndb  %.3f\n", pre, act, db)
	// Output:
	// pre [1.40 -0.50 0.20 0.70]
	// act [1.287 -0.154 0.116 0.531]
	// db  [3.573 2.218]
}

// Dropout masks are a pure function of (Seed, index): backward regenerates them, and
// Fork derives independent masks per layer and step.
func ExampleDropout() {
	d := kernels.Dropout{P: 0.5, Seed: 42}
	x := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	y := make([]float32, len(x))
	kernels.DropoutForward(y, x, d)
	fmt.Println(y)
	fmt.Println(d.Fork(1).Seed != d.Fork(2).Seed)
	// Output:
	// [2 2 2 0 2 0 2 0]
	// true
}
