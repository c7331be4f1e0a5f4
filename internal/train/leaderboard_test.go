package train

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestWriteVCRResults(t *testing.T) {
	dir := t.TempDir()
	res := []VCRResult{
		{AnnotID: "test-0", Answer: [4]float32{0.25, 0.5, 0.125, 0.125}},
		{AnnotID: "test-1", Answer: [4]float32{1, 0, 0, 0}},
	}
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			res[0].Rationale[i][j] = float32(i*4+j) / 16
			res[1].Rationale[i][j] = 0.1
		}
	}
	files, err := WriteVCRResults(dir, "vcr_base", res)
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	wantQ2A := "annot_id,answer_0,answer_1,answer_2,answer_3\ntest-0,0.25,0.5,0.125,0.125\ntest-1,1.0,0.0,0.0,0.0\n"
	if files[0] != dir+"/vcr_base_test_result_Q2A.csv" || read(files[0]) != wantQ2A {
		t.Errorf("%s:\n%s\nwant\n%s", files[0], read(files[0]), wantQ2A)
	}
	qa2r := strings.Split(read(files[1]), "\n")
	if !strings.HasPrefix(qa2r[0], "annot_id,rationale_conditioned_on_a0_0,rationale_conditioned_on_a0_1,") ||
		!strings.HasSuffix(qa2r[0], ",rationale_conditioned_on_a3_3") || strings.Count(qa2r[0], ",") != 16 {
		t.Errorf("QA2R header %q", qa2r[0])
	}
	if qa2r[1] != "test-0,0.0,0.0625,0.125,0.1875,0.25,0.3125,0.375,0.4375,0.5,0.5625,0.625,0.6875,0.75,0.8125,0.875,0.9375" {
		t.Errorf("QA2R row %q", qa2r[1])
	}
	merged := strings.Split(read(files[2]), "\n")
	if !strings.HasSuffix(files[2], "vcr_base_test_result_Q2AR.csv") || strings.Count(merged[0], ",") != 20 ||
		merged[2] != "test-1,1.0,0.0,0.0,0.0"+strings.Repeat(",0.1", 16) {
		t.Errorf("Q2AR file %s:\n%s", files[2], read(files[2]))
	}
}

func TestWriteRefCOCOResults(t *testing.T) {
	dir := t.TempDir()
	preds := []RefPrediction{{RefID: 7, Box: [4]float64{0, 0, 9, 9}}, {RefID: 9, Box: [4]float64{10, 10, 19.5, 19}}}
	gt := [][4]float64{{0, 0, 9, 14}, {30, 30, 40, 40}} // IoU 100/150 ≥ 0.5; no overlap
	path, acc, err := WriteRefCOCOResults(dir, "refcoco_base", "val", preds, gt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"ref_id":7,"box":[0,0,9,9]},{"ref_id":9,"box":[10,10,19.5,19]}]` + "\n"
	if path != dir+"/refcoco_base_refcoco+_val.json" || string(b) != want {
		t.Errorf("%s:\n%s\nwant\n%s", path, b, want)
	}
	if acc != 0.5 {
		t.Errorf("accuracy %v, want 0.5", acc)
	}
	if _, acc, _ := WriteRefCOCOResults(dir, "x", "test", nil, nil); !math.IsNaN(acc) {
		t.Errorf("accuracy without ground truth %v, want NaN", acc)
	}
}
