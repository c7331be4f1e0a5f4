package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
)

// TestMissingDataPathSaysRunDemo: a shipped synth config on a fresh clone (no
// demo run, so no ./demo-out/data) fails before writing anything, with an
// error that says to run `vlbert demo` or to set DATASET.DATASET_PATH.
func TestMissingDataPathSaysRunDemo(t *testing.T) {
	for _, name := range []string{"vqa", "ground", "vcr", "pretrain"} {
		cfg, err := config.Load(filepath.Join("..", "..", "configs", "synth", name+".yaml"), "")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for i := range cfg.Datasets {
			cfg.Datasets[i].DatasetPath = filepath.Join(dir, "demo-out", "data")
		}
		_, err = Run(context.Background(), cfg, Options{CfgPath: name + ".yaml", ModelDir: dir})
		if err == nil || !strings.Contains(err.Error(), "vlbert demo") || !strings.Contains(err.Error(), "DATASET.DATASET_PATH") {
			t.Errorf("%s: error %v, want one saying to run `vlbert demo` or set DATASET.DATASET_PATH", name, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: the failed run wrote %v", name, ents)
		}
	}
}
