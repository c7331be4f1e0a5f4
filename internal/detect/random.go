package detect

import (
	"math"
	"strings"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/weights"
)

// splitmix64 is Steele et al.'s SplitMix64 generator; bench/detect_torch.py
// (random_weights) implements the same stream with numpy uint64 arithmetic.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// uniform returns a value in [-1, 1) with 24 random bits, exact in float32.
func (s *splitmix64) uniform() float32 {
	return float32(s.next()>>40)*(1.0/(1<<23)) - 1
}

// fnv1a64 hashes a tensor name, so each tensor has its own stream whatever
// order the tensors are generated in.
func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// randomSpec says how one canonical tensor is drawn: value = offset + scale·u,
// u uniform in [-1, 1), computed in float32 (offset + scale*u, each rounded).
type randomSpec struct{ offset, scale float32 }

// randomSpecFor chooses the distribution of each tensor so that the random
// network behaves like a trained detector where tests need it to: activations
// stay O(1) through 33 residual blocks (fan-in scaled convolutions, small
// branch2c Scale), objectness logits spread over several units (no near-ties
// among the top proposals), class logits spread so that a few classes per box
// pass the 0.2 confidence of generate_tsv.py, and box deltas small.
func randomSpecFor(name string, shape []int) randomSpec {
	fanIn := 1
	for _, d := range shape[1:] {
		fanIn *= d
	}
	heScale := float32(math.Sqrt(6 / float64(max(fanIn, 1)))) // uniform with variance 2/fanIn
	switch {
	case name == "conv1.weight":
		return randomSpec{0, heScale / 128} // the input is pixels minus means (about ±100)
	case strings.HasSuffix(name, ".mean"):
		return randomSpec{0, 0.1}
	case strings.HasSuffix(name, ".var"):
		return randomSpec{1, 0.5}
	case strings.HasPrefix(name, "scale") && strings.HasSuffix(name, "_branch2c.weight"):
		return randomSpec{0.2, 0.05} // residual branches add a little to the identity path
	case strings.HasPrefix(name, "scale") && strings.HasSuffix(name, ".weight"):
		return randomSpec{1, 0.25}
	case strings.HasPrefix(name, "scale") && strings.HasSuffix(name, ".bias"):
		return randomSpec{0, 0.1}
	case name == importer.RPNClsScore+".weight":
		return randomSpec{0, heScale}
	case name == importer.RPNClsScore+".bias":
		return randomSpec{0, 1}
	case name == importer.RPNBboxPred+".weight":
		return randomSpec{0, 0.1 * heScale}
	case name == importer.ClsScore+".weight":
		return randomSpec{0, heScale}
	case name == importer.ClsScore+".bias":
		return randomSpec{0, 2}
	case name == importer.BboxPred+".weight":
		return randomSpec{0, 0.1 * heScale}
	case name == importer.ClsEmbed+".weight":
		return randomSpec{0, 1}
	case name == importer.AttrScore+".weight":
		return randomSpec{0, 3 * heScale}
	case strings.HasSuffix(name, ".bias"):
		return randomSpec{0, 0.1}
	default: // convolution and fc weights
		return randomSpec{0, heScale}
	}
}

// RandomWeights draws every canonical tensor of cfg from seed (see
// randomSpecFor): tensor name n gets the SplitMix64 stream seeded with
// seed XOR fnv1a64(n). bench/detect_torch.py's random_weights gives the same
// values bit for bit.
func RandomWeights(cfg importer.Config, seed uint64) importer.Weights {
	w := make(importer.Weights)
	for _, p := range cfg.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		data := make([]float32, n)
		spec := randomSpecFor(p.Name, p.Shape)
		rng := splitmix64(seed ^ fnv1a64(p.Name))
		for i := range data {
			data[i] = spec.offset + float32(spec.scale*rng.uniform()) // the conversion forbids a fused multiply-add
		}
		w[p.Name] = weights.NewF32(data, p.Shape...)
	}
	return w
}
