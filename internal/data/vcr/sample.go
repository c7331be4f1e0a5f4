package vcr

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

// Task is the VCR sub-task a model is trained for.
type Task int

const (
	// Q2A: the query is the question, the choices are the 4 answers.
	Q2A Task = iota
	// QA2R: the query is the question followed by an answer, the choices are the 4
	// rationales. Training and validation condition on the correct answer; test mode
	// yields one query per answer candidate.
	QA2R
)

func (t Task) String() string {
	switch t {
	case Q2A:
		return "Q2A"
	case QA2R:
		return "QA2R"
	}
	return fmt.Sprintf("Task(%d)", int(t))
}

// NamePolicy selects how "person" detections get their gender-neutral names.
type NamePolicy int

const (
	// NamesGlobalCounter reproduces the original: one counter per Builder, advanced for
	// every person detection of every sample built and never reset, so names depend on
	// the order (and, with several workers, the partition) in which samples are built.
	NamesGlobalCounter NamePolicy = iota
	// NamesPerSample restarts the cycle at "Casey" for each sample, making a sample a
	// pure function of its annotation (the original's commented-out reset).
	NamesPerSample
)

// Options configure sample construction; DefaultOptions gives the shipped VCR configs.
type Options struct {
	Task          Task
	SeqLen        int  // truncation budget for query+choice wordpieces, [CLS]/[SEP] not counted (64)
	AddImageAsBox bool // prepend the whole-image box as box 0 (true in every config)
	MaskSize      int  // side of the box-relative instance masks (14)
	Names         NamePolicy
	Polygon       PolygonRule
	TestMode      bool // no labels; QA2R then yields 4 queries and skips truncation, as the original
	// Categories names the object classes, index 0 the background (the whole-image
	// box); an annotation's objects must be among them. Nil means the 81 COCO
	// Categories of the original; a data set with its own classes lists them in a
	// categories file (ReadCategories).
	Categories []string
}

// DefaultOptions returns the options of the shipped VCR configs for task.
func DefaultOptions(task Task) Options {
	return Options{Task: task, SeqLen: 64, AddImageAsBox: true, MaskSize: 14}
}

// Text is a tokenized query or choice: parallel per-wordpiece arrays, no [CLS]/[SEP].
type Text struct {
	Tokens []string
	IDs    []int64
	// Tags is the grounding tag of each wordpiece: the box whose feature it uses. With
	// AddImageAsBox a wordpiece naming detection i has tag i+1 and every other wordpiece
	// (including the "and" joining references) has tag 0, the whole image; without it,
	// tag i and -1.
	Tags []int64
	// AlignIDs numbers the original VCR tokens (and each inserted "and") that the
	// wordpieces came from, consecutively within the Text.
	AlignIDs []int64
}

// Len returns the number of wordpieces.
func (t *Text) Len() int { return len(t.IDs) }

func (t *Text) truncate(n int) {
	t.Tokens, t.IDs, t.Tags, t.AlignIDs = t.Tokens[:n], t.IDs[:n], t.Tags[:n], t.AlignIDs[:n]
}

func (t *Text) pop() { t.truncate(t.Len() - 1) }

// concat returns q followed by a; a's align ids continue after q's.
func concat(q, a Text) Text {
	off := int64(0)
	for _, id := range q.AlignIDs {
		off = max(off, id+1)
	}
	out := Text{
		Tokens:   append(append([]string{}, q.Tokens...), a.Tokens...),
		IDs:      append(append([]int64{}, q.IDs...), a.IDs...),
		Tags:     append(append([]int64{}, q.Tags...), a.Tags...),
		AlignIDs: append([]int64{}, q.AlignIDs...),
	}
	for _, id := range a.AlignIDs {
		out.AlignIDs = append(out.AlignIDs, id+off)
	}
	return out
}

// Sample is one VCR question ready for the transforms and collation. The model input for
// choice k is "[CLS] Queries[k or 0] [SEP] Choices[k] [SEP]".
type Sample struct {
	AnnotID string
	// Boxes is [NumBoxes, 6] rows of x1, y1, x2, y2, score, class in original image pixels,
	// before resizing, flipping and clamping. With AddImageAsBox, row 0 is the whole image
	// [0, 0, w−1, h−1, 1, 0] and detection i is row i+1.
	Boxes    []float32
	NumBoxes int
	// Masks is [NumBoxes, MaskSize, MaskSize]; the whole-image mask is all ones.
	Masks    []float32
	MaskSize int
	// Queries holds one query shared by every choice, or NumChoices queries (QA2R in
	// test mode: the question followed by each answer candidate).
	Queries []Text
	Choices []Text // NumChoices answers (Q2A) or rationales (QA2R)
	Label   int    // correct choice, -1 in test mode
}

// Builder builds samples. It is safe for concurrent use, but with NamesGlobalCounter the
// names then depend on the call order, exactly the original's nondeterminism.
type Builder struct {
	tok  *tokenizer.Tokenizer
	opts Options

	classes map[string]int // Options.Categories (or COCO's) by name

	mu           sync.Mutex
	personNameID int // next GenderNeutralNames index (NamesGlobalCounter)
}

// NewBuilder checks opts and returns a Builder tokenizing with tok.
func NewBuilder(tok *tokenizer.Tokenizer, opts Options) (*Builder, error) {
	switch {
	case tok == nil:
		return nil, errors.New("vcr: nil tokenizer")
	case opts.Task != Q2A && opts.Task != QA2R:
		return nil, fmt.Errorf("vcr: unsupported task %v", opts.Task)
	case opts.SeqLen < 2:
		return nil, fmt.Errorf("vcr: SeqLen %d < 2", opts.SeqLen)
	case opts.MaskSize < 1 || opts.MaskSize > 1024:
		return nil, fmt.Errorf("vcr: MaskSize %d outside [1, 1024]", opts.MaskSize)
	case opts.Names != NamesGlobalCounter && opts.Names != NamesPerSample:
		return nil, fmt.Errorf("vcr: unknown name policy %d", opts.Names)
	case opts.Polygon != PolygonCrossing && opts.Polygon != PolygonInclusive:
		return nil, fmt.Errorf("vcr: unknown polygon rule %d", opts.Polygon)
	}
	classes := categoryIndex
	if opts.Categories != nil {
		var err error
		if classes, err = indexCategories(opts.Categories); err != nil {
			return nil, err
		}
	}
	return &Builder{tok: tok, opts: opts, classes: classes}, nil
}

// Build turns an annotation and its image's metadata into a Sample. imageW and imageH are
// the decoded image's size (the original takes the whole-image box from it); when either
// is ≤ 0 the metadata's width and height are used instead.
func (b *Builder) Build(a *Annotation, m *Metadata, imageW, imageH int) (*Sample, error) {
	fail := func(format string, args ...any) (*Sample, error) {
		return nil, fmt.Errorf("vcr: annot_id %s: "+format, append([]any{a.AnnotID}, args...)...)
	}
	if len(m.Boxes) != len(a.Objects) || len(m.Segms) != len(a.Objects) {
		return fail("metadata has %d boxes and %d segms for %d objects", len(m.Boxes), len(m.Segms), len(a.Objects))
	}
	classes := make([]int, len(a.Objects))
	for i, o := range a.Objects {
		c, ok := b.classes[o]
		if !ok || c == 0 {
			return fail("object %d has unknown class %q (a data set with its own classes lists them in %s)", i, o, CategoriesFile)
		}
		classes[i] = c
	}
	if imageW <= 0 || imageH <= 0 {
		imageW, imageH = m.Width, m.Height
	}
	if b.opts.AddImageAsBox && (imageW <= 0 || imageH <= 0) {
		return fail("no image size for the whole-image box")
	}
	if !b.opts.TestMode && (a.AnswerLabel < 0 || a.AnswerLabel >= NumChoices ||
		(b.opts.Task == QA2R && (a.RationaleLabel < 0 || a.RationaleLabel >= NumChoices))) {
		return fail("missing label outside test mode")
	}

	// Boxes and masks first, so a bad polygon does not advance the name counter.
	s := &Sample{AnnotID: a.AnnotID, MaskSize: b.opts.MaskSize, Label: -1}
	ms := b.opts.MaskSize * b.opts.MaskSize
	s.NumBoxes = len(a.Objects)
	if b.opts.AddImageAsBox {
		s.NumBoxes++
	}
	s.Boxes = make([]float32, 0, 6*s.NumBoxes)
	s.Masks = make([]float32, s.NumBoxes*ms)
	masks := s.Masks
	if b.opts.AddImageAsBox {
		s.Boxes = append(s.Boxes, 0, 0, float32(imageW-1), float32(imageH-1), 1, 0)
		for i := range ms {
			masks[i] = 1
		}
		masks = masks[ms:]
	}
	for i, box := range m.Boxes {
		s.Boxes = append(s.Boxes, float32(box[0]), float32(box[1]), float32(box[2]), float32(box[3]), float32(box[4]), float32(classes[i]))
		if err := InstanceMask(masks[i*ms:(i+1)*ms], m.Segms[i], [4]float64{box[0], box[1], box[2], box[3]}, b.opts.MaskSize, b.opts.Polygon); err != nil {
			return fail("object %d: %v", i, err)
		}
	}

	names := b.objectNames(a.Objects)
	nonObjTag := int64(-1)
	if b.opts.AddImageAsBox {
		nonObjTag = 0
	}
	text := func(what string, toks []Token) (Text, error) {
		t, err := b.retokenize(toks, names, nonObjTag)
		if err != nil {
			return t, fmt.Errorf("vcr: annot_id %s: %s: %w", a.AnnotID, what, err)
		}
		return t, nil
	}
	q, err := text("question", a.Question)
	if err != nil {
		return nil, err
	}
	answers := make([]Text, NumChoices)
	for k := range answers {
		if answers[k], err = text(fmt.Sprintf("answer %d", k), a.AnswerChoices[k]); err != nil {
			return nil, err
		}
	}

	switch b.opts.Task {
	case Q2A:
		// The question is shared across answers, so its truncation accumulates.
		for k := range answers {
			for q.Len()+answers[k].Len() > b.opts.SeqLen {
				if answers[k].Len() > q.Len() {
					answers[k].pop()
				} else {
					q.pop()
				}
			}
		}
		s.Queries, s.Choices = []Text{q}, answers
		if !b.opts.TestMode {
			s.Label = a.AnswerLabel
		}
	case QA2R:
		rationales := make([]Text, NumChoices)
		for k := range rationales {
			if rationales[k], err = text(fmt.Sprintf("rationale %d", k), a.RationaleChoices[k]); err != nil {
				return nil, err
			}
		}
		s.Choices = rationales
		if b.opts.TestMode {
			// The original does not truncate QA2R in test mode.
			for k := range answers {
				s.Queries = append(s.Queries, concat(q, answers[k]))
			}
			break
		}
		ans := &answers[a.AnswerLabel]
		for k := range rationales {
			r := &rationales[k]
			for q.Len()+ans.Len()+r.Len() > b.opts.SeqLen {
				switch {
				case r.Len() > q.Len()+ans.Len():
					r.pop()
				case q.Len() > 1:
					q.pop()
				default:
					ans.pop() // non-empty: SeqLen ≥ 2 rules out q, a and r all being this short
				}
			}
		}
		s.Queries = []Text{concat(q, *ans)}
		s.Label = a.RationaleLabel
	}
	return s, nil
}

// objectNames maps each detection to the word that replaces it in the text.
func (b *Builder) objectNames(objects []string) []string {
	names := make([]string, len(objects))
	next := 0
	if b.opts.Names == NamesGlobalCounter {
		b.mu.Lock()
		defer b.mu.Unlock()
		next = b.personNameID
		defer func() { b.personNameID = next }()
	}
	for i, o := range objects {
		if o == "person" {
			names[i] = GenderNeutralNames[next]
			next = (next + 1) % len(GenderNeutralNames)
		} else {
			names[i] = o
		}
	}
	return names
}

// retokenize is the original retokenize_and_convert_to_ids_with_tag without basic_align:
// each VCR token is BERT-tokenized on its own; a reference [i, j, ...] becomes
// name_i "and" name_j ... with the names' wordpieces tagged i+1+nonObjTag.
func (b *Builder) retokenize(toks []Token, names []string, nonObjTag int64) (Text, error) {
	var t Text
	align := int64(0)
	add := func(pieces []string, tag int64) {
		for _, p := range pieces {
			t.Tokens = append(t.Tokens, p)
			t.Tags = append(t.Tags, tag)
			t.AlignIDs = append(t.AlignIDs, align)
		}
		align++
	}
	for _, tok := range toks {
		if tok.Objects == nil {
			add(b.tok.Tokenize(tok.Word), nonObjTag)
			continue
		}
		for j, o := range tok.Objects {
			if o < 0 || o >= len(names) {
				return t, fmt.Errorf("reference to detection %d of %d", o, len(names))
			}
			if j > 0 {
				add([]string{"and"}, nonObjTag)
			}
			add(b.tok.Tokenize(names[o]), int64(o)+nonObjTag+1)
		}
	}
	ids, err := b.tok.ConvertTokensToIDs(t.Tokens)
	if err != nil {
		return t, err
	}
	t.IDs = make([]int64, len(ids))
	for i, id := range ids {
		t.IDs[i] = int64(id)
	}
	return t, nil
}
