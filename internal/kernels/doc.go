// Package kernels holds vlbert's layer kernels: plain forward/backward function pairs
// over flat row-major []float32 buffers with explicit sizes, in the style of llm.c.
//
// # Shape letters
//
//	B   batch            T   tokens (sequence length)   C   channels (hidden size)
//	NH  attention heads  hs  head size = C/NH           V   vocabulary / classes
//	N   rows (any flattened leading dimensions, e.g. B*T)
//
// A shape written [B,T,C] means a slice of at least B*T*C elements, row-major, the last
// letter varying fastest. Weights use PyTorch's layout (a Linear weight is [out,in]).
//
// # Contract
//
//   - Forward kernels overwrite their outputs.
//   - Backward kernels OVERWRITE activation gradients (dinp, dq, dk, dv, dlogits, ...)
//     and ACCUMULATE (+=) parameter gradients (dweight, dbias, dtable), so gradient
//     accumulation over micro-batches is free. A residual stream that needs a sum of two
//     gradients adds them explicitly (Add).
//   - A nil gradient destination is skipped (its work is not done).
//   - Inputs are never modified. Outputs may alias inputs only where a doc comment says so.
//   - Programmer errors (a slice too short for the stated shape, a negative size, C not
//     divisible by NH, an index out of range) panic with a "kernels: ..." message before
//     any work is done.
//   - Results do not depend on the number of threads (internal/parallel): every output
//     element is written by one worker, and reductions for parameter gradients run over
//     fixed index ranges in a fixed order.
//   - Dropout is deterministic: the keep decision of element i is a pure function of
//     (Seed, i), so backward regenerates the mask instead of storing it.
//
// Reductions (means, variances, softmax sums, losses) accumulate in float64; the
// transcendental functions (exp, the normal CDF of GELU) use float64 approximations whose
// error is at or below float32 resolution (fastmath.go, piecewise.go).
package kernels
