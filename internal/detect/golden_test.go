package detect

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vlbert/vlbert/internal/detect/importer"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/visual"
)

// goldenSeed is the seed testdata/gen_golden.py draws the weights with.
const goldenSeed = 7

// reducedConfig is bench/detect_torch.py's reduced_config: the published
// network's names and layout at a small width (goldens stay small).
func reducedConfig() importer.Config {
	c := importer.Default()
	c.NumClasses, c.NumAttributes = 31, 11
	c.StemWidth = 8
	c.Blocks = [4]int{1, 2, 2, 2}
	c.Bottleneck = [4]int{4, 8, 16, 16}
	c.RPNWidth, c.EmbedDim, c.AttrHidden = 16, 8, 16
	return c
}

func readNpz(t *testing.T, name string) map[string]*npy.Array {
	t.Helper()
	z, err := npy.ReadNpz(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func reducedNetwork(t *testing.T) *Network {
	t.Helper()
	cfg := reducedConfig()
	n, err := Load(cfg, RandomWeights(cfg, goldenSeed), "random")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closeTo fails unless |got − want| <= atol + rtol·|want| everywhere.
func closeTo(t *testing.T, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if ex := d - (atol + rtol*math.Abs(float64(want[i]))); ex > worst || math.IsNaN(d) {
			worst, at = ex, i
			if math.IsNaN(d) {
				break
			}
		}
	}
	if at >= 0 {
		t.Fatalf("%s: element %d = %v, want %v (atol %g, rtol %g)", what, at, got[at], want[at], atol, rtol)
	}
}

func boxesOf(a *npy.Array) []Box {
	b := make([]Box, len(a.F32)/4)
	for i := range b {
		copy(b[i][:], a.F32[4*i:4*i+4])
	}
	return b
}

func flatBoxes(b []Box) []float32 {
	out := make([]float32, 0, 4*len(b))
	for _, x := range b {
		out = append(out, x[:]...)
	}
	return out
}

func ints(a *npy.Array) []int {
	out := make([]int, len(a.I64))
	for i, v := range a.I64 {
		out[i] = int(v)
	}
	return out
}

func equalInts(t *testing.T, what string, got, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

func TestRandomWeightsMatchReference(t *testing.T) {
	z := readNpz(t, "stages.npz")
	w := RandomWeights(reducedConfig(), goldenSeed)
	n := 0
	for key, a := range z {
		if len(key) < 2 || key[:2] != "w:" {
			continue
		}
		got := w[key[2:]].F32[:len(a.F32)]
		for i := range got {
			if got[i] != a.F32[i] {
				t.Fatalf("%s[%d] = %v, reference %v", key[2:], i, got[i], a.F32[i])
			}
		}
		n++
	}
	if n < 8 {
		t.Fatalf("only %d weight samples in stages.npz", n)
	}
}

func loadPhoto(t *testing.T) *visual.RGBImage {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "chelsea_240x160.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := visual.DecodeImage(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestStagesGolden checks each stage on the reference's own input for that
// stage, so a failure names the stage.
func TestStagesGolden(t *testing.T) {
	z := readNpz(t, "stages.npz")
	n := reducedNetwork(t)

	pre, err := Preprocess(loadPhoto(t), 64, 100)
	if err != nil {
		t.Fatal(err)
	}
	blob := z["blob"]
	if pre.H != blob.Shape[1] || pre.W != blob.Shape[2] || float32(pre.Scale) != z["im_scale"].F32[0] {
		t.Fatalf("preprocess: %dx%d scale %v, want %v scale %v", pre.H, pre.W, pre.Scale, blob.Shape, z["im_scale"].F32[0])
	}
	closeTo(t, "preprocess", pre.Data, blob.F32, 1e-4, 1e-6)

	feat, FH, FW := n.Trunk(blob.F32, blob.Shape[1], blob.Shape[2])
	if want := z["feat"].Shape; FH != want[1] || FW != want[2] {
		t.Fatalf("trunk: %dx%d, want %v", FH, FW, want)
	}
	closeTo(t, "trunk (res4b22)", feat, z["feat"].F32, 1e-4, 1e-4)

	gfeat := z["feat"].F32
	rpn := n.RPN(gfeat, FH, FW)
	closeTo(t, "rpn foreground probability", rpn.FgProb, z["rpn_fg"].F32, 1e-6, 1e-5)
	closeTo(t, "rpn_bbox_pred", rpn.Deltas, z["rpn_deltas"].F32, 1e-5, 1e-4)

	grpn := RPNOutput{FH: FH, FW: FW, FgProb: z["rpn_fg"].F32, Deltas: z["rpn_deltas"].F32}
	rois, scores := n.Proposals(grpn, blob.Shape[1], blob.Shape[2], z["im_scale"].F32[0])
	closeTo(t, "proposals", flatBoxes(rois), z["rois"].F32, 1e-3, 1e-6)
	closeTo(t, "proposal scores", scores, z["roi_scores"].F32, 0, 0)

	grois := boxesOf(z["rois"])
	P, C4 := n.Cfg.PooledSize, n.Cfg.StageOut(2)
	pooled := make([]float32, 2*C4*P*P)
	RoIPool(pooled, gfeat, C4, FH, FW, grois[:2], P, 1.0/16, false)
	closeTo(t, "roi pooling", pooled, z["pooled2"].F32, 0, 0)

	head := n.Head(gfeat, FH, FW, grois)
	closeTo(t, "pool5_flat", head.Pool5, z["pool5"].F32, 1e-5, 1e-4)
	closeTo(t, "cls_prob", head.ClsProb, z["cls_prob"].F32, 1e-6, 1e-4)
	closeTo(t, "bbox_pred", head.BboxPred, z["bbox_pred"].F32, 1e-5, 1e-4)
	equalInts(t, "predicted_cls", head.PredCls, ints(z["pred_cls"]))
	closeTo(t, "attr_prob", head.AttrProb, z["attr_prob"].F32, 1e-6, 1e-4)

	// Selection on the reference's head outputs.
	res := &Result{Image: &Image{Scale: pre.Scale}, RoIs: grois,
		Head: HeadOutput{R: len(grois), ClsProb: z["cls_prob"].F32}}
	for _, tc := range []struct {
		rule Rule
		key  string
	}{{RuleGenerateTSV, "sel_index"}, {RuleGenerateTSVv2, "sel_index_v2"}, {RuleLXMERT36, "sel_index_36"}} {
		o, _ := DefaultSelect(tc.rule)
		sel, err := Select(res, o)
		if err != nil {
			t.Fatal(err)
		}
		equalInts(t, string(tc.rule)+" selection", sel.Index, ints(z[tc.key]))
		if tc.rule == RuleGenerateTSV {
			closeTo(t, "selected boxes", flatBoxes(sel.Boxes), z["sel_boxes"].F32, 0, 1e-6)
			closeTo(t, "max_conf", sel.Conf, z["sel_conf"].F32, 0, 0)
		}
	}
}
