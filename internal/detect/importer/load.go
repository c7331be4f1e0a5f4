package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Formats Load recognises.
const (
	FormatCaffemodel = "caffemodel"         // bottom-up-attention resnet101_faster_rcnn_final.caffemodel
	FormatHF         = "hf-frcnn"           // unc-nlp/frcnn-vg-finetuned pytorch_model.bin (+ config.yaml)
	FormatMILVLG     = "milvlg-bua"         // MILVLG bottom-up-attention.pytorch bua-caffe-frcn-r101*.pth
	FormatVlbert     = "vlbert-safetensors" // what `vlbert convert` writes
)

// Box coding conventions (Flags.BoxCoding).
const (
	// BoxCodingCaffe is py-faster-rcnn's lib/fast_rcnn/bbox_transform.py:
	// widths x2-x1+1, decoded x2 = ctr + w/2 (no -1 in bbox_transform_inv), clipped to [0, W-1];
	// proposals kept when w+1 >= min size (proposal_layer._filter_boxes);
	// NMS areas with +1.
	BoxCodingCaffe = "caffe"
	// BoxCodingDetectron2 is detectron2's Box2BoxTransform as
	// modeling_frcnn.py has it: widths x2-x1, decoded x2 = ctr + w/2,
	// clipped to [0, W], proposals kept when w > min size, NMS without +1.
	BoxCodingDetectron2 = "detectron2"
)

// Flags are the differences between a release and the Caffe test network
// that cannot be folded into the weights; the network selects its behaviour
// from them. CaffeFlags() is the published network.
type Flags struct {
	BoxCoding string // BoxCodingCaffe or BoxCodingDetectron2
	// DeltaScaleClamp clamps dw, dh before exp when > 0 (detectron2's
	// log(1000/16)); Caffe's bbox_transform_inv does not clamp.
	DeltaScaleClamp float64
	// Anchors are the cell anchors (x1, y1, x2, y2) of the feature-map cell
	// at (0, 0), one per RPN anchor channel, in channel order; an anchor at
	// cell (x, y) is shifted by (x, y) * FeatStride. nil: Caffe's
	// generate_anchors(base 16, Config ratios, scales), ratio-major.
	Anchors [][4]float32
	// PixelMeans (B, G, R) are subtracted from the BGR input in 0..255.
	PixelMeans [3]float32
	// StemPoolCeil: pool1 is Caffe's 3x3 stride-2 ceil-mode max pool
	// without padding; false: detectron2's pad-1 floor-mode pool.
	StemPoolCeil bool
	// ResizePIL: the image is resized by PIL bilinear on uint8 (the HF
	// demo's processing_image.py) rather than cv2.resize on float BGR.
	ResizePIL bool
	// Proposals overrides the proposal settings of py-faster-rcnn's TEST
	// config when non-nil (values from the release's own config).
	Proposals *ProposalParams
	// TestScale and TestMaxSize are the test image size (TEST.SCALES[0],
	// TEST.MAX_SIZE) of a network trained at its own scale (vlbert's
	// detector training); 0: the released networks' 600 and 1000.
	TestScale   int `json:",omitempty"`
	TestMaxSize int `json:",omitempty"`
}

// ProposalParams are RPN proposal settings read from a release's config.
type ProposalParams struct {
	PreNMSTopK, PostNMSTopK int
	NMSThresh               float64
	// MinSize is in pixels of the network input for detectron2 box coding;
	// with Caffe's it is RPN_MIN_SIZE, scaled by im_scale as
	// proposal_layer.py does.
	MinSize float64
}

// CaffeMeans are the pixel means of lib/fast_rcnn/config.py (BGR).
var CaffeMeans = [3]float32{102.9801, 115.9465, 122.7717}

// CaffeFlags is the published Caffe test network.
func CaffeFlags() Flags {
	return Flags{BoxCoding: BoxCodingCaffe, PixelMeans: CaffeMeans, StemPoolCeil: true}
}

// Result is one imported weight release.
type Result struct {
	Format  string
	Path    string
	Weights Weights
	Config  Config
	Flags   Flags
	// Notes are the conversion summary: what was mapped, how, and what the
	// flags mean for this file.
	Notes []string
}

// Summary is a human-readable conversion report.
func (r *Result) Summary() string {
	var b strings.Builder
	params := 0
	for _, t := range r.Weights {
		params += t.Numel()
	}
	fmt.Fprintf(&b, "%s (%s): %d tensors, %d parameters\n", r.Path, r.Format, len(r.Weights), params)
	c := r.Config
	fmt.Fprintf(&b, "  network: res2-5 blocks %v, widths %v x%d, stem %d, RPN %d x %d anchors, %d classes, %d attributes, BN eps %g\n",
		c.Blocks, c.Bottleneck, c.Expansion, c.StemWidth, c.RPNWidth, c.NumAnchors(), c.NumClasses, c.NumAttributes, c.BNEps)
	f := r.Flags
	fmt.Fprintf(&b, "  box coding %s", f.BoxCoding)
	if f.DeltaScaleClamp > 0 {
		fmt.Fprintf(&b, ", dw/dh clamped at %.4g", f.DeltaScaleClamp)
	}
	if f.Anchors != nil {
		fmt.Fprintf(&b, ", %d anchors from the file", len(f.Anchors))
	}
	fmt.Fprintf(&b, ", pixel means (BGR) %v", f.PixelMeans)
	if !f.StemPoolCeil {
		b.WriteString(", pool1 pad 1 floor mode")
	}
	if f.ResizePIL {
		b.WriteString(", PIL bilinear resize")
	}
	if p := f.Proposals; p != nil {
		fmt.Fprintf(&b, ", proposals %d -> NMS %.2g -> %d, min size %g", p.PreNMSTopK, p.NMSThresh, p.PostNMSTopK, p.MinSize)
	}
	if f.TestScale > 0 {
		fmt.Fprintf(&b, ", test scale %d (max %d)", f.TestScale, f.TestMaxSize)
	}
	b.WriteString("\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

// Load reads detector weights from path, detecting the format by content:
// vlbert's safetensors, a torch.save file (HF pytorch_model.bin or MILVLG
// .pth, told apart by their key names), or a Caffe protobuf. For an HF file
// the config.yaml beside it is read when present. The error says which
// formats were tried and why each failed. A directory is searched for
// detector.safetensors, pytorch_model.bin, bua-*.pth or *.caffemodel.
func Load(path string) (*Result, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		p, err := findWeightsIn(path)
		if err != nil {
			return nil, err
		}
		path = p
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("detector weights: %w", err)
	}
	var head [16]byte
	n, err := io.ReadFull(f, head[:])
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("detector weights: %s is empty", path)
		}
		return nil, fmt.Errorf("detector weights: %s: %w", path, err)
	}
	h := head[:n]
	switch {
	case isSafetensorsHead(h):
		return ReadVlbert(path)
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || (len(h) >= 2 && h[0] == 0x80 && h[1] <= 5):
		return ReadTorchRelease(path)
	}
	var why []string
	for _, try := range []struct {
		name string
		fn   func(string) (*Result, error)
	}{{FormatCaffemodel, ReadCaffemodel}, {"torch.save", ReadTorchRelease}} {
		r, err := try.fn(path)
		if err == nil {
			return r, nil
		}
		why = append(why, fmt.Sprintf("%s: %v", try.name, err))
	}
	return nil, fmt.Errorf("detector weights: %s is none of the known formats (vlbert safetensors, Caffe .caffemodel, HF pytorch_model.bin, MILVLG .pth):\n  %s",
		path, strings.Join(why, "\n  "))
}

// findWeightsIn returns the one detector weight file in dir.
func findWeightsIn(dir string) (string, error) {
	var found []string
	for _, pattern := range []string{"detector.safetensors", "pytorch_model.bin", "bua-*.pth", "*.caffemodel"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		found = append(found, m...)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("detector weights: %s is a directory without detector.safetensors, pytorch_model.bin, bua-*.pth or *.caffemodel", dir)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("detector weights: %s holds several weight files (%s): name one", dir, strings.Join(found, ", "))
}

// isSafetensorsHead: an 8-byte little-endian header length, then '{'.
func isSafetensorsHead(h []byte) bool {
	if len(h) < 9 || h[8] != '{' {
		return false
	}
	var n uint64
	for i := 7; i >= 0; i-- {
		n = n<<8 | uint64(h[i])
	}
	return n < math.MaxInt32
}

func sortedNames(w Weights) []string {
	ks := make([]string, 0, len(w))
	for k := range w {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
