package train

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/synth/synthtest"
)

// worldDir holds the tiny synthetic world every training test reads; TestMain
// writes it once.
var worldDir string

// refcocoE2EDir is the world's RefCOCO+ in the original data/coco layout
// (writeOriginalRefCOCO), which the e2e "ground" configs read.
var refcocoE2EDir string

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	if dir := os.Getenv(chaosEnv); dir != "" {
		os.Exit(runChaosChild(dir))
	}
	dir, err := os.MkdirTemp("", "vlbert-train-world-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	worldDir = filepath.Join(dir, "data")
	if err := writeWorld(worldDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// End to end, RefCOCO+ reads the original layout; its proposals are the
	// world's detections, the candidates of the precomputed configs.
	refcocoE2EDir = filepath.Join(dir, "refcoco-e2e")
	if err := writeOriginalRefCOCO(worldDir, refcocoE2EDir, true); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wrapFeatures = func(r features.Reader) features.Reader { return widenClasses{r} }
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeWorld(dir string) error {
	w, err := synth.Generate(synth.Config{Seed: 7, TrainScenes: 12, ValScenes: 4, ImageSize: 64, MinObjects: 2, MaxObjects: 4})
	if err != nil {
		return err
	}
	return synthtest.Write(w, dir)
}

// tinyConfig loads configs/synth/<name>.yaml for the world in dir, shrunk to
// a model that trains in well under a second per epoch, writing under out.
func tinyConfig(t testing.TB, name, dir, out string, overrides ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("../../configs/synth", name+".yaml"), "")
	if err != nil {
		t.Fatal(err)
	}
	sets := []string{
		"OUTPUT_PATH=" + out, "NUM_WORKERS_PER_GPU=1", "LOG_FREQUENT=5",
		"NETWORK.VLBERT.hidden_size=32", "NETWORK.VLBERT.visual_size=32", "NETWORK.IMAGE_FINAL_DIM=32",
		"NETWORK.VLBERT.num_hidden_layers=1", "NETWORK.VLBERT.num_attention_heads=2", "NETWORK.VLBERT.intermediate_size=64",
		"TRAIN.END_EPOCH=2", "TRAIN.WARMUP_STEPS=2",
	}
	switch name {
	case "vqa":
		sets = append(sets, "DATASET.DATASET_PATH="+dir, "DATASET.ANSWER_VOCAB_FILE="+filepath.Join(dir, synth.Layout.Answers), "TRAIN.BATCH_IMAGES=8", "VAL.BATCH_IMAGES=8", "TEST.BATCH_IMAGES=8", "TRAIN.LR=2.5e-4")
	case "ground":
		sets = append(sets, "DATASET.DATASET_PATH="+dir, "TRAIN.BATCH_IMAGES=8", "VAL.BATCH_IMAGES=8", "TEST.BATCH_IMAGES=8", "TRAIN.LR=2.5e-4")
	case "pretrain":
		corpus := filepath.Join(dir, synth.Layout.Corpus)
		sets = append(sets, "DATASET.0.DATASET_PATH="+dir, "DATASET.1.TRAIN_ANNOTATION_FILE="+corpus,
			"DATASET.1.VAL_ANNOTATION_FILE="+corpus, "DATASET.1.SEQ_LEN=16", "DATASET.1.MIN_SEQ_LEN=16", "NETWORK.VLBERT.visual_region_classes=1601", "TRAIN.BATCH_IMAGES=[4, 4]", "VAL.BATCH_IMAGES=[4, 4]", "TRAIN.LR=1.25e-4")
	}
	if err := cfg.SetAll(append(sets, overrides...)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// widenClasses makes a synthetic world's feature files readable by the
// Conceptual Captions dataset, which decodes 1601 class scores per box (it
// takes no class count yet): each box's synth.NumClasses scores are padded
// with zeros to 1601. Tests then train MVRC over 1601 classes, the first 25
// of which occur.
type widenClasses struct{ features.Reader }

func (w widenClasses) ReadFile(path string) ([]byte, error) {
	b, err := w.Reader.ReadFile(path)
	if err != nil || !strings.Contains(path, synth.Layout.Features) {
		return b, err
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(rec["classes"].(string))
	if err != nil {
		return nil, err
	}
	rows := len(raw) / 4 / synth.NumClasses
	out := make([]byte, rows*features.DefaultNumClasses*4)
	for r := 0; r < rows; r++ {
		copy(out[r*features.DefaultNumClasses*4:], raw[r*synth.NumClasses*4:(r+1)*synth.NumClasses*4])
	}
	rec["classes"] = base64.StdEncoding.EncodeToString(out)
	return json.Marshal(rec)
}
