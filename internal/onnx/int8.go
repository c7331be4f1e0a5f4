package onnx

import (
	"fmt"
	"math"
)

// linearInt8 is an encoder Linear in int8 as vlbert's --int8 computes it (package
// quant), in standard operators around MatMulInteger:
//
//	weights  per output channel j: sw[j] = max|W[j]|/127, qw = round(W/sw) in [-127, 127] (int8)
//	inputs   per row (token):      [min(0, min x), max(0, max x)] onto [0, 127]:
//	                               sx = (hi−lo)/127, zx = round(−lo/sx), qx = clamp(round(x/sx) + zx, 0, 127) (uint8)
//	product  acc = qx·qw (MatMulInteger, exact int32)
//	output   y = (float(acc) − zx·Σ_k qw[j]) · (sx·sw[j]) + b
//
// Rows whose range is below 1e-30 quantize to zero (y = b), as in quant. Rounding
// is half to even everywhere (ONNX Round, quant's RoundToEven).
func (b *builder) linearInt8(x, prefix string, in, out int) string {
	name := prefix + ".weight"
	w, ok := b.lookup(name, []int{out, in})
	if !ok {
		return name
	}
	b.used[name] = true
	qw := make([]byte, in*out) // [in,out] int8, transposed for MatMulInteger
	sw := make([]float32, out)
	sumW := make([]float32, out)
	for j := 0; j < out; j++ {
		row := w.Data[j*in : (j+1)*in]
		var amax float32
		for _, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				if b.err == nil {
					b.err = fmt.Errorf("onnx: int8 weights of %s: row %d holds %v", name, j, v)
				}
				return name
			}
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		scale := amax / 127
		sum := 0
		for i, v := range row {
			q := 0
			if scale > 0 {
				q = int(math.RoundToEven(float64(v) / float64(scale)))
				q = min(max(q, -127), 127)
			}
			qw[i*out+j] = byte(int8(q))
			sum += q
		}
		sw[j], sumW[j] = scale, float32(sum)
	}
	qwName := b.initializer(name+"_int8", Int8, []int64{int64(in), int64(out)}, qw)
	swName := b.initializer(name+"_scale", Float, []int64{int64(out)}, float32Bytes(sw))
	sumName := b.initializer(name+"_int8_sum", Float, []int64{int64(out)}, float32Bytes(sumW))
	bias := b.weight(prefix+".bias", out)

	lo := b.op("Min", []string{b.op("ReduceMin", []string{x}, aInts("axes", -1), aInt("keepdims", 1)), b.sf(0)})
	hi := b.op("Max", []string{b.op("ReduceMax", []string{x}, aInts("axes", -1), aInt("keepdims", 1)), b.sf(0)})
	rng := b.bin("Sub", hi, lo)
	tiny := b.bin("Less", rng, b.sf(1e-30))
	sx := b.where(tiny, b.sf(0), b.bin("Div", rng, b.sf(127)))
	inv := b.bin("Div", b.sf(1), b.where(tiny, b.sf(1), sx))
	zx := b.where(tiny, b.sf(0), b.op("Clip", []string{b.op("Round", []string{b.bin("Mul", b.op("Neg", []string{lo}), inv)}), b.sf(0), b.sf(127)}))
	qx := b.op("Clip", []string{b.bin("Add", b.op("Round", []string{b.bin("Mul", x, inv)}), zx), b.sf(0), b.sf(127)})
	qx = b.where(tiny, b.sf(0), qx)
	acc := b.cast(b.op("MatMulInteger", []string{b.cast(qx, Uint8), qwName}), Float)
	f := b.bin("Sub", acc, b.bin("Mul", zx, sumName))
	return b.bin("Add", b.bin("Mul", f, b.bin("Mul", sx, swName)), bias)
}
