package refcoco

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/tokenizer"
)

var pickleFixtures = []string{"refs(unc).p", "refs_py2_proto2.p", "refs_proto0.p"}

func TestReadRefs(t *testing.T) {
	for _, name := range pickleFixtures {
		refs, err := ReadRefs("testdata/refcoco+/" + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(refs) != 5 {
			t.Fatalf("%s: %d refs", name, len(refs))
		}
		r := refs[0]
		want := Ref{RefID: 0, AnnID: 501, ImageID: 1001, Split: "train", CategoryID: 1, Sentences: []Sentence{
			{SentID: 0, Raw: "The man on the LEFT", Sent: "the man on the left", Tokens: []string{"the", "man", "on", "the", "left"}},
			{SentID: 1, Raw: "guy in red, right side", Sent: "guy in red right side", Tokens: []string{"guy", "in", "red", "right", "side"}},
		}}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("%s: ref 0 = %+v", name, r)
		}
		if got := refs[1].Sentences[0].Raw; got != "Café woman \u2013 \"quoted\" \\ back" {
			t.Errorf("%s: non-ASCII raw = %q", name, got)
		}
		if refs[3].Split != "testB" || refs[3].CategoryID != 18 || len(refs[3].Sentences) != 2 || refs[3].Sentences[1].SentID != 5 {
			t.Errorf("%s: ref 3 = %+v", name, refs[3])
		}
	}
}

// TestPickleProtocol0Strings covers what Python 2's default protocol writes and
// gopickle alone would get wrong: quoted STRING arguments with escapes, and UNICODE
// arguments in raw-unicode-escape.
func TestPickleProtocol0Strings(t *testing.T) {
	p := "(lp0\n(dp1\nS'ref_id'\np2\nI7\nsS'ann_id'\np3\nL9000000000L\nsS'image_id'\nI1\nsS'category_id'\nI01\nsS'split'\n" +
		"S\"it's\\ttest\\x41\\101\\\\\"\nsS'sentences'\n(lp4\n(dp5\nS'sent_id'\nI3\nsS'raw'\nVcaf\\u00e9 \\U0001F600 \xe9\nsS'sent'\nS'caf\\xc3\\xa9'\nsS'tokens'\n(lp6\nS'a'\naS'b\\'c'\nasasa."
	refs, err := ParseRefs(strings.NewReader(p), "p0")
	if err != nil {
		t.Fatal(err)
	}
	r := refs[0]
	if r.RefID != 7 || r.AnnID != 9000000000 || r.CategoryID != 1 || r.Split != "it's\ttestAA\\" {
		t.Errorf("ref %+v", r)
	}
	s := r.Sentences[0]
	if s.Raw != "café 😀 é" || s.Sent != "café" || !reflect.DeepEqual(s.Tokens, []string{"a", "b'c"}) {
		t.Errorf("sentence %+v", s)
	}
}

func TestParseRefsErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/refcoco+/refs(unc).p")
	if err != nil {
		t.Fatal(err)
	}
	huge := append([]byte{0x80, 2, 'X'}, binary.LittleEndian.AppendUint32(nil, 0xFFFFFFF0)...)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "pickle"},
		{"no stop", good[:len(good)-1], "without STOP"},
		{"huge length", huge, "truncated"},
		{"huge frame", append([]byte{0x80, 4, 0x95}, binary.LittleEndian.AppendUint64(nil, 1<<62)...), "frame"},
		{"unknown opcode", []byte{0x80, 2, 0xff, '.'}, "unknown pickle opcode"},
		{"not a list", []byte("I5\n."), "want a list"},
		{"missing key", []byte("(lp0\n(dp1\nS'ref_id'\nI1\nsa."), `"ann_id"`},
		{"bad string", []byte("S'abc\n."), "not quoted"},
		{"empty long1", []byte{0x80, 2, ']', 0x8a, 0, 'a', '.'}, "want a dict"},
		{"stack underflow", []byte{0x80, 2, 'a', '.'}, ""},
	} {
		_, err := ParseRefs(bytes.NewReader(c.data), "refs.p")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "refs.p") {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// A list shared through the memo many times cannot blow up the conversion.
	var b bytes.Buffer
	b.WriteString("\x80\x02](]q\x01(")
	for range 200 {
		b.WriteString("S'x'\n")
	}
	b.WriteString("e")
	for range 2000 {
		b.WriteString("h\x01")
	}
	b.WriteString("e.")
	if _, err := ParseRefs(&b, "bomb"); err == nil {
		t.Error("memo bomb accepted")
	}
}

func loadAll(t testing.TB) ([]Ref, *Instances, *Instances, Proposals) {
	t.Helper()
	refs, err := ReadRefs("testdata/refcoco+/refs(unc).p")
	if err != nil {
		t.Fatal(err)
	}
	refer, err := ReadInstances("testdata/refcoco+/instances.json")
	if err != nil {
		t.Fatal(err)
	}
	coco, err := ReadInstances("testdata/annotations/instances_train2014.json")
	if err != nil {
		t.Fatal(err)
	}
	props, err := ReadProposals("testdata/refcoco+/proposal/res101_coco_minus_refer_notime_dets.json")
	if err != nil {
		t.Fatal(err)
	}
	return refs, refer, coco, props
}

func TestReadJSON(t *testing.T) {
	_, refer, coco, props := loadAll(t)
	if len(refer.Images) != 2 || len(refer.Annotations) != 4 || len(refer.Categories) != 2 {
		t.Errorf("refer instances: %d images, %d anns, %d cats", len(refer.Images), len(refer.Annotations), len(refer.Categories))
	}
	if a, ok := refer.Annotation(501); !ok || a.BBox != [4]float64{10.5, 20.25, 100.1, 200.7} || a.ImageID != 1001 {
		t.Errorf("annotation 501: %+v", a)
	}
	var ids []int64
	for _, a := range coco.ImageAnnotations(1001) {
		ids = append(ids, a.ID)
	}
	if !reflect.DeepEqual(ids, []int64{502, 501, 505}) {
		t.Errorf("image 1001 annotations in file order: %v", ids)
	}
	if coco.Images[1002].Width != 500 || coco.Images[1002].Height != 375 {
		t.Errorf("image 1002: %+v", coco.Images[1002])
	}
	if len(props[1001]) != 2 || props[1001][1] != [4]float64{0.3, 0.7, 200.123, 100.456} {
		t.Errorf("proposals: %v", props)
	}
	for _, c := range []struct{ doc, want string }{
		{`{"annotations": [{"id": 1, "image_id": 2, "bbox": [1, 2, 3]}]}`, "want 4"},
		{`{"annotations": [{"image_id": 2, "bbox": [1, 2, 3, 4]}]}`, "missing id"},
		{`{"images": [{"id": "x"}]}`, "images[0]"},
		{`[]`, "want"},
		{`{"images": [`, "EOF"},
	} {
		if _, err := ParseInstances(strings.NewReader(c.doc), "inst.json"); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "inst.json") {
			t.Errorf("%s: err = %v, want %q", c.doc, err, c.want)
		}
	}
	if _, err := ParseProposals(strings.NewReader(`[{"image_id": 1, "box": [1, 2]}]`), "dets.json"); err == nil || !strings.Contains(err.Error(), "want 4") {
		t.Errorf("short proposal box: err = %v", err)
	}
	old := MaxJSONBytes
	MaxJSONBytes = 10
	_, err := ParseProposals(strings.NewReader(`[{"image_id": 1, "box": [1, 2, 3, 4]}]`), "dets.json")
	MaxJSONBytes = old
	if err == nil || !strings.Contains(err.Error(), "MaxJSONBytes") {
		t.Errorf("size limit: err = %v", err)
	}
}

func TestDatabase(t *testing.T) {
	refs, refer, coco, _ := loadAll(t)
	db, err := Database(refs, "train", refer, coco, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(db) != 3 {
		t.Fatalf("train: %d samples, want 3", len(db))
	}
	s := db[0]
	if s.SentID != 0 || s.RefID != 0 || s.AnnID != 501 || s.Width != 640 || s.Height != 480 || s.Sent != "the man on the left" {
		t.Errorf("sample 0: %+v", s)
	}
	if s.GTBox != [4]float64{10.5, 20.25, 10.5 + 100.1, 20.25 + 200.7} {
		t.Errorf("gt box %v", s.GTBox)
	}
	if db[2].RefID != 4 || db[2].SentID != 6 {
		t.Errorf("sample 2: %+v", db[2])
	}
	db, err = Database(refs, "testA+testB", refer, coco, false)
	if err != nil {
		t.Fatal(err)
	}
	var sents []int64
	for _, s := range db {
		sents = append(sents, s.SentID)
	}
	if !reflect.DeepEqual(sents, []int64{2, 4, 5}) {
		t.Errorf("testA+testB sentences %v", sents)
	}
	if ids, _ := RefIDsForSplit(refs, "test"); !reflect.DeepEqual(ids, []int64{1, 3}) {
		t.Errorf("test refs %v", ids)
	}
	if _, err := Database(refs, "train+bogus", refer, coco, false); err == nil {
		t.Error("unknown split accepted")
	}
	empty := &Instances{Images: map[int64]Image{}}
	if _, err := Database(refs, "val", refer, empty, false); err == nil || !strings.Contains(err.Error(), "image 1002") {
		t.Errorf("missing image: err = %v", err)
	}
}

func TestCandidatesAndLabels(t *testing.T) {
	refs, refer, coco, props := loadAll(t)
	db, err := Database(refs, "train", refer, coco, false)
	if err != nil {
		t.Fatal(err)
	}
	s := &db[0]
	boxes, err := Candidates(s, BoxesProposalGT, coco, props, true)
	if err != nil {
		t.Fatal(err)
	}
	// Expected values from numpy float32, emulating the original tensors.
	want := []float32{
		0, 0, 639, 479,
		11.100000381469727, 19.899999618530273, 110.4000015258789, 220.9499969482422,
		0.30000001192092896, 0.699999988079071, 200.42300415039062, 101.15599822998047,
		300, 100, 350.5, 180,
		10.5, 20.25, 110.5999984741211, 220.9499969482422,
		0.10000000149011612, 0.20000000298023224, 639.4000244140625, 479.6000061035156,
	}
	if !reflect.DeepEqual(boxes, want) {
		t.Errorf("candidates\n got %v\nwant %v", boxes, want)
	}
	gt := [4]float32{float32(s.GTBox[0]), float32(s.GTBox[1]), float32(s.GTBox[2]), float32(s.GTBox[3])}
	wantIoU := []float32{0.06637978553771973, 0.9903820753097534, 0.2546628713607788, 0, 1, 0.06629343330860138}
	for i := range 6 {
		b := [4]float32(boxes[4*i : 4*i+4])
		if got := IoU(b, gt); got != wantIoU[i] {
			t.Errorf("IoU box %d = %v, numpy %v", i, got, wantIoU[i])
		}
	}
	if got := Labels(boxes, 6, 4, gt); !reflect.DeepEqual(got, []float32{0, 1, 0, 0, 1, 0}) {
		t.Errorf("labels %v", got)
	}
	if b, _ := Candidates(s, BoxesGT, coco, props, false); len(b) != 12 || b[0] != 300 {
		t.Errorf("gt candidates %v", b)
	}
	if b, _ := Candidates(s, BoxesProposal, coco, props, true); len(b) != 12 || b[4] != want[4] {
		t.Errorf("proposal candidates %v", b)
	}
	if _, err := Candidates(s, BoxesProposal, coco, Proposals{}, true); err == nil {
		t.Error("missing proposals accepted")
	}
	for in, want := range map[string]BoxSource{"gt": BoxesGT, "proposal": BoxesProposal, "proposal+gt": BoxesProposalGT, "gt+proposal": BoxesProposalGT} {
		if got, err := ParseBoxSource(in); err != nil || got != want {
			t.Errorf("ParseBoxSource(%q) = %v, %v", in, got, err)
		}
	}
}

func TestIoUThresholds(t *testing.T) {
	// Boxes [0,0,9,9] (area 100 with +1) and [0,0,9,y2]: IoU = 10(y2+1)/100 for y2 ≤ 9.
	a := [4]float32{0, 0, 9, 9}
	if got := IoU(a, [4]float32{0, 0, 9, 4}); got != 0.5 {
		t.Fatalf("IoU = %v, want 0.5", got)
	}
	// Exactly 0.5: not a positive training label (> 0.5) but a correct prediction (≥ 0.5).
	if l := Labels([]float32{0, 0, 9, 4}, 1, 4, a); l[0] != 0 {
		t.Error("IoU 0.5 labelled positive")
	}
	if acc := Accuracy([][4]float64{{0, 0, 9, 4}, {20, 20, 30, 30}}, [][4]float64{{0, 0, 9, 9}, {0, 0, 9, 9}}); acc != 0.5 {
		t.Errorf("accuracy %v, want 0.5", acc)
	}
	if got := EvalIoU([4]float64{0, 0, 0, 0}, [4]float64{0, 0, 0, 0}); got != 1 {
		t.Errorf("single-pixel IoU %v, want 1 (+1 convention)", got)
	}
	if got := EvalIoU([4]float64{0, 0, 10, 10}, [4]float64{20, 20, 30, 30}); got != 0 || math.Signbit(got) {
		t.Errorf("disjoint IoU %v", got)
	}
}

func TestExpression(t *testing.T) {
	tok := tokenizer.Default(true)
	pieces, ids, err := Expression(tok, []string{"the", "man", "on", "the", "left"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, " ") != "the man on the left" || len(ids) != 5 || ids[4] != 2187 {
		t.Errorf("pieces %q ids %v", pieces, ids)
	}
	// Wordpieces are swapped, so "leftmost" (left ##most) becomes "right ##most", as in
	// the original.
	pieces, ids, _ = Expression(tok, []string{"left", "of", "the", "right", "leftmost"}, true)
	if strings.Join(pieces, " ") != "right of the left right ##most" || ids[0] != 2157 || ids[3] != 2187 || ids[4] != 2157 {
		t.Errorf("flipped: %q %v", pieces, ids)
	}
}

func FuzzParseRefs(f *testing.F) {
	for _, name := range pickleFixtures {
		data, err := os.ReadFile("testdata/refcoco+/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("(lp0\n(dp1\nS'ref_id'\nI1\nsa."))
	f.Fuzz(func(t *testing.T, data []byte) {
		refs, err := ParseRefs(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		n := 0
		for _, r := range refs {
			n += 1 + len(r.Sentences)
			for _, s := range r.Sentences {
				n += len(s.Tokens)
			}
		}
		if n > len(data)+1024 {
			t.Fatalf("%d elements from %d bytes", n, len(data))
		}
	})
}

func FuzzParseInstances(f *testing.F) {
	for _, p := range []string{"testdata/refcoco+/instances.json", "testdata/annotations/instances_train2014.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseInstances(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		for _, a := range in.Annotations {
			in.ImageAnnotations(a.ImageID)
		}
		_, _ = ParseProposals(bytes.NewReader(data), "fuzz")
	})
}

func TestGroupIDs(t *testing.T) {
	refs, refer, coco, _ := loadAll(t)
	db, err := Database(refs, "train", refer, coco, false)
	if err != nil {
		t.Fatal(err)
	}
	db[1].Width, db[1].Height = 300, 301 // taller than wide
	db[2].Width, db[2].Height = 300, 300 // square is group 0
	if g := GroupIDs(db); !reflect.DeepEqual(g, []int{0, 1, 0}) {
		t.Errorf("groups %v, want [0 1 0] (sample 0 is 640x480)", g)
	}
}
