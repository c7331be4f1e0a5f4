package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/refcoco"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vcr"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/data/zipfs"
	"github.com/vlbert/vlbert/internal/logging"
)

// Report is report.json. Accuracies are on the val split (held-out scenes)
// with the final weights of each run; a metric of a phase that did not run is
// null.
type Report struct {
	VQAAccuracy             *float64           `json:"vqa_accuracy"`
	VQAMajorityBaseline     float64            `json:"vqa_majority_baseline"`
	VQAMajorityAnswer       string             `json:"vqa_majority_answer"`
	VQAAccuracyFromScratch  *float64           `json:"vqa_accuracy_from_scratch"`
	VQAAccuracyInt8         *float64           `json:"vqa_accuracy_int8"`     // pre-trained model, encoder in int8, answered through the inference pipeline
	VQAAccuracyPipeline     *float64           `json:"vqa_accuracy_pipeline"` // the same questions through the same pipeline in float32
	GroundingAccuracy       *float64           `json:"grounding_accuracy"`
	GroundingRandomBaseline float64            `json:"grounding_random_baseline"`
	GroundingFromScratch    *float64           `json:"grounding_accuracy_from_scratch"`
	VCRAccuracy             *float64           `json:"vcr_accuracy"`
	VCRFromScratch          *float64           `json:"vcr_accuracy_from_scratch"`
	VCRRandomBaseline       float64            `json:"vcr_random_baseline"`
	VCRAccuracyTextOnly     *float64           `json:"vcr_accuracy_text_only"` // pre-trained VCR model, every region blanked (vcrTextOnly)
	MLMAccuracy             *float64           `json:"mlm_accuracy"`           // caption rows (MLMAccWVC)
	MLMAccuracyTextOnly     *float64           `json:"mlm_accuracy_text"`      // text-only corpus rows (MLMAccAUX)
	MVRCAccuracy            *float64           `json:"mvrc_accuracy"`          // masked region class
	MVRCRandomBaseline      float64            `json:"mvrc_random_baseline"`
	VQAByType               []TypeAccuracy     `json:"vqa_accuracy_by_type"` // per question type, both VQA models
	Seconds                 float64            `json:"seconds"`              // wall time of the whole demo
	CPUSeconds              float64            `json:"cpu_seconds"`          // user + system CPU time of the process
	PhaseSeconds            map[string]float64 `json:"phase_seconds"`        // per phase wall time
	Threads                 int                `json:"threads"`
	Quick                   bool               `json:"quick"`
	Counts                  Counts             `json:"counts"`
	World                   synth.Config       `json:"world"`
	Plan                    Plan               `json:"plan"`
	Runs                    map[string]RunInfo `json:"runs"` // per training phase: val metrics, checkpoint, config
	Missing                 []string           `json:"missing,omitempty"`

	// The detector (held-out scenes, IoU 0.5, VOC-style AP) and its regions.
	DetectorMAP50         *float64           `json:"detector_map50"`
	DetectorRecall50      *float64           `json:"detector_recall50"`
	DetectorAP50          map[string]float64 `json:"detector_ap50_per_class"`
	DetectorAttrExact     *float64           `json:"detector_attr_exact"` // matched detections whose top attributes are the object's
	DetectorValObjects    int                `json:"detector_val_objects"`
	DetectedBoxesPerImage *float64           `json:"detected_boxes_per_image"` // val, after generate_tsv's selection
	DetectedObjectRecall  *float64           `json:"detected_object_recall"`   // val objects with a selected box at IoU >= 0.5
	FeatureScale          *float64           `json:"feature_scale"`            // factor applied to the written pool5 features (Plan.Detector.FeatureNorm)
	// VQAAccuracyOracle is VQA on the detector's features at the true boxes;
	// OracleMode says how it was obtained.
	VQAAccuracyOracle *float64 `json:"vqa_accuracy_oracle_boxes"`
	OracleMode        string   `json:"oracle_mode"`

	samples    []Sample
	detSamples []DetectorSample
	attention  *attentionView
}

// Counts are the sizes of the val data the metrics are computed on.
type Counts struct {
	TrainScenes   int `json:"train_scenes"`
	ValScenes     int `json:"val_scenes"`
	ValQuestions  int `json:"val_vqa_questions"`
	ValReferences int `json:"val_referring_expressions"`
	ValVCR        int `json:"val_vcr_questions"`
}

// RunInfo is one training phase in report.json.
type RunInfo struct {
	Checkpoint string             `json:"checkpoint"`
	Config     string             `json:"config"`
	Val        map[string]float64 `json:"val"`
	Seconds    float64            `json:"seconds"`
	Curve      []Point            `json:"loss_curve"`
}

// Point is one logged training loss.
type Point struct {
	Step int64   `json:"step"`
	Loss float64 `json:"loss"`
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// record copies a phase's val metrics into the report's headline fields.
func (rp *Report) record(name string, rr *runResult) {
	if rp.Runs == nil {
		rp.Runs = map[string]RunInfo{}
	}
	rp.Runs[name] = RunInfo{Checkpoint: rr.ckpt, Config: rr.cfgPath, Val: finite(rr.val), Seconds: rr.seconds, Curve: rr.curve}
	get := func(k string) *float64 {
		v, ok := rr.val[k]
		if !ok {
			return nil
		}
		return ptr(v)
	}
	switch name {
	case PhasePretrain:
		rp.MLMAccuracy, rp.MLMAccuracyTextOnly, rp.MVRCAccuracy = get("MLMAccWVC"), get("MLMAccAUX"), get("MVRCAccuracy")
	case PhaseVQA:
		rp.VQAAccuracy = get("SoftAcc")
	case PhaseVQAScratch:
		rp.VQAAccuracyFromScratch = get("SoftAcc")
	case PhaseGround:
		rp.GroundingAccuracy = get("RefAcc")
	case PhaseGroundScratch:
		rp.GroundingFromScratch = get("RefAcc")
	case PhaseVCR:
		rp.VCRAccuracy = get("Acc")
		if acc, err := vcrTextOnly(context.Background(), rr.cfgPath, rr.ckpt); err != nil {
			rp.Missing = append(rp.Missing, fmt.Sprintf("VCR with blanked regions: %v", err))
		} else {
			rp.VCRAccuracyTextOnly = ptr(acc)
		}
	case PhaseVCRScratch:
		rp.VCRFromScratch = get("Acc")
	case PhaseVQAOracle:
		rp.VQAAccuracyOracle = get("SoftAcc")
	}
}

// finite drops NaN/Inf values, which JSON cannot hold.
func finite(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

// summary prints the headline metrics.
func (rp *Report) summary(w io.Writer) {
	line := func(name string, v *float64, base string) {
		s := "n/a"
		if v != nil {
			s = fmt.Sprintf("%.3f", *v)
		}
		fmt.Fprintf(w, "  %-34s %7s  %s\n", name, s, base)
	}
	line("VQA accuracy (pre-trained)", rp.VQAAccuracy, fmt.Sprintf("(majority baseline %.3f)", rp.VQAMajorityBaseline))
	line("VQA accuracy (from scratch)", rp.VQAAccuracyFromScratch, "")
	pipe := ""
	if rp.VQAAccuracyPipeline != nil {
		pipe = fmt.Sprintf("(float32, same pipeline: %.3f)", *rp.VQAAccuracyPipeline)
	}
	line("VQA accuracy (pre-trained, --int8)", rp.VQAAccuracyInt8, pipe)
	line("grounding accuracy (pre-trained)", rp.GroundingAccuracy, fmt.Sprintf("(random box %.3f)", rp.GroundingRandomBaseline))
	line("grounding accuracy (from scratch)", rp.GroundingFromScratch, "")
	line("VCR accuracy (pre-trained)", rp.VCRAccuracy, fmt.Sprintf("(random %.2f)", rp.VCRRandomBaseline))
	line("VCR accuracy (from scratch)", rp.VCRFromScratch, "")
	line("VCR accuracy (regions blanked)", rp.VCRAccuracyTextOnly, "(text alone)")
	line("MLM accuracy (captions)", rp.MLMAccuracy, "")
	line("MVRC accuracy", rp.MVRCAccuracy, "")
}

// baselines are the chance levels of the val split.
type baselines struct {
	vqaMajority       float64
	vqaMajorityAnswer string
	groundRandom      float64
	counts            Counts
}

// computeBaselines reads the val data: VQA accuracy of always answering the
// most frequent val answer, and the expected grounding accuracy of picking
// one of the image's detected boxes at random (IoU ≥ 0.5 counts).
func computeBaselines(data string) (*baselines, error) {
	b := &baselines{}
	entries, err := valQuestions(data)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no val questions")
	}
	freq := map[string]int{}
	for _, e := range entries {
		freq[e.MultipleChoiceAnswer]++
	}
	answers := make([]string, 0, len(freq))
	for a := range freq {
		answers = append(answers, a)
	}
	sort.Slice(answers, func(i, j int) bool {
		if freq[answers[i]] != freq[answers[j]] {
			return freq[answers[i]] > freq[answers[j]]
		}
		return answers[i] < answers[j]
	})
	b.vqaMajorityAnswer = answers[0]
	for _, e := range entries {
		b.vqaMajority += vqa.Accuracy(b.vqaMajorityAnswer, e.Answers)
	}
	b.vqaMajority /= float64(len(entries))
	b.counts.ValQuestions = len(entries)

	refs, err := refcoco.ReadRefs(filepath.Join(data, synth.Layout.RefCOCO, "refs(unc).p"))
	if err != nil {
		return nil, err
	}
	inst, err := refcoco.ReadInstances(filepath.Join(data, synth.Layout.RefCOCO, "instances.json"))
	if err != nil {
		return nil, err
	}
	n := 0
	fs := zipfs.New()
	defer fs.Close()
	boxesOf := map[int64][][4]float64{}
	for _, ref := range refs {
		if ref.Split != "val" {
			continue
		}
		gt, ok := inst.Annotation(ref.AnnID)
		if !ok {
			return nil, fmt.Errorf("refcoco: ref %d: annotation %d missing", ref.RefID, ref.AnnID)
		}
		// The candidates are the image's detected boxes (its feature file).
		cands, ok := boxesOf[ref.ImageID]
		if !ok {
			rec, err := features.LoadJSON(fs, synth.FeatureFile(data, ref.ImageID), features.Options{})
			if err != nil {
				return nil, err
			}
			for k := 0; k < rec.NumBoxes; k++ {
				b := rec.Boxes[4*k : 4*k+4]
				cands = append(cands, [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])})
			}
			boxesOf[ref.ImageID] = cands
		}
		hit := 0
		for _, c := range cands {
			if refcoco.EvalIoU(c, xyxy(gt.BBox)) >= 0.5 {
				hit++
			}
		}
		for range ref.Sentences {
			b.groundRandom += float64(hit) / float64(max(len(cands), 1))
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("no val referring expressions")
	}
	b.groundRandom /= float64(n)
	b.counts.ValReferences = n
	vq, err := vcr.ReadAnnotations(filepath.Join(data, synth.Layout.VCR, "val.jsonl"), false)
	if err != nil {
		return nil, err
	}
	b.counts.ValVCR = len(vq)
	return b, nil
}

// xyxy converts a COCO x, y, w, h box to x1, y1, x2, y2.
func xyxy(b [4]float64) [4]float64 { return [4]float64{b[0], b[1], b[0] + b[2], b[1] + b[3]} }

// lossCurve reads the Train-Loss of every logged batch of a run.
func lossCurve(outDir string) ([]Point, error) {
	f, err := os.Open(filepath.Join(outDir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := logging.ReadMetrics(f)
	if err != nil {
		return nil, err
	}
	var pts []Point
	for _, r := range recs {
		if v, ok := r.Metrics[logging.TagTrainLoss]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			pts = append(pts, Point{Step: r.Step, Loss: v})
		}
	}
	return pts, nil
}

// valQuestions loads the world's VQA val questions with their answers.
func valQuestions(data string) ([]vqa.Entry, error) {
	q, a := synth.VQAFiles(synth.VQAImageSet("val"))
	return vqa.LoadQuestions(filepath.Join(data, q), filepath.Join(data, a))
}
