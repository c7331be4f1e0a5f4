package model

import (
	"math/rand/v2"
	"testing"
)

// FuzzForward feeds arbitrary ids, labels and box layouts to the VQA and pretraining
// forward and backward: bad data must give an error, never a panic.
func FuzzForward(f *testing.F) {
	f.Add([]byte{3, 2, 7, 8, 9, 0, 1, 0, 5}, uint64(1))
	f.Add([]byte{0, 0, 0}, uint64(2))
	f.Add([]byte{255, 1, 200, 100, 103, 0}, uint64(3))
	vqa, err := NewVQA(tinyConfig(TaskVQA))
	if err != nil {
		f.Fatal(err)
	}
	randomizeParams(vqa, 1)
	pt, err := NewPretrainMultitask(tinyConfig(TaskPretrainMultitask))
	if err != nil {
		f.Fatal(err)
	}
	randomizeParams(pt, 2)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		if len(data) < 3 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		B := 1 + int(data[0]%3)
		NB := int(data[1] % 5)
		counts := make([]int, B)
		for b := range counts {
			counts[b] = rng.IntN(NB + 1)
		}
		bx := randomBoxes(rng, counts, NB)
		rest := data[2:]
		L := 1 + len(rest)%9
		ids := make([]int32, B*L)
		for i := range ids {
			ids[i] = int32(int8(rest[i%len(rest)])) * 2 // some negative, some beyond the vocabulary
		}
		label := make([]float32, B*vqa.Cfg.AnswerVocabSize)
		if o, err := vqa.Forward(&VQABatch{Boxes: bx, LQ: L, Question: ids, Label: label}); err == nil {
			_ = o.Loss
			vqa.Backward(1)
		}
		mlm := make([]int32, B*L)
		for i := range mlm {
			mlm[i] = ids[i] % 5
		}
		R := pt.Cfg.RegionClasses
		bt := &PretrainBatch{Boxes: bx, LT: L, Text: ids, RelLabel: make([]int32, B), MLMLabels: mlm,
			MVRCOps: make([]int32, B*NB), MVRCLabels: make([]float32, B*NB*R),
			BA: 1, LA: L, AuxText: ids[:L], AuxMLMLabels: mlm[:L]}
		for i := range bt.MVRCOps {
			bt.MVRCOps[i] = int32(rng.IntN(2))
			bt.MVRCLabels[i*R] = 1
		}
		if _, err := pt.Forward(bt); err == nil {
			pt.Backward(1)
		}
	})
}
