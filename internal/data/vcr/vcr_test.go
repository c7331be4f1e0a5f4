package vcr

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

func loadFixture(t testing.TB) ([]Annotation, *Metadata) {
	t.Helper()
	anns, err := ReadAnnotations("testdata/val.jsonl", false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadMetadata("testdata/vcr1images/movie_a/frame_001.json")
	if err != nil {
		t.Fatal(err)
	}
	return anns, m
}

func TestReadAnnotations(t *testing.T) {
	anns, _ := loadFixture(t)
	if len(anns) != 2 {
		t.Fatalf("%d annotations, want 2", len(anns))
	}
	a := anns[0]
	if a.AnnotID != "val-0" || a.AnswerLabel != 0 || a.RationaleLabel != 2 || a.MetadataFn != "movie_a/frame_001.json" || a.ImgFn != "movie_a/frame_001.jpg" {
		t.Errorf("fields: %+v", a)
	}
	if !reflect.DeepEqual(a.Objects, []string{"person", "person", "dog", "chair"}) {
		t.Errorf("objects %q", a.Objects)
	}
	wantQ := []Token{{Word: "What"}, {Word: "is"}, {Objects: []int{0}}, {Word: "doing"}, {Word: "with"}, {Objects: []int{2}}, {Word: "?"}}
	if !reflect.DeepEqual(a.Question, wantQ) {
		t.Errorf("question %+v", a.Question)
	}
	if !reflect.DeepEqual(a.AnswerChoices[1][0].Objects, []int{0, 1}) {
		t.Errorf("answer 1 token 0: %+v", a.AnswerChoices[1][0])
	}
	// Round trip of the token encoding.
	b, _ := json.Marshal(a.AnswerChoices[1])
	if string(b) != `[[0,1],"are","sitting","on",[3],"."]` {
		t.Errorf("marshal: %s", b)
	}

	test, err := ReadAnnotations("testdata/test.jsonl", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 1 || test[0].AnswerLabel != -1 || test[0].RationaleLabel != -1 {
		t.Errorf("test mode labels: %+v", test)
	}
	if _, err := ReadAnnotations("testdata/test.jsonl", false); err == nil || !strings.Contains(err.Error(), "answer_label") || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("labels required outside test mode: err = %v", err)
	}
}

func TestParseAnnotationErrors(t *testing.T) {
	good := `{"annot_id": "x", "objects": ["dog"], "question": ["a"], "answer_choices": [["a"], ["b"], ["c"], ["d"]], "rationale_choices": [["a"], ["b"], ["c"], ["d"]], "answer_label": 1, "rationale_label": 3}`
	if a, err := ParseAnnotations(strings.NewReader("\n"+good+"\n\n"), "mem", false); err != nil || len(a) != 1 {
		t.Fatalf("good line: %v", err)
	}
	for _, c := range []struct{ line, want string }{
		{`{"annot_id": "x"`, "line 2"},
		{strings.Replace(good, `"question": ["a"]`, `"question": [[5]]`, 1), "refers to detection 5"},
		{strings.Replace(good, `"question": ["a"]`, `"question": [[-1]]`, 1), "detection -1"},
		{strings.Replace(good, `"question": ["a"]`, `"question": [[]]`, 1), "empty object reference"},
		{strings.Replace(good, `"question": ["a"]`, `"question": [3]`, 1), "neither a string"},
		{strings.Replace(good, `"question": ["a"]`, `"question": [[1.5]]`, 1), "object reference"},
		{strings.Replace(good, `["d"]], "rationale`, `["d"], ["e"]], "rationale`, 1), "5 answer_choices"},
		{strings.Replace(good, `"rationale_label": 3`, `"rationale_label": 4`, 1), "rationale_label 4"},
		{strings.Replace(good, `"annot_id": "x", `, ``, 1), "annot_id"},
	} {
		_, err := ParseAnnotations(strings.NewReader(good+"\n"+c.line+"\n"), "mem.jsonl", false)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "mem.jsonl") {
			t.Errorf("line %s: err = %v, want it to mention %q", c.line, err, c.want)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	_, m := loadFixture(t)
	if len(m.Boxes) != 4 || m.Width != 640 || m.Height != 360 || len(m.Segms[2]) != 2 {
		t.Fatalf("metadata %+v", m)
	}
	if m.Boxes[1] != [5]float64{200.5, 30.25, 300.75, 250, 0.9} || m.Segms[1][0][4] != (Point{250, 120}) {
		t.Errorf("values: %v %v", m.Boxes[1], m.Segms[1][0])
	}
	for _, c := range []struct{ doc, want string }{
		{`{"boxes": [[1,2,3,4]], "segms": [[]]}`, "want 5"},
		{`{"boxes": [[1,2,3,4,1]], "segms": []}`, "0 segms for 1 boxes"},
		{`{"boxes": [[1,2,3,4,1]], "segms": [[[[1,2,3]]]]}`, "want 2"},
		{`{"segms": []}`, "missing key boxes"},
		{`[1]`, "cannot unmarshal"},
	} {
		if _, err := ParseMetadata(strings.NewReader(c.doc), "m.json"); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "m.json") {
			t.Errorf("%s: err = %v, want %q", c.doc, err, c.want)
		}
	}
}

// wantText checks the wordpieces, tags and align ids of a Text and that its ids are the
// vocabulary ids of its tokens.
func wantText(t *testing.T, what string, got Text, tokens string, tags, align []int64) {
	t.Helper()
	if strings.Join(got.Tokens, " ") != tokens {
		t.Errorf("%s: tokens %q, want %q", what, strings.Join(got.Tokens, " "), tokens)
	}
	if tags != nil && !reflect.DeepEqual(got.Tags, tags) {
		t.Errorf("%s: tags %v, want %v", what, got.Tags, tags)
	}
	if align != nil && !reflect.DeepEqual(got.AlignIDs, align) {
		t.Errorf("%s: align ids %v, want %v", what, got.AlignIDs, align)
	}
	ids, err := tokenizer.Default(true).ConvertTokensToIDs(got.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if int64(ids[i]) != got.IDs[i] {
			t.Errorf("%s: id %d = %d, want %d", what, i, got.IDs[i], ids[i])
		}
	}
}

func newBuilder(t *testing.T, opts Options) *Builder {
	t.Helper()
	b, err := NewBuilder(tokenizer.Default(true), opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildQ2A(t *testing.T) {
	anns, m := loadFixture(t)
	b := newBuilder(t, DefaultOptions(Q2A))
	s, err := b.Build(&anns[0], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Queries) != 1 || len(s.Choices) != 4 || s.Label != 0 || s.NumBoxes != 5 || s.MaskSize != 14 {
		t.Fatalf("sample shape: %d queries, %d choices, label %d, %d boxes", len(s.Queries), len(s.Choices), s.Label, s.NumBoxes)
	}
	wantText(t, "question", s.Queries[0], "what is casey doing with dog ?", []int64{0, 0, 1, 0, 0, 3, 0}, []int64{0, 1, 2, 3, 4, 5, 6})
	wantText(t, "answer 0", s.Choices[0], "casey is holding the dog .", []int64{1, 0, 0, 0, 0, 0}, nil)
	wantText(t, "answer 1", s.Choices[1], "casey and riley are sitting on chair .", []int64{1, 0, 2, 0, 0, 0, 4, 0}, []int64{0, 1, 2, 3, 4, 5, 6, 7})
	wantText(t, "answer 3", s.Choices[3], "riley is feeding dog .", []int64{2, 0, 0, 3, 0}, nil)

	wantBoxes := []float32{
		0, 0, 639, 359, 1, 0,
		10, 20, 109, 219, 0.99, 1,
		200.5, 30.25, 300.75, 250, 0.9, 1,
		50, 150, 119, 219, 0.8, 17,
		0, 100, 639, 359, 0.5, 57,
	}
	if !reflect.DeepEqual(s.Boxes, wantBoxes) {
		t.Errorf("boxes %v", s.Boxes)
	}
	for i, v := range s.Masks[:196] {
		if v != 1 {
			t.Fatalf("image mask[%d] = %v, want 1", i, v)
		}
	}
	// Detection 0's polygon is its own box: the grid is 0..13 on both axes after
	// clamping, and the half-open crossing test keeps rows and columns 0..12.
	m0 := s.Masks[196 : 2*196]
	for r := range 14 {
		for c := range 14 {
			want := float32(0)
			if r < 13 && c < 13 {
				want = 1
			}
			if m0[r*14+c] != want {
				t.Fatalf("mask 1 [%d,%d] = %v, want %v", r, c, m0[r*14+c], want)
			}
		}
	}

	// The name counter is global: the next sample's persons continue the cycle.
	s2, err := b.Build(&anns[1], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	wantText(t, "val-1 question", s2.Queries[0], "where is jackie ?", []int64{0, 0, 2, 0}, nil)
	wantText(t, "val-1 answer 3", s2.Choices[3], "in a cafe .", nil, nil)
	if s2.Label != 2 {
		t.Errorf("val-1 label %d, want 2", s2.Label)
	}
	// ... and wraps around after 13 names.
	for range 5 {
		if _, err := b.Build(&anns[0], m, 640, 360); err != nil {
			t.Fatal(err)
		}
	}
	s3, _ := b.Build(&anns[1], m, 640, 360) // names 14 and 15 -> indices 1, 2
	wantText(t, "wrapped", s3.Queries[0], "where is jessie ?", nil, nil)

	per := DefaultOptions(Q2A)
	per.Names = NamesPerSample
	bp := newBuilder(t, per)
	for range 2 {
		s, err := bp.Build(&anns[1], m, 0, 0) // 0, 0: image size from the metadata
		if err != nil {
			t.Fatal(err)
		}
		wantText(t, "per-sample names", s.Queries[0], "where is riley ?", nil, nil)
		if s.Boxes[2] != 639 || s.Boxes[3] != 359 {
			t.Errorf("image box from metadata size: %v", s.Boxes[:6])
		}
	}
}

func TestTruncateQ2A(t *testing.T) {
	anns, m := loadFixture(t)
	opts := DefaultOptions(Q2A)
	opts.SeqLen = 8
	s, err := newBuilder(t, opts).Build(&anns[0], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	// The question is shared: it shrinks to 4 for answer 0 and stays at 4.
	wantText(t, "question", s.Queries[0], "what is casey doing", nil, nil)
	wantText(t, "answer 0", s.Choices[0], "casey is holding the", nil, nil)
	wantText(t, "answer 1", s.Choices[1], "casey and riley are", []int64{1, 0, 2, 0}, nil)
	wantText(t, "answer 2", s.Choices[2], "nothing .", nil, nil)
	wantText(t, "answer 3", s.Choices[3], "riley is feeding dog", nil, nil)
}

func TestBuildQA2R(t *testing.T) {
	anns, m := loadFixture(t)
	s, err := newBuilder(t, DefaultOptions(QA2R)).Build(&anns[0], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Queries) != 1 || s.Label != 2 {
		t.Fatalf("%d queries, label %d", len(s.Queries), s.Label)
	}
	wantText(t, "query", s.Queries[0], "what is casey doing with dog ? casey is holding the dog .",
		[]int64{0, 0, 1, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	wantText(t, "rationale 0", s.Choices[0], "casey ' s hand is on dog ' s head .", []int64{1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0}, nil)
	wantText(t, "rationale 3", s.Choices[3], "riley and casey and chair are in a room .", []int64{2, 0, 1, 0, 4, 0, 0, 0, 0, 0}, nil)

	opts := DefaultOptions(QA2R)
	opts.SeqLen = 12
	s, err = newBuilder(t, opts).Build(&anns[0], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	// Rationale 0 (11) vs q+a (13): q shrinks to 1, then r and a alternate down to 6 and 5.
	wantText(t, "truncated query", s.Queries[0], "what casey is holding the dog", nil, []int64{0, 1, 2, 3, 4, 5})
	wantText(t, "truncated rationale 0", s.Choices[0], "casey ' s hand is on", nil, nil)
	wantText(t, "rationale 1", s.Choices[1], "the dog is happy .", nil, nil)
	wantText(t, "truncated rationale 3", s.Choices[3], "riley and casey and chair are", nil, nil)

	// Test mode: one query per answer candidate and, as in the original, no truncation.
	opts.TestMode = true
	s, err = newBuilder(t, opts).Build(&anns[0], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Queries) != 4 || s.Label != -1 {
		t.Fatalf("test mode: %d queries, label %d", len(s.Queries), s.Label)
	}
	wantText(t, "test query 1", s.Queries[1], "what is casey doing with dog ? casey and riley are sitting on chair .", nil, nil)
	wantText(t, "test rationale 0", s.Choices[0], "casey ' s hand is on dog ' s head .", nil, nil)
}

func TestBuildErrors(t *testing.T) {
	anns, m := loadFixture(t)
	b := newBuilder(t, DefaultOptions(Q2A))
	bad := *m
	bad.Boxes = bad.Boxes[:3]
	if _, err := b.Build(&anns[0], &bad, 640, 360); err == nil || !strings.Contains(err.Error(), "val-0") {
		t.Errorf("box count mismatch: err = %v", err)
	}
	a := anns[0]
	a.Objects = []string{"person", "person", "dog", "dining table"}
	if _, err := b.Build(&a, m, 640, 360); err == nil || !strings.Contains(err.Error(), "dining table") {
		t.Errorf("unknown class: err = %v", err)
	}
	bad = *m
	bad.Boxes = append([][5]float64{{5, 5, 3, 9, 1}}, m.Boxes[1:]...)
	if _, err := b.Build(&anns[0], &bad, 640, 360); err == nil || !strings.Contains(err.Error(), "non-positive") {
		t.Errorf("degenerate box: err = %v", err)
	}
	// A failed build does not advance the name counter.
	s, err := b.Build(&anns[1], m, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	wantText(t, "after errors", s.Queries[0], "where is riley ?", nil, nil)
	for _, o := range []Options{{Task: Q2A, SeqLen: 1, MaskSize: 14}, {Task: 7, SeqLen: 64, MaskSize: 14}, {Task: Q2A, SeqLen: 64}} {
		if _, err := NewBuilder(tokenizer.Default(true), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func FuzzParseAnnotations(f *testing.F) {
	data, err := os.ReadFile("testdata/val.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f.Add(line)
	}
	f.Add([]byte(`{"annot_id": 5, "objects": [], "question": [[0]]}`))
	_, m := loadFixture(f)
	b, _ := NewBuilder(tokenizer.Default(true), Options{Task: QA2R, SeqLen: 6, MaskSize: 4, AddImageAsBox: true})
	f.Fuzz(func(t *testing.T, line []byte) {
		anns, err := ParseAnnotations(bytes.NewReader(line), "fuzz", false)
		if err != nil {
			return
		}
		for i := range anns {
			s, err := b.Build(&anns[i], m, 64, 48)
			if err != nil {
				continue
			}
			if len(s.Queries[0].IDs)+len(s.Choices[0].IDs) > 6 {
				t.Fatalf("truncation exceeded SeqLen: %d + %d", len(s.Queries[0].IDs), len(s.Choices[0].IDs))
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	data, err := os.ReadFile("testdata/vcr1images/movie_a/frame_001.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"boxes": [[0, 0, 1e39, -1e39, 1]], "segms": [[[[1e300, -1e300], [0, 0]]]]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := ParseMetadata(bytes.NewReader(doc), "fuzz")
		if err != nil {
			return
		}
		mask := make([]float32, 7*7)
		for i := range m.Boxes {
			b := m.Boxes[i]
			for _, rule := range []PolygonRule{PolygonCrossing, PolygonInclusive} {
				if InstanceMask(mask, m.Segms[i], [4]float64{b[0], b[1], b[2], b[3]}, 7, rule) != nil {
					continue
				}
				for _, v := range mask {
					if v != 0 && v != 1 {
						t.Fatalf("mask value %v", v)
					}
				}
			}
		}
	})
}
