package detect

import (
	"time"

	"github.com/vlbert/vlbert/internal/visual"
)

// Result is everything the detector computes for one photo.
type Result struct {
	Image *Image // the preprocessed input (Data may be released by the caller)

	FH, FW int // res4 map size

	// RoIs are the proposals in the scaled image's pixels (the rois blob's
	// columns 1..4) with their RPN foreground probabilities.
	RoIs      []Box
	RoIScores []float32

	Head HeadOutput

	// StagesMs is the wall time of each stage in milliseconds: preprocess,
	// trunk, rpn, proposals, head (RoI pooling + res5 + output layers).
	StagesMs map[string]float64
}

// Stages lists the keys of Result.StagesMs in order.
var Stages = []string{"preprocess", "trunk", "rpn", "proposals", "head"}

// Detect runs the whole network on a decoded photo with the test settings
// (TEST.SCALES 600, TEST.MAX_SIZE 1000).
func (n *Network) Detect(img *visual.RGBImage) (*Result, error) {
	t := time.Now()
	prep := preprocessCV
	if n.Behaviour.ResizePIL {
		prep = preprocessPIL
	}
	pre, err := prep(img, 600, 1000, n.Behaviour.PixelMeans)
	if err != nil {
		return nil, err
	}
	prepMs := ms(t)
	res := n.Forward(pre)
	res.StagesMs["preprocess"] = prepMs
	return res, nil
}

// Forward runs the network on a preprocessed image.
func (n *Network) Forward(img *Image) *Result {
	res := &Result{Image: img, StagesMs: map[string]float64{}}
	t := time.Now()
	feat, FH, FW := n.Trunk(img.Data, img.H, img.W)
	res.FH, res.FW = FH, FW
	res.StagesMs["trunk"] = ms(t)

	t = time.Now()
	rpn := n.RPN(feat, FH, FW)
	res.StagesMs["rpn"] = ms(t)

	t = time.Now()
	// im_info is a float32 blob: [H, W, im_scale].
	res.RoIs, res.RoIScores = n.Proposals(rpn, img.H, img.W, float32(img.Scale))
	res.StagesMs["proposals"] = ms(t)

	t = time.Now()
	res.Head = n.Head(feat, FH, FW, res.RoIs)
	res.StagesMs["head"] = ms(t)
	return res
}

func ms(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
