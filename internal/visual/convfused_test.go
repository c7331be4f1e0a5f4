package visual

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vlbert/vlbert/internal/gemm"
)

// referenceConvBN is the unfused path convFused replaces: im2col and one
// GEMM per image, then the batch norm affine, the residual and the ReLU as
// separate passes.
func referenceConvBN(x, w, scale, shift, residual []float32, relu bool, cv Conv2D, N, H, W int) []float32 {
	OH, OW := cv.OutSize(H, W)
	ckk, ohw := cv.C*cv.KH*cv.KW, OH*OW
	out := make([]float32, N*cv.K*ohw)
	col := make([]float32, ckk*ohw)
	for n := 0; n < N; n++ {
		im2col(col, x[n*cv.C*H*W:], cv, H, W, OH, OW)
		gemm.Sgemm(false, false, cv.K, ohw, ckk, 1, w, ckk, col, ohw, 0, out[n*cv.K*ohw:], ohw)
	}
	if scale != nil {
		BatchNormForward(out, out, scale, shift, N, cv.K, ohw)
	}
	for i := range out {
		if residual != nil {
			out[i] += residual[i]
		}
		if relu {
			out[i] = max(out[i], 0)
		}
	}
	return out
}

// TestConvFusedMatchesUnfused checks the implicit-GEMM convolution with its
// fused epilogue against im2col + GEMM + separate passes, per
// image and batched (many small images in one product), at 1 and 2 threads.
func TestConvFusedMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := append([]struct {
		name    string
		cv      Conv2D
		N, H, W int
	}{
		{"head3x3dil2", Conv2D{C: 40, K: 24, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}, 5, 14, 14},
		{"wide3x3", Conv2D{C: 8, K: 30, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 9, 71},
		{"bigmap1x1s2", Conv2D{C: 16, K: 20, KH: 1, KW: 1, Stride: 2, Pad: 0, Dilation: 1}, 2, 140, 130},
	}, convCases...)
	for _, tc := range cases {
		OH, OW := tc.cv.OutSize(tc.H, tc.W)
		x := randSlice(rng, tc.N*tc.cv.C*tc.H*tc.W, 1)
		w := randSlice(rng, tc.cv.WeightSize(), 0.3)
		scale, shift := randSlice(rng, tc.cv.K, 1), randSlice(rng, tc.cv.K, 1)
		res := randSlice(rng, tc.N*tc.cv.K*OH*OW, 1)
		for _, v := range []struct {
			name          string
			scale, shift  []float32
			res           []float32
			relu, batched bool
		}{
			{"plain", nil, nil, nil, false, false},
			{"bn-relu", scale, shift, nil, true, false},
			{"bn-res-relu", scale, shift, res, true, false},
			{"batched-bn-relu", scale, shift, nil, true, true},
			{"batched-bn-res-relu", scale, shift, res, true, true},
			{"batched-bn-res", scale, shift, res, false, true},
		} {
			want := referenceConvBN(x, w, v.scale, v.shift, v.res, v.relu, tc.cv, tc.N, tc.H, tc.W)
			for _, threads := range []int{1, 2} {
				got := make([]float32, len(want))
				for i := range got {
					got[i] = float32(math.NaN()) // every element must be written
				}
				var ws *Workspace
				if v.batched {
					ws = &Workspace{}
				}
				withThreads(threads, func() {
					convFused(ws, got, x, w, v.scale, v.shift, v.res, v.relu, tc.cv, tc.N, tc.H, tc.W)
				})
				for i := range got {
					// Bit for bit but for products small enough that the
					// reference GEMM takes its direct loop (another summation order).
					if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-6*(1+math.Abs(float64(want[i])))) {
						t.Fatalf("%s %s threads %d: out[%d] = %g, want %g", tc.name, v.name, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestConvBackwardBatched checks the batched backward of many small images
// against the per-image Conv2DBackward (itself checked by finite differences
// in conv_test.go): the same gradients up to the order of the sums, dweight
// accumulated onto what it held, dinp overwritten.
func TestConvBackwardBatched(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name    string
		cv      Conv2D
		N, H, W int
	}{
		{"3x3dil2", Conv2D{C: 12, K: 10, KH: 3, KW: 3, Stride: 1, Pad: 2, Dilation: 2}, 6, 14, 14},
		{"3x3one", Conv2D{C: 9, K: 14, KH: 3, KW: 3, Stride: 1, Pad: 1, Dilation: 1}, 1, 11, 37},
		{"3x3s2", Conv2D{C: 5, K: 7, KH: 3, KW: 3, Stride: 2, Pad: 1, Dilation: 1}, 2, 9, 10},
		{"1x1", Conv2D{C: 16, K: 24, KH: 1, KW: 1, Stride: 1, Dilation: 1}, 5, 7, 7},
		{"1x1s2", Conv2D{C: 8, K: 6, KH: 1, KW: 1, Stride: 2, Dilation: 1}, 3, 9, 9},
	} {
		OH, OW := tc.cv.OutSize(tc.H, tc.W)
		x := randSlice(rng, tc.N*tc.cv.C*tc.H*tc.W, 1)
		w := randSlice(rng, tc.cv.WeightSize(), 0.3)
		dy := randSlice(rng, tc.N*tc.cv.K*OH*OW, 1)
		dw0 := randSlice(rng, tc.cv.WeightSize(), 1)
		wantDx := make([]float32, len(x))
		wantDw := append([]float32(nil), dw0...)
		Conv2DBackward(wantDx, wantDw, dy, x, w, nil, tc.cv, tc.N, tc.H, tc.W)
		for _, group := range []bool{false, true} {
			gotDx := randSlice(rng, len(x), 1) // overwritten
			gotDw := append([]float32(nil), dw0...)
			ws := &Workspace{}
			if group {
				// Groups of fewer images than N: several products.
				withGroupFloats(tc.cv.C*tc.cv.KH*tc.cv.KW*OH*OW*2, func() {
					convBackward(ws, gotDx, gotDw, dy, x, w, tc.cv, tc.N, tc.H, tc.W)
				})
			} else {
				convBackward(ws, gotDx, gotDw, dy, x, w, tc.cv, tc.N, tc.H, tc.W)
			}
			if d := maxAbsDiff32(gotDx, wantDx); d > 1e-4 {
				t.Errorf("%s group=%v: dinp differs by %g", tc.name, group, d)
			}
			if d := maxAbsDiff32(gotDw, wantDw); d > 1e-3 {
				t.Errorf("%s group=%v: dweight differs by %g", tc.name, group, d)
			}
		}
	}
}

func withGroupFloats(n int, fn func()) {
	prev := groupFloats
	groupFloats = n
	defer func() { groupFloats = prev }()
	fn()
}
