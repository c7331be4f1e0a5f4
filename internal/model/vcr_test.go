package model

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func tinyVCRConfig(sigmoid bool) Config {
	c := tinyConfig(TaskVCR)
	c.WithPooler, c.WithRelLoss = true, false
	c.ClassifierSigmoid, c.CNNRegLossTop = sigmoid, true
	c.AnsLossWeight, c.CNNLossWeight, c.CNNRegDropout = 1, 0.7, 0.1
	return c
}

// vcrBoxes converts a randomBoxes batch to VCR padding (-1 rows).
func vcrBatch(rng *rand.Rand) *VCRBatch {
	bx := randomBoxes(rng, []int{3, 4}, 5)
	for i := 0; i < len(bx.Data); i += boxStride {
		if bx.Data[i] == -2 {
			for k := 0; k < boxStride; k++ {
				bx.Data[i+k] = -1
			}
		}
	}
	B, LQ, LA := 2, 4, 3
	bt := &VCRBatch{Boxes: bx, LQ: LQ, LA: LA,
		Question: []int32{7, 8, 9, 0, 10, 11, 0, 0},
		QTags:    []int32{-1, 1, -1, -1, 2, -1, 0, 0},
		Answers:  make([]int32, B*4*LA), ATags: make([]int32, B*4*LA),
		Classes:  []int32{0, 5, 9, -1, -1, 0, 3, 3, 7, -1},
		AnsLabel: []int32{2, 0}}
	for i := range bt.Answers {
		if i%LA < 1+(i/LA)%3 {
			bt.Answers[i] = int32(20 + rng.IntN(90))
			bt.ATags[i] = int32(rng.IntN(4)) - 1
		}
	}
	return bt
}

func TestGradCheckVCR(t *testing.T) {
	for _, sigmoid := range []bool{true, false} {
		for _, train := range []bool{false, true} {
			m, err := NewVCR(tinyVCRConfig(sigmoid))
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(m, 31)
			m.Train, m.Seed, m.Step = train, 8, 4
			bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
			gradCheck(t, m, func() float64 {
				o, err := m.Forward(bt)
				if err != nil {
					t.Fatal(err)
				}
				if o.CNNLoss == 0 {
					t.Fatal("CNN regularisation loss is 0")
				}
				return float64(o.Total)
			}, func() { m.Backward(1) }, 9)
		}
	}
}

func TestVCRText(t *testing.T) {
	m, err := NewVCR(tinyVCRConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	randomizeParams(m, 1)
	bt := vcrBatch(rand.New(rand.NewPCG(7, 7)))
	o, err := m.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	// Sample 0 choice 0: [CLS] 7 8 9 [SEP] a... [SEP]; question tags -1→0, 1, -1→0.
	r := 0
	ids := m.c.in.TextIDs[r*o.Lt : (r+1)*o.Lt]
	na := 0
	for _, id := range bt.Answers[:bt.LA] {
		if id > 0 {
			na++
		}
	}
	want := []int32{ClsID, 7, 8, 9, SepID}
	want = append(want, bt.Answers[:na]...)
	want = append(want, SepID)
	if !slices.Equal(ids[:len(want)], want) {
		t.Errorf("text %v, want prefix %v", ids, want)
	}
	types := m.c.in.TextTypes[r*o.Lt : (r+1)*o.Lt]
	for j := range want {
		if w := int32(0); j > 4 {
			w = 1
			if types[j] != w {
				t.Errorf("type[%d] = %d, want %d", j, types[j], w)
			}
		} else if types[j] != w {
			t.Errorf("type[%d] = %d, want %d", j, types[j], w)
		}
	}
	if got := m.st.tags[:4]; !slices.Equal(got, []int32{0, 0, 1, 0}) {
		t.Errorf("tags %v, want [0 0 1 0]", got)
	}
	if len(o.Logits) != 8 || m.Params.List[len(m.Params.List)-1].Name != "final_mlp.1.bias" {
		t.Errorf("logits %d, last param %s", len(o.Logits), m.Params.List[len(m.Params.List)-1].Name)
	}
	if _, ok := m.Params.Lookup("vlbert._module.encoder.layer.0.attention.self.query.weight"); !ok {
		t.Error("VCR core keys lack the TimeDistributed vlbert._module. prefix")
	}
	bad := vcrBatch(rand.New(rand.NewPCG(7, 7)))
	bad.QTags[1] = 9
	if _, err := m.Forward(bad); err == nil || !strings.Contains(err.Error(), "grounding tag") {
		t.Errorf("bad tag: err = %v", err)
	}
}
