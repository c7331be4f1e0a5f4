package importer

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

func TestDefaultParams(t *testing.T) {
	c := Default()
	ps := c.Params()
	// 104 convolutions with BN + Scale (conv1, 33 blocks x 3, 4 projections),
	// 3 RPN convs, 4 InnerProducts, 1 Embed.
	if want := 104*5 + 3*2 + 4*2 + 1; len(ps) != want {
		t.Fatalf("%d params, want %d", len(ps), want)
	}
	shapes := c.Shapes()
	if len(shapes) != len(ps) {
		t.Fatalf("duplicate names: %d params, %d distinct", len(ps), len(shapes))
	}
	for name, want := range map[string][]int{
		"conv1.weight":            {64, 3, 7, 7},
		"bn_conv1.var":            {64},
		"res2a_branch1.weight":    {256, 64, 1, 1},
		"res3a_branch2a.weight":   {128, 256, 1, 1},
		"res4b22_branch2c.weight": {1024, 256, 1, 1},
		"scale4b22_branch2c.bias": {1024},
		"rpn_conv/3x3.weight":     {512, 1024, 3, 3},
		"rpn_cls_score.weight":    {24, 512, 1, 1},
		"rpn_bbox_pred.bias":      {48},
		"res5a_branch1.weight":    {2048, 1024, 1, 1},
		"res5c_branch2b.weight":   {512, 512, 3, 3},
		"cls_score.weight":        {1601, 2048},
		"bbox_pred.weight":        {6404, 2048},
		"cls_embedding.weight":    {1601, 256},
		"fc_attr.weight":          {512, 2304},
		"attr_score.bias":         {401},
	} {
		if !slices.Equal(shapes[name], want) {
			t.Errorf("%s: shape %v, want %v", name, shapes[name], want)
		}
	}
	for _, bad := range []string{"res4b23_branch2a.weight", "res4a_branch2a.bias", "res2d_branch2a.weight"} {
		if _, ok := shapes[bad]; ok {
			t.Errorf("%s should not exist", bad)
		}
	}
	st := c.Stage(3)
	if st[0].Branch1.Stride != 1 || st[0].Branch2[1].Dilation != 2 || st[0].Branch2[1].Pad != 2 {
		t.Errorf("res5a: %+v", st[0])
	}
	if s := c.Stage(2)[0]; s.Branch2[0].Stride != 2 || s.Branch2[1].Stride != 1 {
		t.Errorf("res4a: stride must sit in the 1x1: %+v", s)
	}
}

// Tiny returns a reduced-width Config for tests.
func tinyConfig() Config {
	c := Default()
	c.NumClasses, c.NumAttributes = 5, 4
	c.StemWidth, c.Blocks, c.Bottleneck, c.Expansion = 4, [4]int{2, 2, 3, 2}, [4]int{2, 3, 4, 5}, 2
	c.RPNWidth, c.EmbedDim, c.AttrHidden = 6, 3, 7
	return c
}

func TestValidate(t *testing.T) {
	c := tinyConfig()
	w := Weights{}
	for _, p := range c.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		w[p.Name] = weights.NewF32(make([]float32, n), p.Shape...)
	}
	if _, ok := w["res4b2_branch2c.weight"]; !ok {
		t.Fatal("3-block res4 should have res4b2")
	}
	if err := c.Validate("x", w); err != nil {
		t.Fatal(err)
	}
	w2 := Weights{}
	for k, v := range w {
		w2[k] = v
	}
	delete(w2, "conv1.weight")
	w2["extra.weight"] = weights.NewF32([]float32{1}, 1)
	w2["cls_score.bias"] = weights.NewF32(make([]float32, 4), 4)
	err := c.Validate("f.caffemodel", w2)
	var km *weights.KeyMismatchError
	if !errors.As(err, &km) {
		t.Fatalf("got %v", err)
	}
	for _, s := range []string{"f.caffemodel", "conv1.weight", "extra.weight", "cls_score.bias"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	w["bn_conv1.var"].F32[1] = -1
	if err := c.Validate("x", w); err == nil || !strings.Contains(err.Error(), "bn_conv1.var[1]") {
		t.Errorf("negative variance: %v", err)
	}
}

func zeroWeights(c Config) Weights {
	w := Weights{}
	for _, p := range c.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		w[p.Name] = weights.NewF32(make([]float32, n), p.Shape...)
	}
	return w
}

func TestInferConfig(t *testing.T) {
	for _, c := range []Config{Default(), tinyConfig()} {
		got, err := InferConfig("x", zeroWeights(c), Default())
		if err != nil {
			t.Fatal(err)
		}
		if got.Blocks != c.Blocks || got.Bottleneck != c.Bottleneck || got.Expansion != c.Expansion ||
			got.StemWidth != c.StemWidth || got.NumClasses != c.NumClasses || got.NumAttributes != c.NumAttributes ||
			got.RPNWidth != c.RPNWidth || got.EmbedDim != c.EmbedDim || got.AttrHidden != c.AttrHidden {
			t.Errorf("inferred %+v, want %+v", got, c)
		}
	}
	w := zeroWeights(tinyConfig())
	delete(w, "rpn_cls_score.weight")
	if _, err := InferConfig("f.bin", w, Default()); err == nil || !strings.Contains(err.Error(), "rpn_cls_score.weight") || !strings.Contains(err.Error(), "f.bin") {
		t.Errorf("got %v", err)
	}
}
