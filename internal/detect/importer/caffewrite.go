package importer

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// EncodeCaffemodel writes w as a caffemodel that DecodeCaffemodel reads
// back: a NetParameter with one LayerParameter per canonical layer (types
// as test.prototxt has them), plus weightless ReLU layers between, as a
// real caffemodel has. BatchNorm
// statistics are stored multiplied by bnFactor, Caffe's third blob. With
// legacy set, blobs carry the old num/channels/height/width shape (fc and
// 1-D blobs padded with leading 1s) instead of BlobShape, and layers are V1
// where V1 has the type (Convolution, InnerProduct). It exists so that
// tests here and in other packages build synthetic Caffe releases (Caffe
// itself is not needed); a tensor missing from w leaves its blob out.
func EncodeCaffemodel(c Config, w Weights, bnFactor float32, legacy bool) []byte {
	var net []byte
	net = protowire.AppendTag(net, 1, protowire.BytesType)
	net = protowire.AppendString(net, "ResNet-101")
	layer := func(name, typ string, blobs ...[]byte) {
		v1 := legacy && (typ == "Convolution" || typ == "InnerProduct")
		var l []byte
		if v1 {
			l = protowire.AppendTag(l, v1Name, protowire.BytesType)
			l = protowire.AppendString(l, name)
			l = protowire.AppendTag(l, v1Type, protowire.VarintType)
			l = protowire.AppendVarint(l, map[string]uint64{"Convolution": 4, "InnerProduct": 14}[typ])
		} else {
			l = protowire.AppendTag(l, layerName, protowire.BytesType)
			l = protowire.AppendString(l, name)
			l = protowire.AppendTag(l, layerType, protowire.BytesType)
			l = protowire.AppendString(l, typ)
		}
		for _, b := range blobs {
			if b == nil {
				continue
			}
			l = protowire.AppendTag(l, map[bool]protowire.Number{false: layerBlobs, true: v1Blobs}[v1], protowire.BytesType)
			l = protowire.AppendBytes(l, b)
		}
		field := protowire.Number(netLayer)
		if v1 {
			field = netLayers
		}
		net = protowire.AppendTag(net, field, protowire.BytesType)
		net = protowire.AppendBytes(net, l)
	}
	blob := func(key string, scale float32) []byte {
		t, ok := w[key]
		if !ok { // a test leaves a tensor out: write the layer without it
			return nil
		}
		var b []byte
		if legacy {
			shape := t.Shape
			for len(shape) < 4 {
				shape = append([]int{1}, shape...)
			}
			for i, d := range shape {
				b = protowire.AppendTag(b, protowire.Number(blobNum+i), protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(d))
			}
		} else {
			var s []byte
			var dims []byte
			for _, d := range t.Shape {
				dims = protowire.AppendVarint(dims, uint64(d))
			}
			s = protowire.AppendTag(s, shapeDim, protowire.BytesType)
			s = protowire.AppendBytes(s, dims)
			b = protowire.AppendTag(b, blobShape, protowire.BytesType)
			b = protowire.AppendBytes(b, s)
		}
		var data []byte
		for _, v := range t.F32 {
			data = protowire.AppendFixed32(data, math.Float32bits(v*scale))
		}
		b = protowire.AppendTag(b, blobData, protowire.BytesType)
		return protowire.AppendBytes(b, data)
	}
	factor := func() []byte {
		var b []byte
		b = protowire.AppendTag(b, blobData, protowire.BytesType)
		return protowire.AppendBytes(b, protowire.AppendFixed32(nil, math.Float32bits(bnFactor)))
	}
	conv := func(s ConvSpec) {
		layer(s.Name, "Convolution", blob(s.Name+".weight", 1))
		layer(s.BN, "BatchNorm", blob(s.BN+".mean", bnFactor), blob(s.BN+".var", bnFactor), factor())
		layer(s.Scale, "Scale", blob(s.Scale+".weight", 1), blob(s.Scale+".bias", 1))
		layer(s.Name+"_relu", "ReLU")
	}
	biased := func(name, typ string) { layer(name, typ, blob(name+".weight", 1), blob(name+".bias", 1)) }
	conv(c.Stem())
	for stage := range 4 {
		if stage == 3 {
			biased(RPNConv, "Convolution")
			biased(RPNClsScore, "Convolution")
			biased(RPNBboxPred, "Convolution")
			layer("roi_pool5", "ROIPooling")
		}
		for _, b := range c.Stage(stage) {
			if b.Branch1 != nil {
				conv(*b.Branch1)
			}
			for _, s := range b.Branch2 {
				conv(s)
			}
		}
	}
	biased(ClsScore, "InnerProduct")
	biased(BboxPred, "InnerProduct")
	layer(ClsEmbed, "Embed", blob(ClsEmbed+".weight", 1))
	biased(FcAttr, "InnerProduct")
	biased(AttrScore, "InnerProduct")
	return net
}
