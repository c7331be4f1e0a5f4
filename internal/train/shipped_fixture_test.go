package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/visual"
	"github.com/vlbert/vlbert/internal/weights"
)

// answerVocabSize is the original's default DATASET.ANSWER_VOCAB_SIZE, which
// the shipped VQA configs keep: the fixture's answers_vqa.txt has the
// world's answers, then placeholders up to this many lines.
const answerVocabSize = 3129

// shippedRoot lays the tiny world out as the original repository's root, so
// that the shipped configs' relative paths find it:
//
//	data/coco: VQA v2 (train2014, val2014, and test2015 without annotations:
//	  the val questions again), COCO image sizes, precomputed boxes, and
//	  RefCOCO+ for e2e training (refcoco+/, train2014/ images; writeOriginalRefCOCO)
//	data/vcr: VCR with test.jsonl (the val questions without labels)
//	data/conceptual-captions: the world's captions and features
//	data/en_corpus: bc1g.doc and wiki.doc, the world's corpus in two halves
//	model/pretrained_model: bert-{base,large}-uncased/{vocab.txt,
//	  pytorch_model.bin} (BERT_MODEL_NAME), resnet101-pt-vgbua-0000.model, a raw ResNet of the
//	  shrunk network (IMAGE_PRETRAINED); the vl-bert-*.model files of
//	  PARTIAL_PRETRAIN come from the pretraining subtests.
func shippedRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	coco := filepath.Join(root, "data", "coco")
	vcrDir := filepath.Join(root, "data", "vcr")
	pre := filepath.Join(root, "model", "pretrained_model")
	for _, d := range []string{filepath.Join(coco, "vqa"), filepath.Join(coco, "annotations"), filepath.Join(coco, "vgbua_res101_precomputed"), vcrDir, filepath.Join(root, "data", "en_corpus"), pre} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// VQA.
	for _, set := range []string{"train2014", "val2014"} {
		q, a := synth.VQAFiles(set)
		link(filepath.Join(worldDir, q), filepath.Join(coco, q))
		link(filepath.Join(worldDir, a), filepath.Join(coco, a))
	}
	qf, _ := synth.VQAFiles("val2014")
	var qs map[string]any
	readJSON(t, filepath.Join(worldDir, qf), &qs)
	qs["data_subtype"] = "test2015"
	b, err := json.Marshal(qs)
	if err != nil {
		t.Fatal(err)
	}
	tq, _ := synth.VQAFiles("test2015")
	write(filepath.Join(coco, tq), b)
	answers := readLines(t, filepath.Join(worldDir, synth.Layout.Answers))
	for i := len(answers); i < answerVocabSize; i++ {
		answers = append(answers, fmt.Sprintf("unused answer %d", i))
	}
	write(filepath.Join(coco, "vqa", "answers_vqa.txt"), []byte(strings.Join(answers, "\n")+"\n"))
	feats := filepath.Join(worldDir, synth.Layout.Features)
	link(feats, filepath.Join(coco, "vgbua_res101_precomputed", "trainval2014_resnet101_faster_rcnn_genome"))
	link(feats, filepath.Join(coco, "vgbua_res101_precomputed", "test2015_resnet101_faster_rcnn_genome"))
	// COCO: instances_train2014 is RefCOCO+'s (every image, with its
	// objects), which VQA reads image sizes from too.
	link(filepath.Join(refcocoE2EDir, "annotations", "instances_train2014.json"), filepath.Join(coco, "annotations", "instances_train2014.json"))
	link(filepath.Join(worldDir, synth.Layout.COCOAnnotations, "instances_val2014.json"), filepath.Join(coco, "annotations", "instances_val2014.json"))
	link(filepath.Join(worldDir, synth.Layout.COCOAnnotations, "instances_val2014.json"), filepath.Join(coco, "annotations", "image_info_test2015.json"))
	// RefCOCO+.
	link(filepath.Join(refcocoE2EDir, "refcoco+"), filepath.Join(coco, "refcoco+"))
	link(filepath.Join(refcocoE2EDir, "train2014"), filepath.Join(coco, "train2014"))
	// VCR.
	src := filepath.Join(worldDir, synth.Layout.VCR)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		link(filepath.Join(src, e.Name()), filepath.Join(vcrDir, e.Name()))
	}
	var test []string
	for _, l := range readLines(t, filepath.Join(src, "val.jsonl")) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		delete(rec, "answer_label")
		delete(rec, "rationale_label")
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		test = append(test, string(b))
	}
	write(filepath.Join(vcrDir, "test.jsonl"), []byte(strings.Join(test, "\n")+"\n"))
	// Conceptual Captions and the text corpus.
	link(worldDir, filepath.Join(root, "data", "conceptual-captions"))
	corpus := readLines(t, filepath.Join(worldDir, synth.Layout.Corpus))
	half := len(corpus) / 2
	write(filepath.Join(root, "data", "en_corpus", "bc1g.doc"), []byte(strings.Join(corpus[:half], "\n")+"\n"))
	write(filepath.Join(root, "data", "en_corpus", "wiki.doc"), []byte(strings.Join(corpus[half:], "\n")+"\n"))
	// BERT_MODEL_NAME: the vocabulary (both uncased BERTs have the same) and
	// a BERT of the shrunk size.
	vocab, err := os.ReadFile("../tokenizer/vocab/bert-base-uncased.txt")
	if err != nil {
		t.Fatal(err)
	}
	for name, full := range map[string]int{"bert-base-uncased": 768, "bert-large-uncased": 1024} {
		dir := filepath.Join(pre, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(dir, "vocab.txt"), vocab)
		sz := func(key string, n int) int { return shrunkSizes["NETWORK.VLBERT."+key][n] }
		H, L := sz("hidden_size", full), sz("num_hidden_layers", map[int]int{768: 12, 1024: 24}[full])
		if err := writeBERT(filepath.Join(dir, "pytorch_model.bin"), H, L, 2*H); err != nil {
			t.Fatal(err)
		}
	}
	// IMAGE_PRETRAINED.
	vc := visual.ResNet101C4()
	visualConfigHook(&vc)
	net := visual.NewNetwork(vc)
	net.InitRandom(11)
	if err := writeRawResNet(filepath.Join(pre, "resnet101-pt-vgbua-0000.model"), net, ""); err != nil {
		t.Fatal(err)
	}
	return root
}

// writeBERT writes a BERT state_dict as pytorch_model.bin has it (bert.*,
// LayerNorm gamma/beta, the cls heads) for hidden size H, L layers and
// intermediate size I, with the bert-base-uncased vocabulary and 512
// positions; values are drawn from N(0, 0.02), LayerNorm gammas 1.
func writeBERT(path string, H, L, I int) error {
	rng := rand.New(rand.NewPCG(uint64(H), uint64(L)))
	sd := map[string]*weights.Tensor{}
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			if strings.HasSuffix(name, "gamma") {
				v[i] = 1
			} else {
				v[i] = float32(0.02 * rng.NormFloat64())
			}
		}
		sd[name] = weights.NewF32(v, shape...)
	}
	linear := func(name string, out, in int) {
		add(name+".weight", out, in)
		add(name+".bias", out)
	}
	layerNorm := func(name string) {
		add(name+".gamma", H)
		add(name+".beta", H)
	}
	add("bert.embeddings.word_embeddings.weight", 30522, H)
	add("bert.embeddings.position_embeddings.weight", 512, H)
	add("bert.embeddings.token_type_embeddings.weight", 2, H)
	layerNorm("bert.embeddings.LayerNorm")
	for l := range L {
		p := fmt.Sprintf("bert.encoder.layer.%d.", l)
		for _, s := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			linear(p+s, H, H)
		}
		layerNorm(p + "attention.output.LayerNorm")
		linear(p+"intermediate.dense", I, H)
		linear(p+"output.dense", H, I)
		layerNorm(p + "output.LayerNorm")
	}
	linear("bert.pooler.dense", H, H)
	add("cls.predictions.bias", 30522)
	linear("cls.predictions.transform.dense", H, H)
	layerNorm("cls.predictions.transform.LayerNorm")
	linear("cls.seq_relationship", 2, H)
	return weights.WriteSafetensors(path, sd, nil)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
