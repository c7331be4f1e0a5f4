package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vlbert/vlbert/internal/atomicfile"
	"github.com/vlbert/vlbert/internal/data/refcoco"
)

// Leaderboard formats of the original test scripts. The VQA writer is the
// vqa task's WriteResults; VCR and RefCOCO+ tasks call these once their
// model heads exist.

// VCRResult holds one VCR test question: the softmax probabilities of the
// four answers (Q→A) and, for each answer i the QA→R run was conditioned
// on, of the four rationales.
type VCRResult struct {
	AnnotID   string
	Answer    [4]float32
	Rationale [4][4]float32 // [i][j]: rationale j conditioned on answer i
}

// WriteVCRResults writes vcr/test.py's CSV files indexed by annot_id:
// {name}_test_result_Q2A.csv (answer_0..3), {name}_test_result_QA2R.csv
// (rationale_conditioned_on_a{i}_{j}) and the merged leaderboard file
// {name}_test_result_Q2AR.csv. Values are written as pandas does for
// float32 (shortest representation, "0.0" style for whole numbers).
func WriteVCRResults(dir, name string, results []VCRResult) ([]string, error) {
	answerCols := make([]string, 4)
	for i := range answerCols {
		answerCols[i] = fmt.Sprintf("answer_%d", i)
	}
	var rationaleCols []string
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			rationaleCols = append(rationaleCols, fmt.Sprintf("rationale_conditioned_on_a%d_%d", i, j))
		}
	}
	answers := func(r *VCRResult) []float32 { return r.Answer[:] }
	rationales := func(r *VCRResult) []float32 {
		out := make([]float32, 0, 16)
		for i := range r.Rationale {
			out = append(out, r.Rationale[i][:]...)
		}
		return out
	}
	files := []struct {
		task string
		cols []string
		vals func(*VCRResult) []float32
	}{
		{"Q2A", answerCols, answers},
		{"QA2R", rationaleCols, rationales},
		{"Q2AR", append(append([]string{}, answerCols...), rationaleCols...), func(r *VCRResult) []float32 { return append(answers(r), rationales(r)...) }},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, fmt.Sprintf("%s_test_result_%s.csv", name, f.task))
		err := atomicfile.WriteFile(path, func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			bw.WriteString("annot_id," + strings.Join(f.cols, ",") + "\n")
			for i := range results {
				bw.WriteString(csvField(results[i].AnnotID))
				for _, v := range f.vals(&results[i]) {
					bw.WriteString("," + pyFloat32(v))
				}
				bw.WriteString("\n")
			}
			return bw.Flush()
		})
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// pyFloat32 formats v as Python prints a float32 value: the shortest
// round-tripping digits, with ".0" on whole numbers.
func pyFloat32(v float32) string {
	s := strconv.FormatFloat(float64(v), 'g', -1, 32)
	if !strings.ContainsAny(s, ".eEn") { // not NaN/Inf, no fraction
		s += ".0"
	}
	return s
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// RefPrediction is one RefCOCO+ expression's predicted box in original image
// coordinates (x1, y1, x2, y2).
type RefPrediction struct {
	RefID int64      `json:"ref_id"`
	Box   [4]float64 `json:"box"`
}

// WriteRefCOCOResults writes refcoco/test.py's [{"ref_id", "box"}] JSON as
// {dir}/{name}_refcoco+_{split}.json and returns it with the accuracy at
// IoU ≥ 0.5 (+1-pixel IoU) against gt (one box per prediction; nil: no
// accuracy, returned as NaN).
func WriteRefCOCOResults(dir, name, split string, preds []RefPrediction, gt [][4]float64) (string, float64, error) {
	acc := nan()
	if gt != nil {
		if len(gt) != len(preds) {
			return "", 0, fmt.Errorf("train: %d ground-truth boxes for %d predictions", len(gt), len(preds))
		}
		boxes := make([][4]float64, len(preds))
		for i, p := range preds {
			boxes[i] = p.Box
		}
		acc = refcoco.Accuracy(boxes, gt)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("train: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s_refcoco+_%s.json", name, split))
	if preds == nil {
		preds = []RefPrediction{}
	}
	err := atomicfile.WriteFile(path, func(w io.Writer) error { return json.NewEncoder(w).Encode(preds) })
	if err != nil {
		return "", 0, fmt.Errorf("train: %s: %w", path, err)
	}
	return path, acc, nil
}

func writeText(path, s string) error {
	err := atomicfile.WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
	if err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}
