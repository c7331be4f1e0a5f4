package data

import "fmt"

// Padding values of the original BatchCollator.
const (
	BoxPad      = -2 // boxes rows (VCR uses -1; validity is boxes[...,0] > -1.5)
	TextPad     = 0
	MLMLabelPad = -1
	MVRCOpPad   = 0
)

// CollateVQA pads and stacks VQA examples (vqa/data/collate_batch.py, BatchCollator). All
// examples must share BoxDim and, if labelled, the answer count; a mix of
// labelled and unlabelled examples is an error.
func CollateVQA(exs []*VQAExample) (*VQABatch, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("data: CollateVQA: empty batch")
	}
	b := &VQABatch{B: len(exs), BoxDim: exs[0].BoxDim}
	labelled := exs[0].Label != nil
	if labelled {
		b.A = len(exs[0].Label)
	}
	for i, e := range exs {
		if err := checkBoxes(e.Boxes, e.NumBoxes, e.BoxDim, b.BoxDim); err != nil {
			return nil, fmt.Errorf("data: CollateVQA: example %d (index %d): %w", i, e.Index, err)
		}
		if (e.Label != nil) != labelled || len(e.Label) != b.A {
			return nil, fmt.Errorf("data: CollateVQA: example %d (index %d) has %d answers, example 0 has %d", i, e.Index, len(e.Label), b.A)
		}
		b.R = max(b.R, e.NumBoxes)
		b.Q = max(b.Q, len(e.Question))
	}
	b.Boxes = padRows(b.B, b.R, b.BoxDim, BoxPad)
	b.ImInfo = make([]float32, 4*b.B)
	b.Question = make([]int64, b.B*b.Q)
	if labelled {
		b.Label = make([]float32, b.B*b.A)
	}
	for i, e := range exs {
		copy(b.Boxes[i*b.R*b.BoxDim:], e.Boxes[:e.NumBoxes*e.BoxDim])
		copy(b.ImInfo[4*i:], e.ImInfo[:])
		copy(b.Question[i*b.Q:], e.Question) // TextPad is 0, the zero value
		if labelled {
			copy(b.Label[i*b.A:], e.Label)
		}
		b.QuestionIDs = append(b.QuestionIDs, e.QuestionID)
		b.Indices = append(b.Indices, e.Index)
		b.Flipped = append(b.Flipped, e.Flipped)
	}
	return b, nil
}

// CollatePretrain pads and stacks image-caption examples (pretrain collate_batch).
func CollatePretrain(exs []*PretrainExample) (*PretrainBatch, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("data: CollatePretrain: empty batch")
	}
	b := &PretrainBatch{B: len(exs), BoxDim: exs[0].BoxDim, C: exs[0].NumClasses, I: len(exs[0].ImInfo)}
	for i, e := range exs {
		if err := checkBoxes(e.Boxes, e.NumBoxes, e.BoxDim, b.BoxDim); err != nil {
			return nil, fmt.Errorf("data: CollatePretrain: example %d (index %d): %w", i, e.Index, err)
		}
		switch {
		case len(e.MLMLabels) != len(e.Text):
			return nil, fmt.Errorf("data: CollatePretrain: example %d: %d MLM labels for %d tokens", i, len(e.MLMLabels), len(e.Text))
		case len(e.MVRCOps) != e.NumBoxes || len(e.MVRCLabels) != e.NumBoxes*e.NumClasses || e.NumClasses != b.C:
			return nil, fmt.Errorf("data: CollatePretrain: example %d: MVRC sizes (%d ops, %d labels of %d classes) do not match %d boxes", i, len(e.MVRCOps), len(e.MVRCLabels), e.NumClasses, e.NumBoxes)
		case len(e.ImInfo) != b.I:
			return nil, fmt.Errorf("data: CollatePretrain: example %d: im_info has %d values, example 0 has %d", i, len(e.ImInfo), b.I)
		}
		b.R = max(b.R, e.NumBoxes)
		b.T = max(b.T, len(e.Text))
	}
	b.Boxes = padRows(b.B, b.R, b.BoxDim, BoxPad)
	b.ImInfo = make([]float32, b.B*b.I)
	b.Text = make([]int64, b.B*b.T)
	b.MLMLabels = make([]int64, b.B*b.T)
	for i := range b.MLMLabels {
		b.MLMLabels[i] = MLMLabelPad
	}
	b.MVRCOps = make([]int64, b.B*b.R)
	b.MVRCLabels = make([]float32, b.B*b.R*b.C)
	for i, e := range exs {
		copy(b.Boxes[i*b.R*b.BoxDim:], e.Boxes[:e.NumBoxes*e.BoxDim])
		copy(b.ImInfo[i*b.I:], e.ImInfo)
		copy(b.Text[i*b.T:], e.Text)
		copy(b.MLMLabels[i*b.T:], e.MLMLabels)
		copy(b.MVRCOps[i*b.R:], e.MVRCOps)
		copy(b.MVRCLabels[i*b.R*b.C:], e.MVRCLabels)
		b.RelationshipLabel = append(b.RelationshipLabel, e.RelationshipLabel)
		b.Indices = append(b.Indices, e.Index)
		b.ImagePaths = append(b.ImagePaths, e.ImagePath)
		b.Flipped = append(b.Flipped, e.Flipped)
	}
	return b, nil
}

// CollateText pads and stacks text-only examples.
func CollateText(exs []*TextExample) (*TextBatch, error) {
	if len(exs) == 0 {
		return nil, fmt.Errorf("data: CollateText: empty batch")
	}
	b := &TextBatch{B: len(exs)}
	for i, e := range exs {
		if len(e.MLMLabels) != len(e.Text) {
			return nil, fmt.Errorf("data: CollateText: example %d: %d MLM labels for %d tokens", i, len(e.MLMLabels), len(e.Text))
		}
		b.T = max(b.T, len(e.Text))
	}
	b.Text = make([]int64, b.B*b.T)
	b.MLMLabels = make([]int64, b.B*b.T)
	for i := range b.MLMLabels {
		b.MLMLabels[i] = MLMLabelPad
	}
	for i, e := range exs {
		copy(b.Text[i*b.T:], e.Text)
		copy(b.MLMLabels[i*b.T:], e.MLMLabels)
		b.Indices = append(b.Indices, e.Index)
	}
	return b, nil
}

func checkBoxes(boxes []float32, n, dim, wantDim int) error {
	switch {
	case dim != wantDim:
		return fmt.Errorf("box width %d, example 0 has %d", dim, wantDim)
	case n < 1:
		return fmt.Errorf("no boxes (the original asserts at least one valid box)")
	case len(boxes) < n*dim:
		return fmt.Errorf("%d box values for %d boxes of width %d", len(boxes), n, dim)
	}
	return nil
}

func padRows(b, r, dim int, pad float32) []float32 {
	dst := make([]float32, b*r*dim)
	for i := range dst {
		dst[i] = pad
	}
	return dst
}
