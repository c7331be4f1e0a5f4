package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// headParams returns "name[shape]" of every final_mlp parameter, in table order.
func headParams(m *Encoder) []string {
	var out []string
	for _, p := range m.Params.List {
		if strings.HasPrefix(p.Name, "final_mlp.") {
			out = append(out, fmt.Sprint(p.Name, p.Shape))
		}
	}
	return out
}

// TestClassifierParams states which final_mlp parameters each CLASSIFIER_TYPE
// registers in the original (the indices of its nn.Sequential: dropouts and the
// ReLU hold none), with their shapes: H = hidden_size 8, CH = CLASSIFIER_HIDDEN_SIZE
// 6, A = ANSWER_VOCAB_SIZE 5; VCR has one output.
func TestClassifierParams(t *testing.T) {
	for _, tc := range []struct {
		task       Task
		classifier string
		want       []string
	}{
		{TaskVQA, "mlm", []string{"final_mlp.0.dense.weight[8 8]", "final_mlp.0.dense.bias[8]", "final_mlp.0.LayerNorm.weight[8]", "final_mlp.0.LayerNorm.bias[8]", "final_mlp.2.weight[5 8]", "final_mlp.2.bias[5]"}},
		{TaskVQA, "1fc", []string{"final_mlp.1.weight[5 8]", "final_mlp.1.bias[5]"}},
		{TaskVQA, "2fc", []string{"final_mlp.1.weight[6 8]", "final_mlp.1.bias[6]", "final_mlp.4.weight[5 6]", "final_mlp.4.bias[5]"}},
		{TaskVCR, "1fc", []string{"final_mlp.1.weight[1 8]", "final_mlp.1.bias[1]"}},
		{TaskVCR, "2fc", []string{"final_mlp.1.weight[6 8]", "final_mlp.1.bias[6]", "final_mlp.4.weight[1 6]", "final_mlp.4.bias[1]"}},
	} {
		c := tinyConfig(tc.task)
		if tc.task == TaskVCR {
			c = tinyVCRConfig(true)
		}
		c.ClassifierType, c.ClassifierHid = tc.classifier, 6
		mod, err := New(c)
		if err != nil {
			t.Fatalf("%v %s: %v", tc.task, tc.classifier, err)
		}
		got := headParams(mod.Base())
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v %s: final_mlp params %v, want %v", tc.task, tc.classifier, got, tc.want)
		}
		// final_mlp comes last in VQA (registered after vlbert); its Linear
		// weights are Xavier-uniform: |w| <= sqrt(6/(fan_in+fan_out)).
		m := mod.Base()
		m.InitWeights(3)
		for _, p := range m.Params.List {
			if strings.HasPrefix(p.Name, "final_mlp.") && strings.HasSuffix(p.Name, ".weight") && len(p.Shape) == 2 {
				bound := math.Sqrt(6 / float64(p.Shape[0]+p.Shape[1]))
				for _, w := range m.Params.View(p.Name) {
					if math.Abs(float64(w)) > bound {
						t.Fatalf("%s: %g outside the Xavier bound %g", p.Name, w, bound)
					}
				}
			}
		}
	}
	// The original's VCR module has no "mlm" classifier; its VQA module no "3fc".
	for _, tc := range []struct {
		task       Task
		classifier string
	}{{TaskVCR, "mlm"}, {TaskVQA, "3fc"}} {
		c := tinyConfig(tc.task)
		c.ClassifierType = tc.classifier
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "Not support classifier type: "+tc.classifier) {
			t.Errorf("%v %s: err = %v, want the original's ValueError", tc.task, tc.classifier, err)
		}
	}
	// Only the mlm classifier takes BERT's cls.predictions.transform (init_weight).
	for _, ct := range []string{"1fc", "2fc"} {
		c := tinyConfig(TaskVQA)
		c.ClassifierType = ct
		if got := c.spec().bertHead(&c, "vlbert.mlm_head.predictions.transform.dense.weight"); got != "" {
			t.Errorf("VQA %s maps the BERT transform to %q", ct, got)
		}
	}
}

// TestGradCheckClassifiers checks VQA 1fc/2fc and VCR 2fc (softmax and sigmoid with
// a positive weight) by central differences, in eval mode and with dropout.
func TestGradCheckClassifiers(t *testing.T) {
	for _, ct := range []string{"1fc", "2fc"} {
		for _, train := range []bool{false, true} {
			c := tinyConfig(TaskVQA)
			c.ClassifierType, c.ClassifierHid = ct, 6
			m, err := NewVQA(c)
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(m, 1)
			m.Train, m.Seed, m.Step = train, 42, 3
			rng := rand.New(rand.NewPCG(2, 2))
			bt := &VQABatch{Boxes: randomBoxes(rng, []int{3, 2}, 4), LQ: 5,
				Question: []int32{7, 8, 9, 0, 0, 11, 0, 12, 0, 0}, Label: []float32{0, 0.3, 1, 0, 0, 0.6, 0, 0, 0.9, 0}}
			gradCheck(t, m, func() float64 {
				o, err := m.Forward(bt)
				if err != nil {
					t.Fatal(err)
				}
				return float64(o.Loss)
			}, func() { m.Backward(1) }, 5)
		}
	}
	for _, tc := range []struct {
		sigmoid bool
		posW    float32
	}{{false, 1}, {true, 1}, {true, 3}} {
		c := tinyVCRConfig(tc.sigmoid)
		c.ClassifierType, c.ClassifierHid, c.ClassifierPosW = "2fc", 6, tc.posW
		m, err := NewVCR(c)
		if err != nil {
			t.Fatal(err)
		}
		randomizeParams(m, 31)
		m.Train, m.Seed, m.Step = true, 8, 4
		bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
		gradCheck(t, m, func() float64 {
			o, err := m.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			return float64(o.Total)
		}, func() { m.Backward(1) }, 9)
	}
}

// TestVCRPositiveWeight states CLASSIFIER_SIGMOID_LOSS_POSITIVE_WEIGHT's effect: with
// the same logits, ans_loss is (pw+1)/(2pw)·mean(w·BCE), w = pw on the correct choice.
func TestVCRPositiveWeight(t *testing.T) {
	c := tinyVCRConfig(true)
	c.CNNRegLossTop = false
	m, err := NewVCR(c)
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 31)
	bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
	o, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	logits := slices.Clone(o.Logits)
	const pw = 4
	var pos, neg float64
	for r, z := range logits {
		y := 0.0
		if int(bt.AnsLabel[r/VCRChoices]) == r%VCRChoices {
			y = 1
		}
		l := math.Max(float64(z), 0) - float64(z)*y + math.Log1p(math.Exp(-math.Abs(float64(z))))
		if y == 1 {
			pos += l
		} else {
			neg += l
		}
	}
	n := float64(len(logits))
	m.Cfg.ClassifierPosW = pw
	o, err = m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	want := (pw + 1.0) / (2.0 * pw) * (pw*pos + neg) / n
	if math.Abs(float64(o.AnsLoss)-want) > 1e-5 || !slices.Equal(o.Logits, logits) {
		t.Errorf("ans_loss %g, want %g (logits unchanged: %v)", o.AnsLoss, want, slices.Equal(o.Logits, logits))
	}
}

// TestClassifierPretrained2fc: CLASSIFIER_PRETRAINED writes final_mlp's last Linear
// (final_mlp.4 for 2fc), which only has the word embeddings' width when
// CLASSIFIER_HIDDEN_SIZE equals hidden_size (otherwise the original fails).
func TestClassifierPretrained2fc(t *testing.T) {
	answers := [][]int{{5}, {6, 7}, {8}, {9}, {10}}
	c := tinyConfig(TaskVQA)
	c.ClassifierType, c.ClassifierHid = "2fc", 6
	m, _ := NewVQA(c)
	if err := m.InitClassifierFromAnswers(answers); err == nil || !strings.Contains(err.Error(), "CLASSIFIER_HIDDEN_SIZE") {
		t.Errorf("2fc with CLASSIFIER_HIDDEN_SIZE != hidden_size: err = %v", err)
	}
	c.ClassifierHid = c.HiddenSize
	m, _ = NewVQA(c)
	randomizeParams(m, 2)
	if err := m.InitClassifierFromAnswers(answers); err != nil {
		t.Fatal(err)
	}
	H := c.HiddenSize
	word, w := m.Params.View("vlbert.word_embeddings.weight"), m.Params.View("final_mlp.4.weight")
	for i := 0; i < H; i++ {
		if want := (word[6*H+i] + word[7*H+i]) / 2; w[H+i] != want {
			t.Fatalf("final_mlp.4.weight[1,%d] = %g, want %g", i, w[H+i], want)
		}
	}
}
