package train

import (
	"os"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
)

// TestDiagVQABatch prints one VQA batch of a full demo run (skipped without one).
func TestDiagVQABatch(t *testing.T) {
	p := os.Getenv("VLBERT_DIAG_VQA_CFG")
	if p == "" {
		t.Skip("VLBERT_DIAG_VQA_CFG not set")
	}
	cfg, err := config.Load(p, config.TaskVQA)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := NewTask(cfg, "train")
	if err != nil {
		t.Fatal(err)
	}
	vt := tk.(*vqaTask)
	d := vt.sets["train"]
	for i := 0; i < 3; i++ {
		ex, err := d.Example(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("ex %d: img %d q %v label %v nb %d iminfo %v", i, ex.ImageID, ex.Question, ex.Label, ex.NumBoxes, ex.ImInfo)
		for j := 0; j < ex.NumBoxes; j++ {
			r := ex.Boxes[j*ex.BoxDim : (j+1)*ex.BoxDim]
			var s float32
			for _, v := range r[4:] {
				s += v
			}
			t.Logf("  box %d %v featsum %.3f f[:6] %v", j, r[:4], s, r[4:10])
		}
	}
}
