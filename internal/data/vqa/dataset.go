package vqa

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
)

// Tokenizer is the part of the BERT tokenizer the dataset needs;
// *tokenizer.Tokenizer implements it.
type Tokenizer interface {
	Tokenize(text string) []string
	ConvertTokensToIDs(tokens []string) ([]int, error)
}

// Dataset builds VQA examples (the original vqa.py __getitem__) from entries and
// per-image bottom-up feature files. It is safe for concurrent use when FS is.
type Dataset struct {
	Entries []Entry
	Vocab   *AnswerVocab // needed unless TestMode
	Tok     Tokenizer
	FS      features.Reader // reads feature files (zipfs.FS handles zip mode)

	// BoxFile and ImageFile give an entry's feature JSON and image paths.
	BoxFile   func(e *Entry) string
	ImageFile func(e *Entry) string // may be nil in precomputed mode

	Precomputed bool              // IMAGE_FEAT_PRECOMPUTED: append the FeatureDim-d features to the boxes
	FeatureDim  int               // NETWORK.IMAGE_FEAT_DIM: every record's feature width (0: Features.FeatureDim, else 2048)
	AddImageBox bool              // ADD_IMAGE_AS_A_BOX (true in every config)
	Transform   data.BoxTransform // resize 600/1000 and flip (0.5 train, 0 val/test)
	TestMode    bool              // no answers, no labels
	Features    features.Options  // feature decoding; zero value = VQAOptions() when Precomputed
	LeftRight   bool              // swap left/right in question and answers of flipped samples (true in the original)
	FixAnswers  bool              // opt-in fix (§7.2.10): ProcessPunctuation the human answers as the vocab was
}

// Len is the number of questions.
func (d *Dataset) Len() int { return len(d.Entries) }

// Example builds example i. Random draws (flip) come from rng.
func (d *Dataset) Example(i int, rng *rand.Rand) (*data.VQAExample, error) {
	if i < 0 || i >= len(d.Entries) {
		return nil, fmt.Errorf("vqa: example %d outside [0, %d)", i, len(d.Entries))
	}
	e := &d.Entries[i]
	opt := d.Features
	if opt == (features.Options{}) {
		opt = features.Options{Features: d.Precomputed}
	}
	boxPath := d.BoxFile(e)
	rec, err := features.LoadJSON(d.FS, boxPath, opt.WithFeatureDim())
	if err != nil {
		return nil, fmt.Errorf("vqa: question %d: %w", e.QuestionID, err)
	}
	want := d.FeatureDim
	if want == 0 && opt.FeatureDim > 0 {
		want = opt.FeatureDim // the width the caller's Features options ask for
	}
	if err := features.CheckFeatureDim(boxPath, rec, want); err != nil {
		return nil, fmt.Errorf("vqa: question %d: %w", e.QuestionID, err)
	}
	w0, h0 := e.Width, e.Height
	if w0 <= 0 || h0 <= 0 {
		w0, h0 = rec.ImageW, rec.ImageH
	}
	ex := &data.VQAExample{Index: i, QuestionID: e.QuestionID, ImageID: e.ImageID}
	if d.ImageFile != nil {
		ex.ImagePath = d.ImageFile(e)
	}
	ex.Boxes, ex.NumBoxes, ex.BoxDim, err = d.buildBoxes(rec, opt, w0, h0)
	if err != nil {
		return nil, fmt.Errorf("vqa: %s: %w", boxPath, err)
	}
	ex.ImInfo, ex.Flipped = d.Transform.Apply(rng, ex.Boxes, ex.NumBoxes, ex.BoxDim, w0, h0)

	tokens := d.Tok.Tokenize(e.Question)
	if ex.Flipped && d.LeftRight {
		tokens = data.SwapLeftRight(tokens)
	}
	if !d.TestMode {
		if d.Vocab == nil {
			return nil, fmt.Errorf("vqa: Dataset.Vocab is nil outside test mode")
		}
		answers := e.Answers
		if ex.Flipped && d.LeftRight {
			answers = make([]string, len(e.Answers))
			for k, a := range e.Answers {
				answers[k] = strings.Join(data.SwapLeftRight(strings.Split(a, " ")), " ")
			}
		}
		if d.FixAnswers {
			fixed := make([]string, len(answers))
			for k, a := range answers {
				fixed[k] = ProcessPunctuation(a)
			}
			answers = fixed
		}
		ex.Label = make([]float32, d.Vocab.Len())
		d.Vocab.SoftTarget(ex.Label, answers)
	}
	ids, err := d.Tok.ConvertTokensToIDs(tokens)
	if err != nil {
		return nil, fmt.Errorf("vqa: question %d: %w", e.QuestionID, err)
	}
	ex.Question = make([]int64, len(ids))
	for k, id := range ids {
		ex.Question[k] = int64(id)
	}
	return ex, nil
}

// buildBoxes lays out [whole image; detections] rows of 4 (+ feature) floats.
// The whole-image feature is image_box_feature when the file has one, else the
// mean of the box features.
func (d *Dataset) buildBoxes(rec *features.Record, opt features.Options, w0, h0 int) ([]float32, int, int, error) {
	dim := 4
	if d.Precomputed {
		if rec.Features == nil {
			return nil, 0, 0, fmt.Errorf("no features decoded (precomputed mode needs Features)")
		}
		dim += rec.FeatureDim
	}
	n := rec.NumBoxes
	first := 0
	if d.AddImageBox {
		n++
		first = 1
	}
	if n == 0 {
		return nil, 0, 0, fmt.Errorf("no boxes")
	}
	boxes := make([]float32, n*dim)
	for r := range rec.NumBoxes {
		row := boxes[(first+r)*dim:]
		copy(row[:4], rec.Boxes[4*r:4*r+4])
		if d.Precomputed {
			copy(row[4:dim], rec.Features[r*rec.FeatureDim:(r+1)*rec.FeatureDim])
		}
	}
	if d.AddImageBox {
		copy(boxes[:4], []float32{0, 0, float32(w0 - 1), float32(h0 - 1)})
		if d.Precomputed {
			if rec.ImageBoxFeature != nil {
				copy(boxes[4:dim], rec.ImageBoxFeature)
			} else {
				data.MeanFeature(boxes[4:dim], boxes[dim:], rec.NumBoxes, dim, 4, rec.FeatureDim)
			}
		}
	}
	return boxes, n, dim, nil
}

// GroupIDs returns the aspect-ratio group of each entry (data.AspectGroup:
// 0 when width ≥ height, 1 when taller), the original's group_aspect over the
// COCO image sizes, for data.Sampler.Groups (TRAIN.ASPECT_GROUPING). Entries
// without a known size are group 0; FillImageSizes gives them one.
func (d *Dataset) GroupIDs() []int {
	g := make([]int, len(d.Entries))
	for i, e := range d.Entries {
		g[i] = data.AspectGroup(e.Width, e.Height)
	}
	return g
}

// FillImageSizes sets Width and Height of the entries that lack them (a
// layout without the COCO image info, such as the synthetic world's) from
// image_w and image_h of their feature files, reading each file once and
// decoding only its header and boxes. Example falls back to those same fields,
// so the examples do not change.
func (d *Dataset) FillImageSizes() error {
	type size struct{ w, h int }
	seen := map[string]size{}
	for i := range d.Entries {
		e := &d.Entries[i]
		if e.Width > 0 && e.Height > 0 {
			continue
		}
		path := d.BoxFile(e)
		s, ok := seen[path]
		if !ok {
			rec, err := features.LoadJSON(d.FS, path, features.Options{})
			if err != nil {
				return fmt.Errorf("vqa: question %d: %w", e.QuestionID, err)
			}
			s = size{rec.ImageW, rec.ImageH}
			seen[path] = s
		}
		e.Width, e.Height = s.w, s.h
	}
	return nil
}

// Catalog maps VQA image-set names to the original's file layout under DataPath
// (data/coco): questions, annotations, precomputed boxes and COCO images.
type Catalog struct {
	DataPath string
	Boxes    string // "10-100ada" (the configs) or "36"
	ZipMode  bool
	imdb     bool // read the questions from the imdb files (LoadIMDBEntries)
}

var vqaSplitImages = map[string]string{
	"train2014": "train2014", "valminusminival2014": "val2014", "val2014": "val2014",
	"minival2014": "val2014", "test-dev2015": "test2015", "test2015": "test2015",
}

// QuestionFile is vqa/v2_OpenEnded_mscoco_{set}_questions.json.
func (c Catalog) QuestionFile(set string) string {
	return filepath.Join(c.DataPath, "vqa", "v2_OpenEnded_mscoco_"+set+"_questions.json")
}

// AnnotationFile is vqa/v2_mscoco_{set}_annotations.json.
func (c Catalog) AnnotationFile(set string) string {
	return filepath.Join(c.DataPath, "vqa", "v2_mscoco_"+set+"_annotations.json")
}

// COCOInfoFile is the COCO file with the image sizes of set.
func (c Catalog) COCOInfoFile(set string) (string, error) {
	img, ok := vqaSplitImages[set]
	if !ok {
		return "", fmt.Errorf("vqa: unknown image set %q", set)
	}
	if img == "test2015" {
		return filepath.Join(c.DataPath, "annotations", "image_info_test2015.json"), nil
	}
	return filepath.Join(c.DataPath, "annotations", "instances_"+img+".json"), nil
}

// BoxFile is the precomputed-feature JSON of an image of set.
func (c Catalog) BoxFile(set string, imageID int64) (string, error) {
	img, ok := vqaSplitImages[set]
	if !ok {
		return "", fmt.Errorf("vqa: unknown image set %q", set)
	}
	var dir string
	switch c.Boxes {
	case "36":
		dir = "trainval_resnet101_faster_rcnn_genome_36"
		if img == "test2015" {
			dir = "test2015_resnet101_faster_rcnn_genome_36"
		}
	case "10-100ada", "":
		dir = "trainval2014_resnet101_faster_rcnn_genome"
		if img == "test2015" {
			dir = "test2015_resnet101_faster_rcnn_genome"
		}
	default:
		return "", fmt.Errorf("vqa: unsupported BOXES %q", c.Boxes)
	}
	base := filepath.Join(c.DataPath, "vgbua_res101_precomputed")
	name := fmt.Sprintf("%d.json", imageID)
	if c.ZipMode {
		return filepath.Join(base, dir) + ".zip@/" + dir + "/" + name, nil
	}
	return filepath.Join(base, dir, name), nil
}

// ImageFile is COCO_{img}_{id:012d}.jpg of set.
func (c Catalog) ImageFile(set string, imageID int64) (string, error) {
	img, ok := vqaSplitImages[set]
	if !ok {
		return "", fmt.Errorf("vqa: unknown image set %q", set)
	}
	name := fmt.Sprintf("COCO_%s_%012d.jpg", img, imageID)
	if c.ZipMode {
		return filepath.Join(c.DataPath, img) + ".zip@/" + img + "/" + name, nil
	}
	return filepath.Join(c.DataPath, img, name), nil
}

// LoadEntries loads the entries of image sets ("train2014+val2014") with image
// sizes from COCO when withCOCOSizes, checking that every image has a size.
func (c Catalog) LoadEntries(imageSets string, testMode, withCOCOSizes bool) ([]Entry, error) {
	var all []Entry
	for _, set := range strings.Split(imageSets, "+") {
		set = strings.TrimSpace(set)
		if _, ok := vqaSplitImages[set]; !ok {
			return nil, fmt.Errorf("vqa: unknown image set %q", set)
		}
		ann := c.AnnotationFile(set)
		if testMode {
			ann = ""
		}
		entries, err := c.readEntries(set, ann)
		if err != nil {
			return nil, err
		}
		var sizes map[int64]ImageSize
		if withCOCOSizes {
			info, err := c.COCOInfoFile(set)
			if err != nil {
				return nil, err
			}
			if sizes, err = LoadCOCOImageSizes(info); err != nil {
				return nil, err
			}
		}
		for i := range entries {
			entries[i].ImageSet = set
			if sizes != nil {
				s, ok := sizes[entries[i].ImageID]
				if !ok {
					return nil, fmt.Errorf("vqa: %s: question %d: image %d has no size in the COCO file", set, entries[i].QuestionID, entries[i].ImageID)
				}
				entries[i].Width, entries[i].Height = s.Width, s.Height
			}
		}
		all = append(all, entries...)
	}
	return all, nil
}

// LoadIMDBEntries is LoadEntries with the questions read from the pythia imdb
// files (DATASET.USE_IMDB): {DataPath}/vqa/vqa_imdb/imdb_{set}.npy.
func (c Catalog) LoadIMDBEntries(imageSets string, testMode, withCOCOSizes bool) ([]Entry, error) {
	c.imdb = true
	return c.LoadEntries(imageSets, testMode, withCOCOSizes)
}

func (c Catalog) readEntries(set, ann string) ([]Entry, error) {
	if c.imdb {
		switch set {
		case "train2014", "val2014", "test2015", "minival2014":
		default: // the keys of the original's vqa_imdb table
			return nil, fmt.Errorf("vqa: DATASET.USE_IMDB: the original has no imdb for image set %q (train2014, val2014, test2015, minival2014)", set)
		}
		return ReadIMDB(c.IMDBFile(set), set, ann == "")
	}
	return LoadQuestions(c.QuestionFile(set), ann)
}
