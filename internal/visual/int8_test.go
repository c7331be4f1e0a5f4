package visual

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestInt8MatchesFloat32 runs the full ResNet-101 C4 network (random weights,
// BN near identity) on a photograph at reduced size (short side 96) with a few
// boxes in float32 and with int8 convolutions, and requires every RoI feature
// vector within 2% relative L2 error of float32's and the same ranking of the
// features' largest components.
func TestInt8MatchesFloat32(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a ResNet-101 forward at 96x128 twice (about 2 s)")
	}
	img := readChelsea(t)
	boxes := []float32{0, 0, float32(img.W - 1), float32(img.H - 1), 100, 80, 250, 200, 20, 30, 180, 150}
	p, err := Preprocess(img, boxes, Transform{MinSize: 96, MaxSize: 160})
	if err != nil {
		t.Fatal(err)
	}
	net := NewNetwork(ResNet101C4())
	randomizeParams(rand.New(rand.NewPCG(9, 9)), net.Params)
	net.SetInference(true)
	want := append([]float32(nil), net.ForwardPrepared([]*Prepared{p}, nil)...)
	if err := net.QuantizeInt8(); err != nil {
		t.Fatal(err)
	}
	if !net.Int8() {
		t.Fatal("Int8() is false after QuantizeInt8")
	}
	got := net.ForwardPrepared([]*Prepared{p}, nil)
	K := net.Cfg.FeatureDim()
	for r := 0; r < len(want)/K; r++ {
		var num, den float64
		for i := r * K; i < (r+1)*K; i++ {
			d := float64(got[i] - want[i])
			num += d * d
			den += float64(want[i]) * float64(want[i])
		}
		rel := math.Sqrt(num / den)
		t.Logf("RoI %d: relative L2 error %.4f", r, rel)
		if !(rel < 0.02) {
			t.Errorf("RoI %d: int8 features differ from float32 by %.2f%% (relative L2), want < 2%%", r, 100*rel)
		}
		if a, b := argmax(want[r*K:(r+1)*K]), argmax(got[r*K:(r+1)*K]); a != b {
			t.Errorf("RoI %d: largest feature %d in float32, %d in int8", r, a, b)
		}
	}
	net.SetInference(false)
	if net.Int8() {
		t.Error("SetInference(false) kept the int8 convolutions")
	}
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func TestTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	for _, s := range [][2]int{{1, 1}, {5, 70}, {33, 32}, {100, 41}} {
		rows, cols := s[0], s[1]
		lds, ldd := cols+3, rows+2
		src := randSlice(rng, rows*lds, 1)
		dst := make([]float32, cols*ldd)
		transpose(dst, ldd, src, lds, rows, cols)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				if dst[c*ldd+r] != src[r*lds+c] {
					t.Fatalf("%dx%d: dst[%d][%d] = %g, want %g", rows, cols, c, r, dst[c*ldd+r], src[r*lds+c])
				}
			}
		}
	}
}
