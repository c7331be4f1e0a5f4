package onnx

func (b *builder) linearInt8(x, prefix string, in, out int) string {
	if b.err == nil {
		b.err = errInt8
	}
	return x
}
