package data

// VQAExample is one VQA question with its image's regions (vqa/data/datasets/vqa.py, VQA.__getitem__).
type VQAExample struct {
	Index      int   // position in the dataset (the original maps results back by it)
	QuestionID int64 // VQA question_id
	ImageID    int64

	// Boxes is [NumBoxes, BoxDim]: 4 resized, clamped coordinates and then, in
	// precomputed mode, the region feature. Row 0 is the whole-image box.
	Boxes            []float32
	NumBoxes, BoxDim int
	ImInfo           [4]float32 // resized w, h, scale x, scale y
	Flipped          bool
	ImagePath        string // end-to-end mode: the image to load; empty for precomputed

	// Question holds wordpiece ids of the question alone, no [CLS]/[SEP]: the
	// model builds "[CLS] q [SEP] [MASK] [SEP]" (as the golden vqa_in_question).
	Question []int64
	// Label is the soft answer target [NumAnswers]; nil in test mode.
	Label []float32
}

// PretrainExample is one Conceptual Captions image-caption pair with its MLM and
// MVRC targets (pretrain/data/datasets/conceptual_captions.py, __getitem__).
type PretrainExample struct {
	Index int

	// Boxes is [NumBoxes, BoxDim] as in VQAExample; row 0 is the whole image.
	Boxes            []float32
	NumBoxes, BoxDim int
	// ImInfo is [w, h, sx, sy] or, when the dataset appends the index as the
	// original multitask pretraining does, [w, h, sx, sy, index].
	ImInfo    []float32
	Flipped   bool
	ImagePath string // end-to-end mode: the image to load (masked boxes are zeroed after normalisation)

	Text              []int64 // [CLS] caption wordpieces [SEP], masked
	MLMLabels         []int64 // same length as Text; -1 = not predicted
	RelationshipLabel int64   // 1 = matching caption

	MVRCOps    []int64   // [NumBoxes]; 1 = region feature replaced by the mask embedding
	MVRCLabels []float32 // [NumBoxes, NumClasses]; class scores of selected boxes, zero rows elsewhere
	NumClasses int
}

// TextExample is one text-only corpus sequence (pretrain/data/datasets/general_corpus.py):
// wordpiece ids with no [CLS]/[SEP], at most 64 long.
type TextExample struct {
	Index     int
	Text      []int64
	MLMLabels []int64
}
