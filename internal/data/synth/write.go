package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/parallel"
)

// Layout names the files Write creates, relative to its directory. VQA follows
// the original data/coco layout (vqa/data/datasets/vqa.py): image sets
// train2014 and val2014, COCO image sizes in annotations/; the region
// features go where BOXES "10-100ada" puts them (Features), and the other
// data sets read the same feature files. Write leaves the feature
// directories to the detector that fills them (`vlbert demo`'s detect phase,
// `vlbert detect`); Detection is the detector's training set.
var Layout = struct {
	Images, Features, VCRFeatures, Detection, CCTrain, CCVal, Corpus, VQA, Answers, COCOAnnotations, RefCOCO, VCR, VCRCategories, Complete string
}{
	Images: "images", // {id}.png
	// {id}.json, bottom-up-attention per-image features (vlbert-json:
	// internal/detect/output), written by a detector
	Features: "vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome",
	// {id}.json, features at the VCR data set's given boxes (its metadata
	// boxes, in order), inside the VCR directory (internal/data/vcr.FeatureDir)
	VCRFeatures: "vcr/vgbua_res101_precomputed/trainval2014_resnet101_faster_rcnn_genome",
	// images/{train,val}/{id}.png, instances_{train,val}.json: COCO-style
	// instances with Visual Genome style attributes (WriteDetection)
	Detection:       "detection",
	CCTrain:         "train_frcnn.json", // Conceptual Captions JSON lines
	CCVal:           "val_frcnn.json",
	Corpus:          "corpus.doc", // text-only corpus, one sample a line
	VQA:             "vqa",        // v2_OpenEnded_mscoco_{set}_questions.json, v2_mscoco_{set}_annotations.json
	Answers:         "vqa/answers_vqa.txt",
	COCOAnnotations: "annotations", // instances_{set}.json: the images' sizes
	RefCOCO:         "refcoco+",    // refs(unc).p, instances.json (refer.py); features in Features
	VCR:             "vcr",         // {split}.jsonl, vcr1images/synth/{id}.png|json
	// The VCR objects are shapes, not COCO classes: the list a VCR reader uses
	// instead of COCO's (internal/data/vcr.CategoriesFile), background first.
	VCRCategories: "vcr/categories.txt",
	Complete:      "COMPLETE", // written last: the data set is whole
}

// VQAImageSet is the VQA image set ("train2014", "val2014") of the world's
// split ("train", "val"), as DATASET.{TRAIN,VAL}_IMAGE_SET name them.
func VQAImageSet(split string) string { return split + "2014" }

// VQAFiles are the question and annotation files of a VQA image set, relative
// to the world's directory.
func VQAFiles(set string) (questions, annotations string) {
	return filepath.Join(Layout.VQA, "v2_OpenEnded_mscoco_"+set+"_questions.json"),
		filepath.Join(Layout.VQA, "v2_mscoco_"+set+"_annotations.json")
}

// QuestionsPerScene and CorpusLines size the derived text data.
const (
	CaptionsPerScene  = 3 // training captions per scene (val: 1)
	QuestionsPerScene = 6
	VCRPerScene       = 2
	CorpusLines       = 2000
)

// Write renders the world and stores every data set under dir in the original
// on-disk formats, and the detector's training set (WriteDetection) in
// Layout.Detection; the region features are a detector's to write. The
// COMPLETE marker is written last, so a crash mid-way is never mistaken for a
// finished data set.
func Write(w *World, dir string) error {
	for _, sub := range []string{Layout.Images, Layout.VQA, Layout.COCOAnnotations, Layout.RefCOCO, filepath.Join(Layout.VCR, "vcr1images", "synth")} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	rng := rand.New(rand.NewPCG(w.Config.Seed, 0xda7a))
	splits := []struct {
		name   string
		scenes []Scene
	}{{"train", w.Train}, {"val", w.Val}}
	if err := writeScenes(dir, w); err != nil {
		return err
	}
	for _, sp := range splits {
		if err := writeCaptions(rng, dir, sp.name, sp.scenes); err != nil {
			return err
		}
		if err := writeVQA(rng, dir, sp.name, sp.scenes); err != nil {
			return err
		}
		if err := writeCOCOImages(dir, sp.name, sp.scenes); err != nil {
			return err
		}
		if err := writeVCR(rng, dir, sp.name, sp.scenes); err != nil {
			return err
		}
	}
	if err := writeCorpus(rng, dir); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(dir, Layout.Answers), AnswerVocab()); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(dir, Layout.VCRCategories), VCRCategories()); err != nil {
		return err
	}
	if err := writeRefCOCO(rng, dir, w); err != nil {
		return err
	}
	if err := WriteDetection(w, filepath.Join(dir, Layout.Detection)); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, Layout.Complete), completeMarker{layoutVersion, w.Config})
}

// layoutVersion numbers Layout: a world written in an older layout (version 1,
// features in frcnn/ and VQA image sets "train"/"val"; version 2, features
// made by the generator and no detection set) is not complete, so the demo
// writes it again.
const layoutVersion = 3

// completeMarker is the COMPLETE file's content.
type completeMarker struct {
	Layout int    `json:"layout"`
	Config Config `json:"config"`
}

// IsComplete reports whether dir holds a finished data set generated from cfg
// in the current layout.
func IsComplete(dir string, cfg Config) bool {
	b, err := os.ReadFile(filepath.Join(dir, Layout.Complete))
	if err != nil {
		return false
	}
	var got completeMarker
	return json.Unmarshal(b, &got) == nil && got.Layout == layoutVersion && got.Config == cfg
}

// writeScenes writes every scene's files on all cores.
func writeScenes(dir string, w *World) error {
	scenes := append(append([]Scene{}, w.Train...), w.Val...)
	errs := make([]error, len(scenes))
	parallel.For(len(scenes), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			errs[i] = writeScene(dir, scenes[i])
		}
	})
	return errors.Join(errs...)
}

// writeScene writes the image, its VCR copy and the VCR metadata (the given
// boxes, segmentations and names). Per-scene files are written without fsync:
// the COMPLETE marker, written last and atomically, is what makes the data
// set count.
func writeScene(dir string, s Scene) error {
	img := Render(s)
	name := fmt.Sprint(s.ID)
	var encoded bytes.Buffer
	if err := png.Encode(&encoded, img); err != nil {
		return fmt.Errorf("synth: scene %d: %w", s.ID, err)
	}
	for _, p := range []string{filepath.Join(dir, Layout.Images, name+".png"), filepath.Join(dir, Layout.VCR, "vcr1images", "synth", name+".png")} {
		if err := os.WriteFile(p, encoded.Bytes(), 0o644); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	meta := vcrMetadata{Width: s.Width, Height: s.Height}
	for _, o := range s.Objects {
		meta.Boxes = append(meta.Boxes, []float32{o.Box[0], o.Box[1], o.Box[2], o.Box[3], 1})
		meta.Names = append(meta.Names, Shapes[o.Shape])
		poly := Polygon(o)
		pts := make([][]float32, len(poly))
		for i, p := range poly {
			pts[i] = []float32{p[0], p[1]}
		}
		meta.Segms = append(meta.Segms, [][][]float32{pts})
	}
	return writePlainJSON(filepath.Join(dir, Layout.VCR, "vcr1images", "synth", name+".json"), meta)
}

func writePlainJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

type vcrMetadata struct {
	Boxes  [][]float32     `json:"boxes"`
	Segms  [][][][]float32 `json:"segms"`
	Names  []string        `json:"names"`
	Width  int             `json:"width"`
	Height int             `json:"height"`
}

func writeCaptions(rng *rand.Rand, dir, split string, scenes []Scene) error {
	path := filepath.Join(dir, Layout.CCTrain)
	if split == "val" {
		path = filepath.Join(dir, Layout.CCVal)
	}
	var lines []string
	per := CaptionsPerScene
	if split == "val" {
		per = 1
	}
	for _, s := range scenes {
		// Distinct captions of the scene (a few tries each; a small scene may
		// repeat one).
		seen := map[string]bool{}
		for k := 0; k < per; k++ {
			c := Caption(rng, s)
			for tries := 0; seen[strings.Join(c, " ")] && tries < 10; tries++ {
				c = Caption(rng, s)
			}
			seen[strings.Join(c, " ")] = true
			rec := map[string]any{
				"image":   filepath.ToSlash(filepath.Join(Layout.Images, fmt.Sprintf("%d.png", s.ID))),
				"caption": c,
				"frcnn":   filepath.ToSlash(filepath.Join(Layout.Features, fmt.Sprintf("%d.json", s.ID))),
			}
			b, _ := json.Marshal(rec)
			lines = append(lines, string(b))
		}
	}
	return writeLines(path, lines)
}

func writeCorpus(rng *rand.Rand, dir string) error {
	lines := make([]string, CorpusLines)
	for i := range lines {
		lines[i] = CorpusLine(rng)
	}
	return writeLines(filepath.Join(dir, Layout.Corpus), lines)
}

// writeVQA writes the VQA v2 question and annotation files. One annotator in five
// questions gives a different answer of the same type, so targets are soft.
func writeVQA(rng *rand.Rand, dir, split string, scenes []Scene) error {
	type q struct {
		ImageID    int    `json:"image_id"`
		Question   string `json:"question"`
		QuestionID int    `json:"question_id"`
	}
	type ans struct {
		Answer     string `json:"answer"`
		Confidence string `json:"answer_confidence"`
		ID         int    `json:"answer_id"`
	}
	type ann struct {
		Answers      []ans  `json:"answers"`
		MCAnswer     string `json:"multiple_choice_answer"`
		QuestionType string `json:"question_type"`
		AnswerType   string `json:"answer_type"`
		ImageID      int    `json:"image_id"`
		QuestionID   int    `json:"question_id"`
	}
	var qs []q
	var anns []ann
	for _, s := range scenes {
		for k, question := range Questions(rng, s, QuestionsPerScene) {
			id := s.ID*100 + k
			qs = append(qs, q{s.ID, question.Text, id})
			a := ann{MCAnswer: question.Answer, QuestionType: question.Type, AnswerType: answerType(question.Type), ImageID: s.ID, QuestionID: id}
			odd := -1
			if rng.IntN(5) == 0 {
				odd = rng.IntN(10)
			}
			for i := 0; i < 10; i++ {
				text := question.Answer
				if i == odd {
					text = sameTypeAnswer(rng, question)
				}
				a.Answers = append(a.Answers, ans{text, "yes", i + 1})
			}
			anns = append(anns, a)
		}
	}
	set := VQAImageSet(split)
	info := map[string]any{"description": "vlbert synthetic world", "data_subtype": set}
	qf, af := VQAFiles(set)
	if err := writeJSON(filepath.Join(dir, qf),
		map[string]any{"info": info, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": set, "questions": qs}); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, af),
		map[string]any{"info": info, "data_type": "mscoco", "data_subtype": set, "annotations": anns})
}

// writeCOCOImages writes annotations/instances_{set}.json with the images of
// split (COCO file names, sizes), where VQA reads the image sizes.
func writeCOCOImages(dir, split string, scenes []Scene) error {
	set := VQAImageSet(split)
	images := make([]any, len(scenes))
	for i, s := range scenes {
		images[i] = map[string]any{"id": s.ID, "width": s.Width, "height": s.Height,
			"file_name": fmt.Sprintf("COCO_%s_%012d.jpg", set, s.ID)}
	}
	return writeJSON(filepath.Join(dir, Layout.COCOAnnotations, "instances_"+set+".json"),
		map[string]any{"images": images, "annotations": []any{}, "categories": []any{}})
}

func answerType(qtype string) string {
	switch qtype {
	case "exist":
		return "yes/no"
	case "count":
		return "number"
	}
	return "other"
}

func sameTypeAnswer(rng *rand.Rand, q Question) string {
	switch q.Type {
	case "color":
		return Colors[rng.IntN(len(Colors))]
	case "shape":
		return Shapes[rng.IntN(len(Shapes))]
	case "count":
		return fmt.Sprint(rng.IntN(6))
	case "relation":
		return []string{"left", "right"}[rng.IntN(2)]
	}
	return yesNo(rng.IntN(2) == 0)
}

func writeVCR(rng *rand.Rand, dir, split string, scenes []Scene) error {
	var lines []string
	for _, s := range scenes {
		objects := make([]string, len(s.Objects))
		for i, o := range s.Objects {
			objects[i] = Shapes[o.Shape]
		}
		for k := 0; k < VCRPerScene; k++ {
			item := VCRQuestion(rng, s)
			rec := map[string]any{
				"annot_id":          fmt.Sprintf("%s-%d", split, len(lines)),
				"objects":           objects,
				"img_fn":            fmt.Sprintf("synth/%d.png", s.ID),
				"metadata_fn":       fmt.Sprintf("synth/%d.json", s.ID),
				"question":          item.Question,
				"answer_choices":    item.Answers,
				"rationale_choices": item.Rationales,
				"answer_label":      item.AnswerLabel,
				"rationale_label":   item.RationaleLabel,
			}
			b, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("synth: %w", err)
			}
			lines = append(lines, string(b))
		}
	}
	return writeLines(filepath.Join(dir, Layout.VCR, split+".jsonl"), lines)
}

// writeRefCOCO writes refs(unc).p (a protocol-2 pickle) and instances.json with the
// COCO-style images, annotations (boxes as x, y, w, h) and categories, named
// as refer.py's (images COCO_train2014_{id:012d}.jpg, refs
// COCO_train2014_{id:012d}_{ann_id}.jpg). RefCOCO+ is read with precomputed
// features (internal/data/refcoco, Files.Features): the per-image files in
// Layout.Features, whose detections are the candidate proposals.
func writeRefCOCO(rng *rand.Rand, dir string, w *World) error {
	var refs, images, anns []any
	var cats []any
	for c := 1; c < NumClasses; c++ {
		sh, col := (c-1)/len(Colors), (c-1)%len(Colors)
		cats = append(cats, map[string]any{"id": c, "name": Colors[col] + " " + Shapes[sh], "supercategory": "shape"})
	}
	annID, refID, sentID := 1, 1, 1
	for _, sp := range []struct {
		name   string
		scenes []Scene
	}{{"train", w.Train}, {"val", w.Val}} {
		for _, s := range sp.scenes {
			images = append(images, map[string]any{"id": s.ID, "width": s.Width, "height": s.Height, "file_name": fmt.Sprintf("COCO_train2014_%012d.jpg", s.ID)})
			first := annID
			for _, o := range s.Objects {
				bw, bh := float64(o.Box[2]-o.Box[0]), float64(o.Box[3]-o.Box[1])
				anns = append(anns, map[string]any{"id": annID, "image_id": s.ID, "category_id": o.Class(),
					"bbox": []any{float64(o.Box[0]), float64(o.Box[1]), bw, bh}, "area": bw * bh, "iscrowd": 0})
				annID++
			}
			for i := range s.Objects {
				expr, ok := ReferringExpression(rng, s, i)
				if !ok {
					continue
				}
				tokens := []any{}
				for _, t := range strings.Fields(expr) {
					tokens = append(tokens, t)
				}
				refs = append(refs, map[string]any{"ref_id": refID, "ann_id": first + i, "image_id": s.ID, "split": sp.name,
					"category_id": s.Objects[i].Class(), "file_name": fmt.Sprintf("COCO_train2014_%012d_%d.jpg", s.ID, first+i),
					"sentences": []any{map[string]any{"sent_id": sentID, "raw": expr, "sent": expr, "tokens": tokens}}})
				refID++
				sentID++
			}
		}
	}
	blob, err := encodePickle(refs)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, Layout.RefCOCO, "refs(unc).p"), func(wr io.Writer) error { _, err := wr.Write(blob); return err }); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return writeJSON(filepath.Join(dir, Layout.RefCOCO, "instances.json"), map[string]any{"images": images, "annotations": anns, "categories": cats})
}

func writeJSON(path string, v any) error {
	if err := atomicfile.WriteFile(path, func(w io.Writer) error { return json.NewEncoder(w).Encode(v) }); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

func writeLines(path string, lines []string) error {
	if err := atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
		return err
	}); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// IsWorld reports whether dir holds a synthetic world (finished or not yet
// checked against a config): readers use it to find the world's own file names.
func IsWorld(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, Layout.Complete))
	return err == nil
}

// FeatureFile is the per-image bottom-up feature file of image imageID in world dir
// (once a detector has written it).
func FeatureFile(dir string, imageID int64) string {
	return filepath.Join(dir, Layout.Features, fmt.Sprintf("%d.json", imageID))
}
