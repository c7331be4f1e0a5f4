package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/synth/synthtest"
)

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkWorld is a tiny synthetic world: 4 train and 3 val scenes of 2 or 3
// objects.
func checkWorld(t *testing.T) (string, *synth.World) {
	t.Helper()
	dir := t.TempDir()
	w, err := synth.Generate(synth.Config{Seed: 7, TrainScenes: 4, ValScenes: 3, ImageSize: 48, MinObjects: 2, MaxObjects: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := synthtest.Write(w, dir); err != nil {
		t.Fatal(err)
	}
	return dir, w
}

// synthConfig writes configs/synth/<name>.yaml pointed at the world in dir.
func synthConfig(t *testing.T, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/synth/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "./demo-out/data", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCheck(t *testing.T, cfg, mode string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runDataCheck(context.Background(), dataCheckOptions{Cfg: cfg, Mode: mode, N: 0, Workers: 2}, &out)
	t.Logf("vlbert data check --cfg %s --mode %s --n 0 (error: %v)\n%s", filepath.Base(cfg), mode, err, out.String())
	return out.String(), err
}

func wantLines(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDataCheckVQA(t *testing.T) {
	root := t.TempDir()
	vq, ft := "../../internal/data/vqa/testdata/", "../../internal/data/features/testdata/"
	copyTo(t, vq+"questions.json", filepath.Join(root, "vqa/v2_OpenEnded_mscoco_val2014_questions.json"))
	copyTo(t, vq+"annotations.json", filepath.Join(root, "vqa/v2_mscoco_val2014_annotations.json"))
	copyTo(t, vq+"answers_vqa.txt", filepath.Join(root, "vqa/answers_vqa.txt"))
	copyTo(t, vq+"instances_val2014.json", filepath.Join(root, "annotations/instances_val2014.json"))
	boxDir := filepath.Join(root, "vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome")
	copyTo(t, ft+"9.json", filepath.Join(boxDir, "9.json"))
	copyTo(t, ft+"42.json", filepath.Join(boxDir, "42.json"))
	cfg := filepath.Join(root, "vqa.yaml")
	yml := "DATASET:\n  DATASET: vqa\n  DATASET_PATH: '" + root + "'\n  ANSWER_VOCAB_FILE: '" + root + "/vqa/answers_vqa.txt'\n  ANSWER_VOCAB_SIZE: 9\n" +
		"  VAL_IMAGE_SET: val2014\n  ADD_IMAGE_AS_A_BOX: true\n  BOXES: '10-100ada'\n  USE_IMDB: false\nSCALES: [600, 1000]\nNETWORK:\n  IMAGE_FEAT_PRECOMPUTED: true\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantLines(t, out, "vqa val: 3 questions, 9 answers in the vocabulary; checking 3", "vqa val: 2 images; detected boxes per image: min 3, mean 3.5, max 4",
		"built 3 of 3 examples, 0 failed", "boxes [3,5,2052]", "ok (0 warnings)")
	// End-to-end mode reads the COCO images: one is missing.
	e2e := filepath.Join(root, "vqa_e2e.yaml")
	if err := os.WriteFile(e2e, []byte(strings.Replace(yml, "IMAGE_FEAT_PRECOMPUTED: true", "IMAGE_FEAT_PRECOMPUTED: false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	writeJPEG(t, filepath.Join(root, "val2014/COCO_val2014_000000000009.jpg"), 64, 48)
	img42 := filepath.Join(root, "val2014/COCO_val2014_000000000042.jpg")
	out, err = runCheck(t, e2e, "val")
	if err == nil || !strings.Contains(err.Error(), "2 problems") {
		t.Errorf("missing image: %v\n%s", err, out)
	}
	wantLines(t, out, "problem: vqa: question 420: image: ", img42)
	writeJPEG(t, img42, 64, 48)
	if out, err = runCheck(t, e2e, "val"); err != nil {
		t.Errorf("%v\n%s", err, out)
	}

	// A truncated feature file is reported with its path and fails the check.
	b, _ := os.ReadFile(filepath.Join(boxDir, "42.json"))
	if err := os.WriteFile(filepath.Join(boxDir, "42.json"), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCheck(t, cfg, "val")
	if err == nil || !strings.Contains(err.Error(), "2 problems") || !strings.Contains(out, "problem: vqa: question") || !strings.Contains(out, "42.json") {
		t.Errorf("broken file: %v\n%s", err, out)
	}
}

func TestDataCheckVQAWorld(t *testing.T) {
	dir, w := checkWorld(t)
	cfg := synthConfig(t, "vqa", dir)
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	nq := len(w.Val) * synth.QuestionsPerScene
	wantLines(t, out, fmt.Sprintf("vqa val: %d questions, 20 answers in the vocabulary; checking %d", nq, nq),
		fmt.Sprintf("vqa val: %d images; detected boxes per image: min 2", len(w.Val)),
		"vocabulary: 100.00% of", fmt.Sprintf("%d of %d questions (100.0%%) have their multiple-choice answer", nq, nq),
		fmt.Sprintf("built %d of %d examples, 0 failed", nq, nq), "ok (0 warnings)")

	// A missing feature file: every question of that image fails, named by
	// question id and file.
	id := w.Val[1].ID
	feat := filepath.Join(dir, synth.Layout.Features, fmt.Sprintf("%d.json", id))
	mustRemove(t, feat)
	out, err = runCheck(t, cfg, "val")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d problems", synth.QuestionsPerScene)) {
		t.Errorf("missing features: %v\n%s", err, out)
	}
	wantLines(t, out, fmt.Sprintf("problem: vqa: question %d: features:", id*100), feat,
		fmt.Sprintf("built %d of %d examples, %d failed", nq-synth.QuestionsPerScene, nq, synth.QuestionsPerScene))
}

func TestDataCheckPretrainWorld(t *testing.T) {
	dir, w := checkWorld(t)
	cfg := synthConfig(t, "pretrain", dir)
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	nv := len(w.Val)
	wantLines(t, out, fmt.Sprintf("conceptual_captions val: %d captions; checking %d", nv, nv),
		fmt.Sprintf("built %d of %d examples, 0 failed", nv, nv), "conceptual_captions val: boxes per image (image box included): min 3",
		fmt.Sprintf("general_corpus val: %d lines", synth.CorpusLines), "text batch of", "ok (0 warnings)")
	if strings.Contains(out, "[UNK]") && !strings.Contains(out, "(0 [UNK])") {
		t.Errorf("unknown wordpieces in the synthetic text:\n%s", out)
	}

	// A feature file that a caption line names is missing.
	id := w.Val[2].ID
	feat := filepath.Join(dir, synth.Layout.Features, fmt.Sprintf("%d.json", id))
	mustRemove(t, feat)
	out, err = runCheck(t, cfg, "val")
	if err == nil || !strings.Contains(err.Error(), "1 problem (") {
		t.Errorf("missing features: %v\n%s", err, out)
	}
	wantLines(t, out, "problem: ", feat, fmt.Sprintf("built %d of %d examples, 1 failed", nv-1, nv))

	// A corrupt caption line: the file and the line are named.
	capFile := filepath.Join(dir, synth.Layout.CCVal)
	lines := readLines(t, capFile)
	lines[1] = lines[1][:len(lines[1])/2]
	writeLines(t, capFile, lines)
	out, err = runCheck(t, cfg, "val")
	if err == nil || !strings.Contains(err.Error(), capFile) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("corrupt line: %v\n%s", err, out)
	}
}

// vcrWorld is a synthetic world and a VCR Q2AR config on its vcr/ data (its
// categories.txt names the shapes as object classes).
func vcrWorld(t *testing.T) (string, string) {
	dir, _ := checkWorld(t)
	return dir, vcrConfig(t, dir)
}

// vcrConfig is configs/synth/vcr.yaml on the world in dir with TASK Q2AR
// (both tasks checked).
func vcrConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/synth/vcr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.Replace(string(b), "DATASET_PATH: './demo-out/data/vcr'", "DATASET_PATH: '"+filepath.Join(dir, synth.Layout.VCR)+"'", 1)
	yml = strings.Replace(yml, "TASK: 'Q2A'", "TASK: 'Q2AR'", 1)
	if !strings.Contains(yml, "TASK: 'Q2AR'") || !strings.Contains(yml, dir) {
		t.Fatal("configs/synth/vcr.yaml: DATASET_PATH or TASK not found")
	}
	path := filepath.Join(t.TempDir(), "vcr.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDataCheckVCR(t *testing.T) {
	dir, cfg := vcrWorld(t)
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	annPath := filepath.Join(dir, synth.Layout.VCR, "val.jsonl")
	wantLines(t, out, "vcr val: "+annPath+": 6 questions on 6 lines (0 unreadable); checking 6",
		"vcr val: built 6 of 6 questions on 3 images", "vcr val: boxes per question (image box included): min 3",
		"vcr val: wordpieces: question min 4, ", // "where is <name> ?"
		"vcr val: truncated to 64 wordpieces: Q2A 0 of 6 questions, QA2R 0 of 6 questions",
		"vcr val: vocabulary: 100.00% of", "ok (0 warnings)")
	// Test mode: no labels needed, QA2R is not truncated.
	out, err = runCheck(t, cfg, "test")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantLines(t, out, "Q2A 0 of 6 questions, QA2R not truncated in test mode")

	// Plant problems: lines 1-2 are about scene A, 3-4 about B, 5-6 about C.
	lines := readLines(t, annPath)
	var recs []map[string]any
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	img := func(i int, key string) string {
		return filepath.Join(dir, synth.Layout.VCR, "vcr1images", recs[i][key].(string))
	}
	lines[1] = lines[1][:40] // corrupt JSON
	recs[2]["question"] = []any{"what", "is", []any{9}, "?"}
	b, _ := json.Marshal(recs[2])
	lines[2] = string(b) // detection 9 of 2 or 3
	writeLines(t, annPath, lines)
	mustRemove(t, img(0, "img_fn"))      // scene A's image
	mustRemove(t, img(4, "metadata_fn")) // scene C's metadata
	// Scene B's first object loses its polygon: a warning, not a problem.
	var meta map[string]any
	mb, _ := os.ReadFile(img(3, "metadata_fn"))
	if err := json.Unmarshal(mb, &meta); err != nil {
		t.Fatal(err)
	}
	meta["segms"].([]any)[0] = []any{}
	mb, _ = json.Marshal(meta)
	if err := os.WriteFile(img(3, "metadata_fn"), mb, 0o644); err != nil {
		t.Fatal(err)
	}

	out, err = runCheck(t, cfg, "val")
	if err == nil || !strings.Contains(err.Error(), "5 problems") {
		t.Fatalf("planted problems: %v\n%s", err, out)
	}
	wantLines(t, out,
		"problem: "+annPath+" line 2: unexpected end of JSON input",
		"problem: "+annPath+" line 3: annot_id val-2: question token 2 refers to detection 9 of",
		"problem: "+annPath+" line 1 (annot_id val-0): image: ", img(0, "img_fn"),
		"problem: "+annPath+" line 5 (annot_id val-4): metadata: ", img(4, "metadata_fn"),
		"problem: "+annPath+" line 6 (annot_id val-5): metadata: ",
		"warning: "+annPath+" line 4 (annot_id val-3): "+img(3, "metadata_fn")+": object 0 has no polygon (empty mask)",
		"vcr val: "+annPath+": 4 questions on 6 lines (2 unreadable); checking 4",
		"vcr val: built 1 of 4 questions", "5 problems, 1 warning")
}

// The synthetic world's VCR data names its objects after shapes, listed in
// its categories.txt: the check passes and runs the trainer's loader for both
// tasks. An object class the file does not list is a problem naming the
// annotation file and line.
func TestDataCheckVCRWorldCategories(t *testing.T) {
	dir, cfg := vcrWorld(t)
	vdir := filepath.Join(dir, synth.Layout.VCR)
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantLines(t, out, "vcr val: 5 object classes from "+filepath.Join(vdir, "categories.txt"),
		"vcr val: Q2A:\ntraining loader: built 6 of 6 examples, 0 failed",
		"vcr val: QA2R:\ntraining loader: built 6 of 6 examples, 0 failed", "ok (0 warnings)")

	annPath := filepath.Join(vdir, "val.jsonl")
	lines := readLines(t, annPath)
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	rec["objects"].([]any)[0] = "person"
	b, _ := json.Marshal(rec)
	lines[1] = string(b)
	writeLines(t, annPath, lines)
	out, err = runCheck(t, cfg, "val")
	if err == nil {
		t.Fatalf("unknown class passed:\n%s", out)
	}
	wantLines(t, out, "problem: "+annPath+" line 2 (annot_id val-1): ", `object 0 has unknown class "person"`,
		"training loader: not run: fix the problems above first")
}

func TestDataCheckRefCOCOWorld(t *testing.T) {
	dir, _ := checkWorld(t)
	cfg := synthConfig(t, "ground", dir)
	refsPath := filepath.Join(dir, synth.Layout.RefCOCO, "refs(unc).p")
	refs, err := refcoco.ReadRefs(refsPath)
	if err != nil {
		t.Fatal(err)
	}
	var val []refcoco.Ref
	ntrain := 0
	for _, r := range refs {
		if r.Split == "val" {
			val = append(val, r)
		} else {
			ntrain++
		}
	}
	if len(val) < 2 {
		t.Fatalf("world has %d val refs", len(val))
	}
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	nv := len(val)
	wantLines(t, out,
		fmt.Sprintf("refcoco+ %s: %d refs: train %d refs (%d sentences), val %d refs (%d sentences)", refsPath, len(refs), ntrain, ntrain, nv, nv),
		fmt.Sprintf("refcoco+ val (val): %d expressions of %d refs; checking %d", nv, nv, nv),
		"candidate boxes per image (proposal, image box included): min 3",
		// The world's detections are its objects: exactly one positive each.
		"positive candidates (IoU > 0.5 with the referred box) per expression: min 1, mean 1.0, max 1; 0 expressions have none",
		"vocabulary: 100.00% of", fmt.Sprintf("training loader: built %d of %d examples, 0 failed", nv, nv), "ok (0 warnings)")

	// Plant: the first val ref's object is missing from instances.json, and
	// the feature file of the last val ref's image is gone.
	instPath := filepath.Join(dir, synth.Layout.RefCOCO, "instances.json")
	var inst map[string]any
	ib, _ := os.ReadFile(instPath)
	if err := json.Unmarshal(ib, &inst); err != nil {
		t.Fatal(err)
	}
	var anns []any
	for _, a := range inst["annotations"].([]any) {
		if int64(a.(map[string]any)["id"].(float64)) != val[0].AnnID {
			anns = append(anns, a)
		}
	}
	inst["annotations"] = anns
	ib, _ = json.Marshal(inst)
	if err := os.WriteFile(instPath, ib, 0o644); err != nil {
		t.Fatal(err)
	}
	last := val[nv-1]
	feat := filepath.Join(dir, synth.Layout.Features, fmt.Sprintf("%d.json", last.ImageID))
	mustRemove(t, feat)
	sameImage := 0
	for _, r := range val[1:] {
		if r.ImageID == last.ImageID {
			sameImage++
		}
	}
	out, err = runCheck(t, cfg, "val")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d problems", 1+sameImage)) {
		t.Fatalf("planted problems (want %d): %v\n%s", 1+sameImage, err, out)
	}
	wantLines(t, out,
		fmt.Sprintf("problem: %s: ref_id %d: ann_id %d is not in %s", refsPath, val[0].RefID, val[0].AnnID, instPath),
		fmt.Sprintf("problem: %s: ref_id %d sent_id %d (image %d): features: ", refsPath, last.RefID, last.Sentences[0].SentID, last.ImageID), feat,
		fmt.Sprintf("refcoco+ val (val): %d expressions of %d refs", nv-1, nv),
		"training loader: not run: refcoco: ref_id")
}

// writeJPEG writes a w×h grey JPEG.
func writeJPEG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The original layout: refs(unc).p, the refer and COCO instances, MAttNet
// proposals and COCO_train2014 images (internal/data/refcoco's fixtures:
// refs 0 and 4 are train refs on image 1001 with 3 sentences, ref 2 the val
// ref on image 1002).
func TestDataCheckRefCOCOOriginal(t *testing.T) {
	root := t.TempDir()
	src := "../../internal/data/refcoco/testdata/"
	for _, f := range []string{"refcoco+/refs(unc).p", "refcoco+/instances.json", "annotations/instances_train2014.json",
		"refcoco+/proposal/res101_coco_minus_refer_notime_dets.json"} {
		copyTo(t, src+f, filepath.Join(root, f))
	}
	imgA := filepath.Join(root, "train2014/COCO_train2014_000000001001.jpg")
	writeJPEG(t, imgA, 640, 480)
	writeJPEG(t, filepath.Join(root, "train2014/COCO_train2014_000000001002.jpg"), 500, 375)
	cfg := filepath.Join(root, "ref.yaml")
	yml := "MODULE: ResNetVLBERT\nDATASET:\n  DATASET: refcoco+\n  DATASET_PATH: '" + root + "'\n  TRAIN_IMAGE_SET: train\n  VAL_IMAGE_SET: val\n" +
		"  TRAIN_BOXES: proposal+gt\n  VAL_BOXES: proposal\n  ADD_IMAGE_AS_A_BOX: true\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCheck(t, cfg, "train")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	refsPath := filepath.Join(root, "refcoco+/refs(unc).p")
	wantLines(t, out,
		"refcoco+ "+refsPath+": 5 refs: train 2 refs (3 sentences), testA 1 refs (1 sentences), val 1 refs (1 sentences), testB 1 refs (2 sentences)",
		"refcoco+ train (train): 3 expressions of 2 refs; checking 3",
		"candidate boxes per image (proposal+gt, image box included): min 6, mean 6.0, max 6 over 1 images",
		"refcoco+ train: gt boxes per image: min 3, mean 3.0, max 3; proposals per image: min 2, mean 2.0, max 2",
		// The GT box itself and one proposal overlap each referred object.
		"per expression: min 2, mean 2.0, max 2; 0 expressions have none",
		"training loader: not run: ", "ok (")

	// A missing image fails each of its expressions, named by ref and sentence.
	mustRemove(t, imgA)
	out, err = runCheck(t, cfg, "train")
	if err == nil || !strings.Contains(err.Error(), "3 problems") {
		t.Fatalf("missing image: %v\n%s", err, out)
	}
	wantLines(t, out, "problem: "+refsPath+": ref_id 0 sent_id ", "(image 1001): image: ", imgA)
}

// ZIP_MODE: images and metadata are members of DATASET_PATH/vcr1images.zip,
// under vcr1images/.
func TestDataCheckVCRZip(t *testing.T) {
	dir, cfg := vcrWorld(t)
	vdir := filepath.Join(dir, synth.Layout.VCR)
	f, err := os.Create(filepath.Join(vdir, "vcr1images.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(filepath.Join(vdir, "vcr1images"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(vdir, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.RemoveAll(filepath.Join(vdir, "vcr1images")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte("ZIP_MODE: false"), []byte("ZIP_MODE: true"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCheck(t, cfg, "val")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantLines(t, out, "vcr val: built 6 of 6 questions on 3 images", "ok (0 warnings)")
}
