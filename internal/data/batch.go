package data

// VQABatch is a collated VQA batch, matching the golden vqa_in_* arrays.
// B examples, R = max boxes, Q = max question length, A = answers.
type VQABatch struct {
	B, R, BoxDim, Q, A int

	Boxes    []float32 // [B, R, BoxDim], padding rows all -2 (valid: Boxes[b,r,0] > -1.5)
	ImInfo   []float32 // [B, 4]
	Question []int64   // [B, Q], 0-padded, no [CLS]/[SEP]
	Label    []float32 // [B, A] soft targets; nil when the examples have none (test)

	QuestionIDs []int64 // [B]
	Indices     []int   // [B] dataset indices
	Flipped     []bool  // [B]
}

// PretrainBatch is a collated image-caption batch, matching the golden pt_in_*
// arrays. T = max text length, C = region classes, I = im_info width (4 or 5).
type PretrainBatch struct {
	B, R, BoxDim, T, C, I int

	Boxes             []float32 // [B, R, BoxDim], padding rows all -2
	ImInfo            []float32 // [B, I]
	Text              []int64   // [B, T], 0-padded
	MLMLabels         []int64   // [B, T], -1-padded
	RelationshipLabel []int64   // [B]
	MVRCOps           []int64   // [B, R], 0-padded
	MVRCLabels        []float32 // [B, R, C], zero rows as padding

	Indices    []int    // [B]
	ImagePaths []string // [B], empty in precomputed mode
	Flipped    []bool   // [B]
}

// TextBatch is a collated text-only batch (the aux rows of multitask pretraining).
type TextBatch struct {
	B, T      int
	Text      []int64 // [B, T], 0-padded
	MLMLabels []int64 // [B, T], -1-padded
	Indices   []int
}
