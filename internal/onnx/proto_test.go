package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tinyModel uses every field and attribute kind the encoder writes.
func tinyModel() *Model {
	return &Model{
		IRVersion: IRVersion, Opsets: []OpsetID{{Version: 17}}, ProducerName: "vlbert", ProducerVersion: "v0",
		DocString: "doc", Metadata: []StringStringKV{{"task", "vqa"}, {"answers", `["yes","no"]`}},
		Graph: &Graph{
			Name: "g", DocString: "graph doc",
			Nodes: []*Node{
				{OpType: "LayerNormalization", Name: "ln", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
					Attrs: []*Attribute{aInt("axis", -1), aFloat("epsilon", 1e-12)}},
				{OpType: "Transpose", Name: "t", Inputs: []string{"y"}, Outputs: []string{"z"}, Attrs: []*Attribute{aInts("perm", 1, 0)}},
				{OpType: "Pad", Name: "p", Inputs: []string{"z", "", ""}, Outputs: []string{"o"},
					Attrs: []*Attribute{{Name: "mode", Type: attrString, S: "constant"}, {Name: "fs", Type: attrFloats, Floats: []float32{1.5, -2}},
						{Name: "value", Type: attrTensor, T: &Tensor{Name: "c", DataType: Float, Dims: []int64{2}, RawData: float32Bytes([]float32{1, 2})}}}},
			},
			Initializer: []*Tensor{
				{Name: "w", DataType: Float, Dims: []int64{3}, RawData: float32Bytes([]float32{1, 2, 3})},
				{Name: "b", DataType: Float, Dims: []int64{3}, External: []StringStringKV{{"location", "m.onnx.data"}, {"offset", "0"}, {"length", "12"}}, InFile: true},
				{Name: "s", DataType: Int64, RawData: int64Bytes([]int64{-7})},
			},
			Inputs:  []*ValueInfo{{Name: "x", ElemType: Float, Shape: []Dim{{Param: "batch"}, {Value: 3}}, DocString: "input"}},
			Outputs: []*ValueInfo{{Name: "o", ElemType: Float, Shape: []Dim{{Value: 3}, {Param: "batch"}}}},
		},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := tinyModel()
	b := m.Marshal()
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got.Graph, m.Graph)
	}
	if b2 := got.Marshal(); !bytes.Equal(b, b2) {
		t.Errorf("re-encoding differs: %d vs %d bytes", len(b2), len(b))
	}
}

// TestExportRoundTrip decodes a whole exported model and checks what a reader
// relies on: IR version, opset, the inputs and outputs with their dynamic axes,
// metadata, and that every node input is a graph input, an initializer or an
// earlier node's output (the graph is topologically sorted).
func TestExportRoundTrip(t *testing.T) {
	m := exportGoldenVQA(t, Options{})
	b := m.Marshal()
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Fatal("re-encoding the decoded model changes it")
	}
	if got.IRVersion != 8 || len(got.Opsets) != 1 || got.Opsets[0].Version != 17 || got.Opsets[0].Domain != "" {
		t.Errorf("IR %d opsets %+v, want IR 8 and the default domain at 17", got.IRVersion, got.Opsets)
	}
	var names []string
	for _, in := range got.Graph.Inputs {
		names = append(names, in.Name)
	}
	if strings.Join(names, ",") != "boxes,im_info,question" {
		t.Errorf("inputs %v", names)
	}
	if d := got.Graph.Inputs[0].Shape; len(d) != 3 || d[0].Param != "batch" || d[1].Param != "boxes" || d[2].Value != 4+DefaultFeatureDim {
		t.Errorf("boxes shape %+v", d)
	}
	if o := got.Graph.Outputs; len(o) != 1 || o[0].Name != "label_logits" || o[0].Shape[1].Value != 64 {
		t.Errorf("outputs %+v", o)
	}
	meta := map[string]string{}
	for _, kv := range got.Metadata {
		meta[kv.Key] = kv.Value
	}
	if meta["task"] != "vqa" {
		t.Errorf("metadata %v", meta)
	}
	known := map[string]bool{"": true}
	for _, in := range got.Graph.Inputs {
		known[in.Name] = true
	}
	for _, init := range got.Graph.Initializer {
		known[init.Name] = true
	}
	ops := map[string]bool{}
	for _, n := range got.Graph.Nodes {
		for _, in := range n.Inputs {
			if !known[in] {
				t.Fatalf("node %s reads %q before it is produced", n.Name, in)
			}
		}
		for _, o := range n.Outputs {
			known[o] = true
		}
		if n.Domain != "" {
			t.Errorf("node %s in domain %q", n.Name, n.Domain)
		}
		ops[n.OpType] = true
	}
	if !known["label_logits"] {
		t.Error("no node produces label_logits")
	}
	t.Logf("%d nodes, %d initializers, ops %d", len(got.Graph.Nodes), len(got.Graph.Initializer), len(ops))
}

func TestUnmarshalErrors(t *testing.T) {
	b := tinyModel().Marshal()
	for _, n := range []int{1, 7, len(b) / 2, len(b) - 1} {
		if _, err := Unmarshal(b[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	// Field 7 (graph) as a varint instead of a message.
	if _, err := Unmarshal([]byte{7 << 3, 1}); err == nil || !strings.Contains(err.Error(), "ModelProto field 7") {
		t.Errorf("wrong wire type: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(tinyModel().Marshal())
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes to the same model.
		m2, err := Unmarshal(m.Marshal())
		if err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
		if !bytes.Equal(m2.Marshal(), m.Marshal()) {
			t.Fatal("decode/encode is not stable")
		}
	})
}

// TestExternalData writes the golden model with every tensor in MODEL.onnx.data;
// the checker and ONNX Runtime read it back and give the same logits.
func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vqa.onnx")
	if err := Write(path, exportGoldenVQA(t, Options{}), 0); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.Stat(path + ".data")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 64<<10 || data.Size() < 1<<20 {
		t.Fatalf("model %d bytes, data %d bytes: the weights did not move out", st.Size(), data.Size())
	}
	checkModel(t, path)
	boxes, info, q := readNpy(t, "vqa_in_boxes"), readNpy(t, "vqa_in_im_info"), readNpy(t, "vqa_in_question")
	res := runORT(t, path, [][]ortTensor{{{Name: "boxes", Dims: boxes.Shape, F32: boxes.F32},
		{Name: "im_info", Dims: info.Shape, F32: info.F32}, {Name: "question", Dims: q.Shape, I64: q.I64}}}, 1)
	if res[0].Err != "" {
		t.Fatal(res[0].Err)
	}
	compareTol(t, "label_logits (external data)", res[0].Outputs["label_logits"].F32, readNpy(t, "vqa_out_logits").F32, 2e-4, 1e-4)
}

// TestWrongShape: ONNX Runtime refuses inputs of the wrong shape or type with an
// error naming the input, instead of computing something.
func TestWrongShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vqa.onnx")
	if err := Write(path, exportGoldenVQA(t, Options{}), InlineLimit); err != nil {
		t.Fatal(err)
	}
	boxes, info, q := readNpy(t, "vqa_in_boxes"), readNpy(t, "vqa_in_im_info"), readNpy(t, "vqa_in_question")
	B, NB := boxes.Shape[0], boxes.Shape[1]
	narrow := make([]float32, B*NB*100) // features of 96 instead of 2048
	res := runORT(t, path, [][]ortTensor{
		{{Name: "boxes", Dims: []int{B, NB, 100}, F32: narrow}, {Name: "im_info", Dims: info.Shape, F32: info.F32}, {Name: "question", Dims: q.Shape, I64: q.I64}},
		{{Name: "boxes", Dims: boxes.Shape, F32: boxes.F32}, {Name: "im_info", Dims: []int{B, 2}, F32: info.F32[:2*B]}, {Name: "question", Dims: q.Shape, I64: q.I64}},
		{{Name: "boxes", Dims: boxes.Shape, F32: boxes.F32}, {Name: "im_info", Dims: info.Shape, F32: info.F32}, {Name: "question", Dims: q.Shape, I64: q.I64}},
	}, 1)
	for i, want := range []string{"boxes", "im_info"} {
		if res[i].Err == "" || !strings.Contains(res[i].Err, want) {
			t.Errorf("wrong %s shape: error %q, want ONNX Runtime's error naming %s", want, res[i].Err, want)
		} else {
			t.Logf("wrong %s shape: %s", want, res[i].Err)
		}
	}
	if res[2].Err != "" {
		t.Errorf("the right shapes after two refused runs: %s", res[2].Err)
	}
}
