package importer

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vlbert/vlbert/internal/pbwire"

	"github.com/vlbert/vlbert/internal/weights"
)

// Field numbers of caffe.proto (BVLC Caffe as vendored by
// peteanderson80/bottom-up-attention, caffe/src/caffe/proto/caffe.proto).
const (
	netLayer   = 100 // NetParameter.layer: repeated LayerParameter
	netLayers  = 2   // NetParameter.layers: repeated V1LayerParameter
	layerName  = 1   // LayerParameter.name
	layerType  = 2   // LayerParameter.type (string)
	layerBlobs = 7   // LayerParameter.blobs
	layerBN    = 139 // LayerParameter.batch_norm_param
	bnEps      = 3   // BatchNormParameter.eps (float)
	v1Name     = 4   // V1LayerParameter.name
	v1Type     = 5   // V1LayerParameter.type (enum LayerType)
	v1Blobs    = 6   // V1LayerParameter.blobs
	v1V0Layer  = 1   // V1LayerParameter.layer: V0LayerParameter (pre-2014 nets)
	blobNum    = 1   // BlobProto.num .. width: the legacy 4-D shape
	blobWidth  = 4
	blobData   = 5 // BlobProto.data: repeated float, packed
	blobDiff   = 6
	blobShape  = 7 // BlobProto.shape: BlobShape
	blobDouble = 8 // BlobProto.double_data: repeated double, packed
	shapeDim   = 1 // BlobShape.dim: repeated int64, packed
)

// V1LayerParameter.LayerType values that carry weights.
var v1Types = map[uint64]string{4: "Convolution", 14: "InnerProduct"}

// MaxCaffemodelBytes bounds the file ReadCaffemodel accepts (the released
// ResNet-101 model is about 260 MB).
const MaxCaffemodelBytes = 2 << 30

// caffeLayer is the part of a LayerParameter the importer needs.
type caffeLayer struct {
	name, typ string
	blobs     []caffeBlob
	eps       float64 // batch_norm_param.eps, 0 when absent
}

type caffeBlob struct {
	shape []int
	data  []float32
}

// ReadCaffemodel reads a Caffe NetParameter binary (.caffemodel) and maps
// its blobs onto the canonical names. Layers without blobs (ReLU, Pooling,
// ...) are skipped; every layer with blobs must map onto a canonical tensor.
func ReadCaffemodel(path string) (*Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("caffemodel: %w", err)
	}
	if st.Size() > MaxCaffemodelBytes {
		return nil, fmt.Errorf("caffemodel: %s is %d bytes, more than the %d this reader accepts", path, st.Size(), MaxCaffemodelBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("caffemodel: %w", err)
	}
	return DecodeCaffemodel(b, path)
}

// DecodeCaffemodel is ReadCaffemodel over the bytes of a file; name is
// quoted in errors.
func DecodeCaffemodel(b []byte, name string) (*Result, error) {
	layers, err := parseNet(b)
	if err != nil {
		return nil, fmt.Errorf("caffemodel: %s: %w", name, err)
	}
	res := &Result{Format: FormatCaffemodel, Path: name, Flags: CaffeFlags()}
	w := Weights{}
	eps := 0.0
	nBlobLayers := 0
	for _, l := range layers {
		if len(l.blobs) == 0 {
			continue
		}
		nBlobLayers++
		if err := caffeLayerToCanonical(l, w); err != nil {
			return nil, fmt.Errorf("caffemodel: %s: layer %q: %w", name, l.name, err)
		}
		if l.eps != 0 {
			if eps != 0 && eps != l.eps {
				return nil, fmt.Errorf("caffemodel: %s: layer %q: BatchNorm eps %g differs from an earlier layer's %g", name, l.name, l.eps, eps)
			}
			eps = l.eps
		}
	}
	if nBlobLayers == 0 {
		return nil, fmt.Errorf("caffemodel: %s: no layer has weights (%d layers); is this a .prototxt or a solver state?", name, len(layers))
	}
	cfg, err := InferConfig(name, w, Default())
	if err != nil {
		return nil, err
	}
	if eps != 0 {
		cfg.BNEps = eps
	}
	if err := cfg.Validate(name, w); err != nil {
		return nil, err
	}
	res.Weights, res.Config = w, cfg
	res.Notes = append(res.Notes, fmt.Sprintf("%d Caffe layers with weights -> %d canonical tensors; BatchNorm statistics divided by their moving-average factor", nBlobLayers, len(w)))
	return res, nil
}

// caffeLayerToCanonical adds the blobs of one layer under canonical names.
func caffeLayerToCanonical(l caffeLayer, w Weights) error {
	typ := l.typ
	if typ == "" { // V1 layers other than conv/fc, or a missing type
		switch {
		case len(l.blobs) == 3:
			typ = "BatchNorm"
		case strings.HasPrefix(l.name, "scale"):
			typ = "Scale"
		case l.name == ClsEmbed:
			typ = "Embed"
		default:
			return fmt.Errorf("layer type unknown")
		}
	}
	put := func(key string, b caffeBlob, rank int) error {
		if _, dup := w[key]; dup {
			return fmt.Errorf("%s appears twice", key)
		}
		shape, err := squeezeTo(b.shape, rank)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		w[key] = weights.NewF32(b.data, shape...)
		return nil
	}
	switch typ {
	case "Convolution", "InnerProduct", "Embed", "Scale":
		if len(l.blobs) > 2 {
			return fmt.Errorf("%s layer has %d blobs, want 1 or 2", typ, len(l.blobs))
		}
		rank := map[string]int{"Convolution": 4, "InnerProduct": 2, "Embed": 2, "Scale": 1}[typ]
		if err := put(l.name+".weight", l.blobs[0], rank); err != nil {
			return err
		}
		if len(l.blobs) == 2 {
			return put(l.name+".bias", l.blobs[1], 1)
		}
		return nil
	case "BatchNorm":
		if len(l.blobs) != 3 {
			return fmt.Errorf("BatchNorm layer has %d blobs, want 3 (mean, variance, moving-average factor)", len(l.blobs))
		}
		f := l.blobs[2].data
		if len(f) != 1 {
			return fmt.Errorf("BatchNorm moving-average factor has %d values, want 1", len(f))
		}
		// Caffe's BatchNormLayer::Forward_cpu: a factor of 0 scales the
		// statistics by 0, otherwise by 1/factor.
		scale := float32(0)
		if f[0] != 0 {
			scale = 1 / f[0]
		}
		for i, suffix := range []string{".mean", ".var"} {
			b := l.blobs[i]
			data := make([]float32, len(b.data))
			for j, v := range b.data {
				data[j] = v * scale
			}
			if err := put(l.name+suffix, caffeBlob{b.shape, data}, 1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s layer with %d blobs is not part of the detector", typ, len(l.blobs))
}

// squeezeTo drops leading dimensions of size 1 until shape has rank
// dimensions (legacy num/channels/height/width blobs are 4-D: an
// InnerProduct weight is (1, 1, out, in), a bias (1, 1, 1, out)).
func squeezeTo(shape []int, rank int) ([]int, error) {
	s := shape
	for len(s) > rank && s[0] == 1 {
		s = s[1:]
	}
	if len(s) != rank {
		return nil, fmt.Errorf("blob shape %v does not reduce to %d dimensions", shape, rank)
	}
	return s, nil
}

// parseNet decodes the layers of a NetParameter.
func parseNet(b []byte) ([]caffeLayer, error) {
	var layers []caffeLayer
	err := pbwire.Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType || (num != netLayer && num != netLayers) {
			return nil
		}
		l, err := parseLayer(v, num == netLayers)
		if err != nil {
			return fmt.Errorf("layer %d (%q): %w", len(layers), l.name, err)
		}
		layers = append(layers, l)
		return nil
	})
	if err != nil && len(layers) > 0 && !strings.HasPrefix(err.Error(), "layer ") {
		err = fmt.Errorf("%w (after %d complete layers, the last %q: a truncated file?)", err, len(layers), layers[len(layers)-1].name)
	}
	return layers, err
}

func parseLayer(b []byte, v1 bool) (caffeLayer, error) {
	var l caffeLayer
	nameF, typeF, blobsF := protowire.Number(layerName), protowire.Number(layerType), protowire.Number(layerBlobs)
	if v1 {
		nameF, typeF, blobsF = v1Name, v1Type, v1Blobs
	}
	err := pbwire.Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == nameF && typ == protowire.BytesType:
			l.name = string(v)
		case num == typeF && !v1 && typ == protowire.BytesType:
			l.typ = string(v)
		case num == typeF && v1 && typ == protowire.VarintType:
			l.typ = v1Types[x]
		case num == v1V0Layer && v1 && typ == protowire.BytesType:
			return errors.New("V0 layer format (pre-2014 Caffe); upgrade the model with Caffe's upgrade_net_proto_binary")
		case num == blobsF && typ == protowire.BytesType:
			blob, err := parseBlob(v)
			if err != nil {
				return fmt.Errorf("blob %d: %w", len(l.blobs), err)
			}
			l.blobs = append(l.blobs, blob)
		case num == layerBN && !v1 && typ == protowire.BytesType:
			return pbwire.Walk(v, func(n protowire.Number, t protowire.Type, _ []byte, x uint64) error {
				if n == bnEps && t == protowire.Fixed32Type {
					l.eps = float64(math.Float32frombits(uint32(x)))
				}
				return nil
			})
		}
		return nil
	})
	return l, err
}

func parseBlob(b []byte) (caffeBlob, error) {
	var (
		blob     caffeBlob
		legacy   [4]int
		hasShape bool
		doubles  []float64
	)
	err := pbwire.Walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case blobShape:
			if typ != protowire.BytesType {
				return errors.New("shape is not a message")
			}
			hasShape = true
			blob.shape = blob.shape[:0]
			return pbwire.Walk(v, func(n protowire.Number, t protowire.Type, vv []byte, xx uint64) error {
				if n != shapeDim {
					return nil
				}
				return appendVarints(&blob.shape, t, vv, xx)
			})
		case blobData:
			return appendFloats(&blob.data, typ, v, x)
		case blobDouble:
			return appendDoubles(&doubles, typ, v, x)
		case blobNum, 2, 3, blobWidth:
			if typ != protowire.VarintType {
				return fmt.Errorf("legacy dimension %d is not a varint", num)
			}
			if int32(x) < 0 {
				return fmt.Errorf("negative legacy dimension %d", int32(x))
			}
			legacy[num-blobNum] = int(int32(x))
		}
		return nil
	})
	if err != nil {
		return blob, err
	}
	if len(blob.data) > 0 && len(doubles) > 0 {
		return blob, errors.New("both data and double_data are set")
	}
	if len(doubles) > 0 {
		blob.data = make([]float32, len(doubles))
		for i, d := range doubles {
			blob.data[i] = float32(d)
		}
	}
	if !hasShape {
		blob.shape = legacy[:]
		if legacy == [4]int{} { // an old scalar blob with no shape at all
			blob.shape = []int{len(blob.data)}
		}
	}
	n := 1
	for _, d := range blob.shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return blob, fmt.Errorf("shape %v is invalid", blob.shape)
		}
		n *= d
	}
	if n != len(blob.data) {
		return blob, fmt.Errorf("shape %v holds %d values but the blob has %d", blob.shape, n, len(blob.data))
	}
	return blob, nil
}

// appendFloats decodes a repeated float given packed (bytes) or one at a
// time (fixed32).
func appendFloats(dst *[]float32, typ protowire.Type, v []byte, x uint64) error {
	switch typ {
	case protowire.Fixed32Type:
		*dst = append(*dst, math.Float32frombits(uint32(x)))
	case protowire.BytesType:
		if len(v)%4 != 0 {
			return fmt.Errorf("packed float data of %d bytes", len(v))
		}
		out := make([]float32, len(v)/4)
		for i := range out {
			u, _ := protowire.ConsumeFixed32(v[4*i:])
			out[i] = math.Float32frombits(u)
		}
		if *dst == nil { // the usual single packed field: no second copy
			*dst = out
		} else {
			*dst = append(*dst, out...)
		}
	default:
		return fmt.Errorf("float data has wire type %d", typ)
	}
	return nil
}

func appendDoubles(dst *[]float64, typ protowire.Type, v []byte, x uint64) error {
	switch typ {
	case protowire.Fixed64Type:
		*dst = append(*dst, math.Float64frombits(x))
	case protowire.BytesType:
		if len(v)%8 != 0 {
			return fmt.Errorf("packed double data of %d bytes", len(v))
		}
		for i := 0; i < len(v); i += 8 {
			u, _ := protowire.ConsumeFixed64(v[i:])
			*dst = append(*dst, math.Float64frombits(u))
		}
	default:
		return fmt.Errorf("double data has wire type %d", typ)
	}
	return nil
}

// appendVarints decodes a repeated int64 dimension list, packed or not.
func appendVarints(dst *[]int, typ protowire.Type, v []byte, x uint64) error {
	add := func(u uint64) error {
		if int64(u) < 0 || u > math.MaxInt32 {
			return fmt.Errorf("dimension %d out of range", int64(u))
		}
		*dst = append(*dst, int(u))
		return nil
	}
	switch typ {
	case protowire.VarintType:
		return add(x)
	case protowire.BytesType:
		for len(v) > 0 {
			u, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return fmt.Errorf("packed dimensions: %w", protowire.ParseError(n))
			}
			if err := add(u); err != nil {
				return err
			}
			v = v[n:]
		}
		return nil
	}
	return fmt.Errorf("dimension has wire type %d", typ)
}
