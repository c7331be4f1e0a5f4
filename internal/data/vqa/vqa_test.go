package vqa

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/npy"
	"github.com/vlbert/vlbert/internal/tokenizer"
)

func TestNormalization(t *testing.T) {
	for in, want := range map[string]string{
		"yes.":                  "yes",
		"3.5":                   "3.5",
		"t-shirt":               "t shirt",
		"t - shirt":             "t  shirt",
		"1,000":                 "1000",
		"hello, world":          "hello world",
		"what?":                 "what ",
		"<unk>":                 " unk ",
		"a.b.c":                 "abc",
		"...":                   "",
		"..5":                   ".5",
		"mr. smith's hat!":      "mr smith's hat ",
		strings.Repeat(".", 40): strings.Repeat(".", 8), // at most 32 periods go (count=re.UNICODE)
	} {
		if got := ProcessPunctuation(in); got != want {
			t.Errorf("ProcessPunctuation(%q) = %q, want %q", in, got, want)
		}
	}
	if got := NormalizeVocabEntry("<unk>"); got != "<unk>" {
		t.Errorf("NormalizeVocabEntry(<unk>) = %q", got)
	}
	for in, want := range map[string]string{
		"The Two dogs":     "2 dogs",
		"none":             "0",
		"an  apple\tthere": "apple there",
		"dont know":        "don't know",
		"youll see":        "you'll see",
		"TEN":              "10",
		"a":                "",
		"whats\u001cthat":  "what's that", // Python splits on U+001C too
	} {
		if got := ProcessDigitArticle(in); got != want {
			t.Errorf("ProcessDigitArticle(%q) = %q, want %q", in, got, want)
		}
	}
}

func loadVocab(t *testing.T) *AnswerVocab {
	t.Helper()
	v, err := LoadAnswerVocab("testdata/answers_vqa.txt", true)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAnswerVocab(t *testing.T) {
	v := loadVocab(t)
	want := []string{"yes", "no", "2", "red", "left", "right", "t shirt", "<unk>", "yes"}
	if !slices.Equal(v.Answers, want) {
		t.Fatalf("answers %q, want %q", v.Answers, want)
	}
	if v.Index("yes") != 0 || v.Index("t-shirt") != 7 || v.Index("t shirt") != 6 || v.UNKIndex() != 7 || v.Len() != 9 {
		t.Errorf("indices: yes %d t-shirt %d unk %d", v.Index("yes"), v.Index("t-shirt"), v.UNKIndex())
	}
	raw, err := LoadAnswerVocab("testdata/answers_vqa.txt", false)
	if err != nil || raw.Answers[6] != "t-shirt" {
		t.Errorf("unnormalised vocab: %v %v", raw, err)
	}
	if _, err := ParseAnswerVocab([]byte("yes\nno\n"), true); err == nil || !strings.Contains(err.Error(), "<unk>") {
		t.Errorf("missing <unk>: %v", err)
	}
	if _, err := LoadAnswerVocab("testdata/nope.txt", true); err == nil || !strings.Contains(err.Error(), "nope.txt") {
		t.Errorf("missing file: %v", err)
	}
	// A lone \r ends a line too (Python universal newlines).
	cr, err := ParseAnswerVocab([]byte("a\rb\r<unk>"), false)
	if err != nil || !slices.Equal(cr.Answers, []string{"a", "b", "<unk>"}) {
		t.Errorf("\\r lines: %v %v", cr, err)
	}
}

// TestSoftTargetIsVQAAccuracy: on hand-made answer sets, the soft target of each
// in-vocabulary answer equals the official VQA accuracy of predicting it, and the
// familiar values 0.3/0.6/0.9/1 for 1/2/3/≥4 matching humans come out.
func TestSoftTargetIsVQAAccuracy(t *testing.T) {
	v := loadVocab(t)
	cases := []struct {
		answers []string
		want    map[string]float32
	}{
		{slices.Repeat([]string{"yes"}, 10), map[string]float32{"yes": 1}},
		{append(slices.Repeat([]string{"yes"}, 7), "left", "left", "no"), map[string]float32{"yes": 1, "left": 0.6, "no": 0.3}},
		{append(slices.Repeat([]string{"2"}, 3), slices.Repeat([]string{"red"}, 7)...), map[string]float32{"2": 0.9, "red": 1}},
		// Out-of-vocabulary answers ("blue") only dilute; <unk> gets no target.
		{[]string{"blue", "blue", "blue", "blue", "green", "red", "red", "no", "no", "yes"}, map[string]float32{"red": 0.6, "no": 0.6, "yes": 0.3}},
		// Fewer than 10 answers: the mean is over the answers given.
		{[]string{"yes", "yes", "no"}, map[string]float32{"yes": float32(2.0/3*0 + (1.0/3+1.0/3+2.0/3)/3), "no": float32(2.0 / 3 / 3)}},
	}
	dst := make([]float32, v.Len())
	for ci, c := range cases {
		v.SoftTarget(dst, c.answers)
		for a, idx := range v.index {
			got := dst[idx]
			if idx == v.UNKIndex() {
				if got != 0 {
					t.Errorf("case %d: <unk> target %v", ci, got)
				}
				continue
			}
			if want, ok := c.want[a]; ok {
				if math.Abs(float64(got-want)) > 1e-6 {
					t.Errorf("case %d: target[%q] = %v, want %v", ci, a, got, want)
				}
			} else if got != 0 {
				t.Errorf("case %d: target[%q] = %v, want 0", ci, a, got)
			}
			// The same number from the official accuracy function.
			if acc := Accuracy(a, c.answers); math.Abs(acc-float64(got)) > 1e-6 {
				t.Errorf("case %d: target[%q] = %v but VQA accuracy %v", ci, a, got, acc)
			}
		}
	}
}

// TestSoftTargetUnnormalizedAnswers documents §7.2.10: "Red" is not lower-cased
// before the vocabulary lookup, so its target is lower than the official metric
// (which normalises the answers) gives; FixAnswers does not lower-case either.
func TestSoftTargetUnnormalizedAnswers(t *testing.T) {
	v := loadVocab(t)
	answers := []string{"blue", "blue", "blue", "blue", "Red", "red", "red", "no", "no", "yes"}
	dst := make([]float32, v.Len())
	v.SoftTarget(dst, answers)
	if dst[v.Index("red")] != 0.6 || Accuracy("red", answers) != 0.9 {
		t.Errorf("target %v, accuracy %v", dst[v.Index("red")], Accuracy("red", answers))
	}
}

func TestParseQuestionsErrors(t *testing.T) {
	q := []byte(`{"questions":[{"image_id":1,"question":"a?","question_id":10},{"image_id":2,"question":"b?","question_id":20}]}`)
	a := []byte(`{"annotations":[{"image_id":1,"question_id":10,"answers":[{"answer":"x"}]},{"image_id":2,"question_id":21,"answers":[{"answer":"y"}]}]}`)
	_, err := ParseQuestions("q.json", q, "a.json", a)
	if err == nil || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "21") {
		t.Errorf("id mismatch: %v", err)
	}
	short := []byte(`{"annotations":[{"image_id":1,"question_id":10,"answers":[{"answer":"x"}]}]}`)
	if _, err := ParseQuestions("q.json", q, "a.json", short); err == nil || !strings.Contains(err.Error(), "1 annotations") {
		t.Errorf("length mismatch: %v", err)
	}
	if _, err := ParseQuestions("q.json", q[:20], "a.json", a); err == nil || !strings.Contains(err.Error(), "q.json") {
		t.Errorf("bad json: %v", err)
	}
	if _, err := ParseQuestions("q.json", []byte(`{}`), "", nil); err == nil {
		t.Error("missing questions list accepted")
	}
	es, err := ParseQuestions("q.json", q, "", nil)
	if err != nil || len(es) != 2 || es[0].Answers != nil {
		t.Errorf("test mode: %v %v", es, err)
	}
}

func testDataset(t *testing.T, tok Tokenizer, flip float64) *Dataset {
	t.Helper()
	entries, err := LoadQuestions("testdata/questions.json", "testdata/annotations.json")
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := LoadCOCOImageSizes("testdata/instances_val2014.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		s := sizes[entries[i].ImageID]
		entries[i].Width, entries[i].Height = s.Width, s.Height
	}
	return &Dataset{
		Entries: entries, Vocab: loadVocab(t), Tok: tok, FS: zipfs.New(),
		BoxFile:     func(e *Entry) string { return "../features/testdata/" + strconv.FormatInt(e.ImageID, 10) + ".json" },
		Precomputed: true, AddImageBox: true, LeftRight: true,
		Transform: data.BoxTransform{MinSize: 600, MaxSize: 1000, FlipProb: flip},
	}
}

func TestDatasetExample(t *testing.T) {
	tok := tokenizer.Default(true)
	d := testDataset(t, tok, 0)
	ex, err := d.Example(1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// Image 42 is 500x375 with 3 boxes: resized to 800x600 (scale 1.6).
	if ex.NumBoxes != 4 || ex.BoxDim != 4+2048 || ex.ImInfo != [4]float32{800, 600, 1.6, 1.6} || ex.Flipped {
		t.Fatalf("example header %+v", ex.ImInfo)
	}
	if !slices.Equal(ex.Boxes[:4], []float32{0, 0, 499 * 1.6, 374 * 1.6}) {
		t.Errorf("image box %v", ex.Boxes[:4])
	}
	// Row 0 feature is the mean of the three box features.
	D := ex.BoxDim
	for k := 4; k < D; k += 97 {
		m := (float64(ex.Boxes[D+k]) + float64(ex.Boxes[2*D+k]) + float64(ex.Boxes[3*D+k])) / 3
		if math.Abs(m-float64(ex.Boxes[k])) > 1e-6 {
			t.Fatalf("image-box feature %d = %v, mean %v", k, ex.Boxes[k], m)
		}
	}
	want := tok.Tokenize("Is the dog on the left?")
	ids, _ := tok.ConvertTokensToIDs(want)
	if len(ex.Question) != len(ids) || ex.Question[len(ids)-2] != int64(ids[len(ids)-2]) {
		t.Errorf("question %v want %v", ex.Question, ids)
	}
	v := d.Vocab
	if ex.Label[v.Index("left")] != 0.6 || ex.Label[v.Index("yes")] != 1 || ex.Label[v.Index("right")] != 0 {
		t.Errorf("label %v", ex.Label)
	}

	// Flipped: "left" becomes "right" in the question and the answers.
	df := testDataset(t, tok, 1)
	exf, err := df.Example(1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	rightID, _ := tok.ID("right")
	if !exf.Flipped || exf.Question[len(ids)-2] != int64(rightID) {
		t.Errorf("flipped question %v", exf.Question)
	}
	if exf.Label[v.Index("right")] != 0.6 || exf.Label[v.Index("left")] != 0 {
		t.Errorf("flipped label %v", exf.Label)
	}
	// Collation of all three.
	var exs []*data.VQAExample
	for i := range d.Len() {
		e, err := d.Example(i, rand.New(rand.NewPCG(2, uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		exs = append(exs, e)
	}
	b, err := data.CollateVQA(exs)
	if err != nil || b.R != 5 || b.A != 9 || !slices.Equal(b.QuestionIDs, []int64{90, 420, 421}) {
		t.Errorf("batch %+v %v", b, err)
	}
}

// TestGoldenQuestionIDs: the dataset's question ids with the small golden
// vocabulary equal vqa_in_question (the original's BertTokenizer output).
func TestGoldenQuestionIDs(t *testing.T) {
	f, err := os.Open("../../../testdata/golden/vocab_model.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.New(f, true)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := npy.ReadFile("../../../testdata/golden/vqa_in_question.npy")
	if err != nil {
		t.Fatal(err)
	}
	d := testDataset(t, tok, 0)
	d.Entries[1].Question = "How many dogs are there?"
	L := golden.Shape[1]
	for b, i := range []int{0, 1} {
		ex, err := d.Example(i, rand.New(rand.NewPCG(0, 0)))
		if err != nil {
			t.Fatal(err)
		}
		row := golden.I64[b*L : (b+1)*L]
		n := len(ex.Question)
		if !slices.Equal(ex.Question, row[:n]) || slices.ContainsFunc(row[n:], func(x int64) bool { return x != 0 }) {
			t.Errorf("question %d ids %v, golden %v", b, ex.Question, row)
		}
	}
}

func TestDatasetErrors(t *testing.T) {
	d := testDataset(t, tokenizer.Default(true), 0)
	d.BoxFile = func(e *Entry) string { return "testdata/missing.json" }
	_, err := d.Example(0, rand.New(rand.NewPCG(0, 0)))
	if err == nil || !strings.Contains(err.Error(), "missing.json") || !strings.Contains(err.Error(), "question 90") {
		t.Errorf("missing feature file: %v", err)
	}
	if _, err := d.Example(7, nil); err == nil {
		t.Error("out-of-range index accepted")
	}
}

func TestCatalog(t *testing.T) {
	c := Catalog{DataPath: "data/coco", Boxes: "10-100ada", ZipMode: true}
	p, _ := c.BoxFile("val2014", 42)
	if p != "data/coco/vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome.zip@/trainval2014_resnet101_faster_rcnn_genome/42.json" {
		t.Errorf("zip box file %s", p)
	}
	c.ZipMode = false
	p, _ = c.ImageFile("minival2014", 42)
	if p != "data/coco/val2014/COCO_val2014_000000000042.jpg" {
		t.Errorf("image file %s", p)
	}
	if _, err := c.BoxFile("nope", 1); err == nil {
		t.Error("unknown set accepted")
	}
}

func FuzzParseQuestions(f *testing.F) {
	q, _ := os.ReadFile("testdata/questions.json")
	a, _ := os.ReadFile("testdata/annotations.json")
	f.Add(q, a)
	f.Add([]byte(`{"questions":[]}`), []byte(`{"annotations":[]}`))
	f.Fuzz(func(t *testing.T, q, a []byte) {
		es, err := ParseQuestions("q", q, "a", a)
		if err == nil {
			for _, e := range es {
				if len(e.Answers) == 0 {
					t.Fatal("entry without answers accepted")
				}
			}
		}
	})
}

func FuzzAnswers(f *testing.F) {
	b, _ := os.ReadFile("testdata/answers_vqa.txt")
	f.Add(b, "yes")
	f.Add([]byte("<unk>\r"), "a.b")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		v, err := ParseAnswerVocab(b, true)
		_ = ProcessDigitArticle(ProcessPunctuation(s))
		if err != nil {
			return
		}
		dst := make([]float32, v.Len())
		v.SoftTarget(dst, []string{s, s, "yes"})
		for _, x := range dst {
			if x < 0 || x > 1 {
				t.Fatalf("target %v outside [0,1]", x)
			}
		}
	})
}

// TestDatasetFeatureDimMismatch reads the 2048-d fixture for a model configured
// with 256-d features (NETWORK.IMAGE_FEAT_DIM): the error names the file, the
// record's width and the key.
func TestDatasetFeatureDimMismatch(t *testing.T) {
	d := testDataset(t, tokenizer.Default(true), 0)
	d.FeatureDim = 256
	_, err := d.Example(1, rand.New(rand.NewPCG(1, 1)))
	if err == nil {
		t.Fatal("2048-d record accepted for a 256-d model")
	}
	for _, s := range []string{"42.json", "2048-d", "256", "NETWORK.IMAGE_FEAT_DIM"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	d.FeatureDim = 2048
	if _, err := d.Example(1, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Error(err)
	}
}
