package train

import (
	"bufio"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vcr"
)

// vcrConfig is configs/synth/vcr.yaml for the tiny world, shrunk as
// tinyConfig does.
func vcrConfig(t *testing.T, out string, overrides ...string) *config.Config {
	t.Helper()
	sets := append([]string{"DATASET.DATASET_PATH=" + filepath.Join(worldDir, synth.Layout.VCR),
		"TRAIN.BATCH_IMAGES=8", "VAL.BATCH_IMAGES=8", "TEST.BATCH_IMAGES=5", "TRAIN.LR=2.5e-4"}, overrides...)
	return tinyConfig(t, "vcr", worldDir, out, sets...)
}

// TestVCRLearns trains Q→A and QA→R on one fixed batch of the tiny world:
// the loss must fall well below chance (ln 4). Then a short run of each task
// through Run must validate (Acc and the loss logger) and leave its
// checkpoints.
func TestVCRLearns(t *testing.T) {
	for _, task := range []string{"Q2A", "QA2R"} {
		t.Run(task, func(t *testing.T) {
			cfg := vcrConfig(t, t.TempDir(), "DATASET.TASK="+task, "TRAIN.END_EPOCH=1", "TRAIN.WARMUP=false")
			tk, err := NewTask(cfg, "train", "val")
			if err != nil {
				t.Fatal(err)
			}
			defer tk.Close()
			m, err := buildModel(cfg, tk, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			const steps = 60
			tr, err := NewTrainer(cfg, tk, m, steps)
			if err != nil {
				t.Fatal(err)
			}
			ld := tk.Load(context.Background(), "train", [][]int{{0, 1, 2, 3, 4, 5}}, 0, 0, 0)
			b, err := ld.Next()
			ld.Close()
			if err != nil {
				t.Fatal(err)
			}
			var losses []float64
			for range steps {
				r, err := tr.Step(b, NewMetrics(tk.MetricNames()))
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, r.Loss)
			}
			first, last := losses[0], mean(losses[steps-5:])
			t.Logf("%s: loss %.4f -> %.4f", task, first, last)
			if math.Abs(first-math.Log(4)) > 0.05 || !(last < 0.5*first) {
				t.Errorf("loss %.4f -> %.4f, want from ln 4 to below half", first, last)
			}

			res := run(t, context.Background(), cfg, Options{})
			if acc := res.Val["Acc"]; !(acc >= 0 && acc <= 1) {
				t.Errorf("Val Acc %v", acc)
			}
			if l := res.Val["AnsLoss"]; math.IsNaN(l) || l <= 0 {
				t.Errorf("Val AnsLoss %v", l)
			}
			if _, err := os.Stat(bestCheckpoint(cfg.ModelPrefixPath("", cfgName))); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPredictVCR: `vlbert test` on a VCR config writes vcr/test.py's CSV of
// the config's task, one row per question of the split in file order, each
// group of four a softmax distribution; QA→R conditions on every answer.
func TestPredictVCR(t *testing.T) {
	anns, err := vcr.ReadAnnotations(filepath.Join(worldDir, synth.Layout.VCR, "val.jsonl"), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"Q2A", "QA2R"} {
		t.Run(task, func(t *testing.T) {
			out := t.TempDir()
			cfg := vcrConfig(t, out, "DATASET.TASK="+task)
			task0, err := NewTask(cfg, "train")
			if err != nil {
				t.Fatal(err)
			}
			m, err := buildModel(cfg, task0, io.Discard)
			task0.Close()
			if err != nil {
				t.Fatal(err)
			}
			ckpt := filepath.Join(out, "init.safetensors")
			saveWeights(t, m.Base(), ckpt)
			files, err := Predict(context.Background(), cfg, "configs/synth/vcr.yaml", ckpt, "val", out, InferenceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(out, "vcr_test_result_"+task+".csv")
			if len(files) != 1 || files[0] != want {
				t.Fatalf("files %v, want [%s]", files, want)
			}
			rows := readCSV(t, want)
			cols := 1 + 4
			if task == "QA2R" {
				cols = 1 + 16
				if rows[0][1] != "rationale_conditioned_on_a0_0" || rows[0][16] != "rationale_conditioned_on_a3_3" {
					t.Errorf("header %v", rows[0])
				}
			} else if rows[0][1] != "answer_0" || rows[0][4] != "answer_3" {
				t.Errorf("header %v", rows[0])
			}
			if rows[0][0] != "annot_id" || len(rows)-1 != len(anns) {
				t.Fatalf("%d rows (header %v) for %d questions", len(rows)-1, rows[0], len(anns))
			}
			distinct := map[string]bool{}
			for i, r := range rows[1:] {
				if len(r) != cols || r[0] != anns[i].AnnotID {
					t.Fatalf("row %d: %v, want %d columns for %s", i, r, cols, anns[i].AnnotID)
				}
				for g := 1; g < cols; g += 4 {
					s := 0.0
					for _, f := range r[g : g+4] {
						v, err := strconv.ParseFloat(f, 32)
						if err != nil || v < 0 || v > 1 {
							t.Fatalf("row %d: value %q", i, f)
						}
						s += v
					}
					if math.Abs(s-1) > 1e-5 {
						t.Errorf("row %d: probabilities %v sum to %v", i, r[g:g+4], s)
					}
					distinct[strings.Join(r[g:g+4], ",")] = true
				}
			}
			// The answers (rationales) differ, so a real forward gives
			// different distributions across questions and conditions.
			if len(distinct) < 2 {
				t.Errorf("every question got the same probabilities")
			}
		})
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), ","))
	}
	if len(rows) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return rows
}

// TestVCRConfigErrors: the unsupported variants fail before any work with a
// message naming the setting.
func TestVCRConfigErrors(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"NETWORK.IMAGE_NUM_LAYERS=34", "obj_downsample takes 2·2048"}, // fails in the original
		{"NETWORK.IMAGE_NUM_LAYERS=18", "obj_downsample takes 2·2048"},
		{"NETWORK.OUTPUT_CONV5=true", "AttributeError"}, // fails in the original
		{"DATASET.TASK=Q2AR", "want Q2A or QA2R"},
		{"DATASET.DATASET_PATH=" + t.TempDir(), "train.jsonl"},
	} {
		_, err := NewTask(vcrConfig(t, t.TempDir(), c.set, "NETWORK.IMAGE_FEAT_PRECOMPUTED=false"), "train")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.set, err, c.want)
		}
	}
}

// TestVCRCategories: the world's categories file makes its shape names
// classes 1..4; a VCR directory without one reads with the COCO classes.
func TestVCRCategories(t *testing.T) {
	dir := filepath.Join(worldDir, synth.Layout.VCR)
	cats, err := vcr.DataCategories(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cats, " ") != "__background__ circle square triangle diamond" {
		t.Errorf("categories %v", cats)
	}
	// A VCR directory with no categories file outside a world: COCO (nil).
	if cats, err := vcr.DataCategories(t.TempDir()); err != nil || cats != nil {
		t.Errorf("plain directory: %v, %v; want the COCO default (nil)", cats, err)
	}
	task, err := NewTask(vcrConfig(t, t.TempDir()), "val")
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	vt := task.(*vcrTask)
	s := vt.sets["val"]
	e, err := vt.example(s, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := s.anns[0]
	for i, o := range a.Objects {
		if got := cats[e.classes[i+1]]; got != o {
			t.Errorf("box %d: class %d (%s), want %s", i+1, e.classes[i+1], got, o)
		}
	}
	if e.classes[0] != 0 || e.n != len(a.Objects)+1 {
		t.Errorf("image box class %d, %d boxes for %d objects", e.classes[0], e.n, len(a.Objects))
	}
}
