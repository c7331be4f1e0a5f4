package train

import (
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/config"
)

// The attention-map module is forward only: training it points at visualize.
func TestAttentionVisNotTrained(t *testing.T) {
	cfg, err := config.Load("../config/testdata/cfgs/pretrain/vis_attention_maps_coco.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = newPretrainTask(cfg, false, nil, nil, []string{"train"})
	if err == nil || !strings.Contains(err.Error(), "vlbert visualize") {
		t.Fatalf("error %v", err)
	}
}
