package visual

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func tinyConfig(frozen ...int) Config {
	return Config{Blocks: [3]int{2, 1, 2}, HeadBlocks: 2, Width: 2, StrideIn1x1: true, C5Dilated: true,
		FrozenStages: frozen, RoIAlign: DefaultRoIAlign}
}

// network64 is the float64 reference of Network.Forward built from the float64
// layer references; w holds all parameters in ParamSet order.
func network64(n *Network, w, img []float64, N, H, W int, rois []float32, R int, masks []float32) []float64 {
	ps := n.Params
	get := func(p *Param) []float64 { return w[paramOffset(ps, p):][:len(p.Data)] }
	H1, W1 := n.Conv1.OutSize(H, W)
	c1 := conv64(img, get(n.W1), nil, n.Conv1, N, H, W)
	bnRef64(c1, get(n.BN1.Weight), get(n.BN1.Bias), get(n.BN1.RunningMean), get(n.BN1.RunningVar), n.Conv1.K, H1*W1)
	for i := range c1 {
		c1[i] = max(c1[i], 0)
	}
	x := maxpool64(c1, n.Pool, N*n.Conv1.K, H1, W1)
	h, wd := n.Pool.OutSize(H1, W1)
	for _, layer := range n.Layers {
		for _, blk := range layer {
			x = bottleneck64(blk, ps, w, x, N, h, wd)
			h, wd = blk.OutSize(h, wd)
		}
	}
	C := n.Head[0].Conv1.C
	x = roialign64(x, rois, n.Cfg.RoIAlign, N, C, h, wd, R)
	h, wd = n.Cfg.RoIAlign.PooledH, n.Cfg.RoIAlign.PooledW
	for _, blk := range n.Head {
		x = bottleneck64(blk, ps, w, x, R, h, wd)
		h, wd = blk.OutSize(h, wd)
	}
	K, hw := n.Cfg.FeatureDim(), h*wd
	out := make([]float64, R*K)
	for r := 0; r < R; r++ {
		for k := 0; k < K; k++ {
			var s float64
			for i := 0; i < hw; i++ {
				mv := 1.0
				if masks != nil {
					mv = float64(masks[r*hw+i])
				}
				s += x[(r*K+k)*hw+i] * mv
			}
			out[r*K+k] = s / float64(hw)
		}
	}
	return out
}

func TestNetworkBackwardFD(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	N, H, W := 2, 32, 40
	rois := []float32{
		0, 0, 0, 39, 31,
		1, 20.5, 12.25, 38, 30,
	}
	R := 2
	for _, tc := range []struct {
		name   string
		frozen []int
		masked bool
	}{
		{"frozen12", []int{1, 2}, false},
		{"all-trainable+masks", nil, true},
		{"head-only", []int{1, 2, 3, 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(tc.frozen...)
			cfg.Blocks = [3]int{2, 1, 1}
			cfg.RoIAlign.PooledH, cfg.RoIAlign.PooledW = 5, 5 // small head maps keep the float64 reference fast
			n := NewNetwork(cfg)
			randomizeParams(rng, n.Params)
			n.Params.AllocGrads()
			img := randSlice(rng, N*3*H*W, 1)
			var masks []float32
			if tc.masked {
				masks = make([]float32, R*25)
				for i := range masks {
					masks[i] = float32(rng.IntN(2))
				}
			}
			feats := n.Forward(img, N, H, W, rois, R, masks)
			w64, img64 := to64(n.Params.Data), to64(img)
			ref := network64(n, w64, img64, N, H, W, rois, R, masks)
			if d := maxAbsDiff64(feats, ref); d > 1e-4 {
				t.Fatalf("forward differs from float64 by %g", d)
			}
			gOut := randSlice(rng, len(feats), 1)
			n.Backward(gOut)
			full := make([]float32, len(n.Params.Data))
			off := 0
			for _, p := range n.Params.Params {
				if p.Grad != nil {
					copy(full[off:], p.Grad)
				}
				if !p.Trainable && p.Grad != nil {
					t.Fatalf("frozen %s has a gradient view", p.Name)
				}
				off += len(p.Data)
			}
			num := fdGrad(w64, func(v []float64) float64 {
				return dot64(network64(n, v, img64, N, H, W, rois, R, masks), to64(gOut))
			}, 1e-6, 40)
			off = 0
			for _, p := range n.Params.Params {
				if !p.Trainable {
					for i := off; i < off+len(p.Data); i++ {
						num[i] = math.NaN()
					}
				}
				off += len(p.Data)
			}
			checkGrad(t, "network dweights", full, num, 1e-4, 1e-3)
			// A second Backward accumulates: gradients double.
			before := slices.Clone(n.Params.Grad)
			n.Backward(gOut)
			for i, v := range n.Params.Grad {
				if math.Abs(float64(v-2*before[i])) > 1e-5*(1+math.Abs(float64(v))) {
					t.Fatalf("gradient %d did not accumulate: %g then %g", i, before[i], v)
				}
			}
		})
	}
}

func TestNetworkParallelEqualsSerial(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	n := NewNetwork(tinyConfig(1))
	randomizeParams(rng, n.Params)
	n.Params.AllocGrads()
	img := randSlice(rng, 3*33*47, 1)
	rois := []float32{0, 1, 2, 40, 30, 0, 5, 5, 6, 6}
	run := func() (f, g []float32) {
		n.Params.ZeroGrad()
		f = slices.Clone(n.Forward(img, 1, 33, 47, rois, 2, nil))
		n.Backward(f)
		return f, slices.Clone(n.Params.Grad)
	}
	var f1, g1, f4, g4 []float32
	withThreads(1, func() { f1, g1 = run() })
	withThreads(4, func() { f4, g4 = run() })
	if maxAbsDiff32(f1, f4) != 0 || maxAbsDiff32(g1, g4) != 0 {
		t.Fatal("parallel result differs from serial")
	}
}

func TestResNet101C4Structure(t *testing.T) {
	n := NewNetwork(ResNet101C4())
	want := map[string][]int{
		"backbone.conv1.weight":                            {64, 3, 7, 7},
		"backbone.bn1.running_var":                         {64},
		"backbone.layer1.0.conv1.weight":                   {64, 64, 1, 1},
		"backbone.layer1.0.downsample.0.weight":            {256, 64, 1, 1},
		"backbone.layer1.2.conv1.weight":                   {64, 256, 1, 1},
		"backbone.layer2.0.conv1.weight":                   {128, 256, 1, 1},
		"backbone.layer2.0.downsample.0.weight":            {512, 256, 1, 1},
		"backbone.layer2.3.conv2.weight":                   {128, 128, 3, 3},
		"backbone.layer3.0.downsample.1.running_mean":      {1024},
		"backbone.layer3.22.conv3.weight":                  {1024, 256, 1, 1},
		"roi_head_feature_extractor.0.conv1.weight":        {512, 1024, 1, 1},
		"roi_head_feature_extractor.0.conv2.weight":        {512, 512, 3, 3},
		"roi_head_feature_extractor.0.downsample.0.weight": {2048, 1024, 1, 1},
		"roi_head_feature_extractor.2.conv1.weight":        {512, 2048, 1, 1},
		"roi_head_feature_extractor.2.bn3.bias":            {2048},
	}
	for name, shape := range want {
		p := n.Params.Get(name)
		if p == nil || !slices.Equal(p.Shape, shape) {
			t.Errorf("%s: got %v, want shape %v", name, p, shape)
		}
	}
	for _, name := range []string{"backbone.layer4.0.conv1.weight", "backbone.layer1.1.downsample.0.weight", "roi_head_feature_extractor.3.conv1.weight"} {
		if n.Params.Get(name) != nil {
			t.Errorf("unexpected parameter %s", name)
		}
	}
	// Frozen: conv1 and layer1; every BN; trainable: layer2, layer3, head convs.
	for _, p := range n.Params.Params {
		isBN := slices.Contains([]string{"bias", "running_mean", "running_var"}, p.Name[lastDot(p.Name)+1:]) || len(p.Shape) == 1
		frozenStage := p.Name == "backbone.conv1.weight" || len(p.Name) > 16 && p.Name[:16] == "backbone.layer1."
		if p.Trainable == (isBN || frozenStage) {
			t.Errorf("%s: trainable=%v", p.Name, p.Trainable)
		}
	}
	if c := n.Head[0].Conv2; c.Dilation != 2 || c.Pad != 2 || c.Stride != 1 {
		t.Errorf("head conv2 %+v, want dilation 2 stride 1", c)
	}
	if c := n.Layers[1][0].Conv1; c.Stride != 2 {
		t.Errorf("layer2.0 conv1 stride %d, want 2 (stride in 1x1)", c.Stride)
	}
	total := len(n.Params.Data)
	t.Logf("ResNet-101 C4 + res5 head: %d parameters (BN included), %d trainable", total, n.Params.NumTrainable())
	// Backbone on a tiny image: output stride 16, 1024 channels.
	for i := range n.Params.Data {
		n.Params.Data[i] = float32(i%7) * 0.01
	}
	img := make([]float32, 3*32*48)
	feat, FH, FW := n.Backbone(img, 1, 32, 48)
	if FH != 2 || FW != 3 || len(feat) != 1024*2*3 {
		t.Fatalf("body4 is %dx%d (%d values), want 2x3x1024", FH, FW, len(feat))
	}
	if n.Cfg.FeatureDim() != 2048 {
		t.Fatalf("feature dim %d", n.Cfg.FeatureDim())
	}
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func TestCanonicalKeyAndLoad(t *testing.T) {
	for key, want := range map[string]string{
		"module.image_feature_extractor.backbone.layer1.0.conv1.weight":         "backbone.layer1.0.conv1.weight",
		"image_feature_extractor.roi_head_feature_extractor.1.bn2.running_mean": "roi_head_feature_extractor.1.bn2.running_mean",
		"module.image_feature_extractor.head.0.2.conv3.weight":                  "roi_head_feature_extractor.2.conv3.weight",
		"conv1.weight":                                      "backbone.conv1.weight",
		"layer3.5.downsample.1.bias":                        "backbone.layer3.5.downsample.1.bias",
		"layer4.0.downsample.0.weight":                      "roi_head_feature_extractor.0.downsample.0.weight",
		"module.vlbert.encoder.layer.0.output.dense.weight": "",
		"fc.weight":                        "",
		"layer1.0.bn1.num_batches_tracked": "",
		"image_feature_extractor.obj_downsample.1.weight": "",
	} {
		got, ok := CanonicalKey(key)
		if got != want || ok != (want != "") {
			t.Errorf("CanonicalKey(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	n := NewNetwork(tinyConfig(1, 2))
	sd := map[string]Tensor{}
	for i, p := range n.Params.Params {
		data := make([]float32, len(p.Data))
		for j := range data {
			data[j] = float32(i)
		}
		sd["module.image_feature_extractor."+p.Name] = Tensor{Shape: p.Shape, F32: data}
	}
	delete(sd, "module.image_feature_extractor.backbone.bn1.bias")
	missing, err := n.LoadStateDict(sd)
	if err != nil || !slices.Equal(missing, []string{"backbone.bn1.bias"}) {
		t.Fatalf("missing %v, err %v", missing, err)
	}
	if v := n.Params.Get("backbone.layer1.0.conv2.weight").Data[0]; v == 0 {
		t.Fatal("weight not loaded")
	}
	sd["conv1.weight"] = Tensor{Shape: []int{1, 2}, F32: []float32{1, 2}}
	if _, err := n.LoadStateDict(sd); err == nil {
		t.Fatal("shape mismatch not reported")
	}
}

func TestNetworkInferenceModeMatchesTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	n := NewNetwork(tinyConfig(1, 2))
	randomizeParams(rng, n.Params)
	img := randSlice(rng, 2*3*40*36, 1)
	rois := []float32{0, 1, 2, 30, 30, 1, 5, 5, 20, 25, 1, 0, 0, 35, 39}
	masks := make([]float32, 3*196)
	for i := range masks {
		masks[i] = float32(i % 2)
	}
	want := slices.Clone(n.Forward(img, 2, 40, 36, rois, 3, masks))
	n.SetInference(true)
	for i := 0; i < 2; i++ { // twice: buffers are reused
		if got := n.Forward(img, 2, 40, 36, rois, 3, masks); maxAbsDiff32(got, want) != 0 {
			t.Fatal("inference mode differs from training mode")
		}
	}
	feat, FH, FW := n.Backbone(img, 2, 40, 36)
	featCopy := slices.Clone(feat)
	n.ForwardFromFeatures(feat, 2, FH, FW, rois, 3, nil)
	if maxAbsDiff32(feat, featCopy) != 0 {
		t.Fatal("head overwrote the body4 map in inference mode")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Backward in inference mode did not panic")
		}
	}()
	n.Params.AllocGrads()
	n.Backward(make([]float32, 3*n.Cfg.FeatureDim()))
}

func TestNetworkNoRoIs(t *testing.T) {
	n := NewNetwork(tinyConfig(1, 2))
	randomizeParams(rand.New(rand.NewPCG(47, 48)), n.Params)
	n.Params.AllocGrads()
	feats := n.Forward(make([]float32, 3*32*32), 1, 32, 32, nil, 0, nil)
	if len(feats) != 0 {
		t.Fatalf("%d features for no RoIs", len(feats))
	}
	n.Backward(nil)
	for _, g := range n.Params.Grad {
		if g != 0 {
			t.Fatal("gradient without RoIs")
		}
	}
}
