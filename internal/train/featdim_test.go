package train

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/model"
)

// narrowFeatures keeps the first dim values of every region feature (and of
// image_box_feature) of the synthetic world's files: a detector with a
// narrower pool5 than bottom-up's 2048, as NETWORK.IMAGE_FEAT_DIM allows.
type narrowFeatures struct {
	features.Reader
	dim int
}

func (n narrowFeatures) ReadFile(path string) ([]byte, error) {
	b, err := n.Reader.ReadFile(path)
	if err != nil {
		return b, err
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	for _, key := range []string{"features", "image_box_feature"} {
		s, ok := rec[key].(string)
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		rows := 1
		if key == "features" {
			rows = int(rec["num_boxes"].(float64))
		}
		if rows == 0 || len(raw)%(4*rows) != 0 || len(raw)/(4*rows) < n.dim {
			return nil, fmt.Errorf("%s: %s: %d bytes for %d rows", path, key, len(raw), rows)
		}
		w := len(raw) / rows
		out := make([]byte, 0, rows*n.dim*4)
		for r := 0; r < rows; r++ {
			out = append(out, raw[r*w:r*w+n.dim*4]...)
		}
		rec[key] = base64.StdEncoding.EncodeToString(out)
	}
	return json.Marshal(rec)
}

// TestVQAFeatDim256 trains VQA on 256-d region features (the synthetic
// detector's pool5 width) with NETWORK.IMAGE_FEAT_DIM=256: the loss falls.
// The same files under the default 2048 fail with an error naming a file, the
// width and the key, and the 256-d checkpoint does not load into a 2048-d
// model: that error names the width the checkpoint implies.
func TestVQAFeatDim256(t *testing.T) {
	old := wrapFeatures
	defer func() { wrapFeatures = old }()
	wrapFeatures = func(r features.Reader) features.Reader { return narrowFeatures{old(r), 256} }

	_, err := Run(context.Background(), tinyConfig(t, "vqa", worldDir, t.TempDir(), "TRAIN.END_EPOCH=1"), Options{CfgPath: cfgName})
	if err == nil {
		t.Fatal("256-d features trained a 2048-d model")
	}
	for _, s := range []string{".json", "256-d", "NETWORK.IMAGE_FEAT_DIM"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}

	res := checkLearns(t, "vqa", 2, "NETWORK.IMAGE_FEAT_DIM=256")
	mc, err := model.FromConfig(tinyConfig(t, "vqa", worldDir, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	err = LoadWeights(m.Base(), res.Checkpoint)
	if err == nil || !strings.Contains(err.Error(), "NETWORK.IMAGE_FEAT_DIM=256") {
		t.Errorf("256-d checkpoint into a 2048-d model: %v", err)
	}
}

// TestE2EFeatDimMismatch: end to end, the RoI head's width must be the
// config's NETWORK.IMAGE_FEAT_DIM.
func TestE2EFeatDimMismatch(t *testing.T) {
	if _, err := visualConfig(tinyE2E(t, "vqa", t.TempDir())); err != nil {
		t.Fatal(err)
	}
	_, err := visualConfig(tinyE2E(t, "vqa", t.TempDir(), "NETWORK.IMAGE_FEAT_DIM=256"))
	if err == nil || !strings.Contains(err.Error(), "NETWORK.IMAGE_FEAT_DIM") {
		t.Errorf("RoI head of 2048 for IMAGE_FEAT_DIM 256: %v", err)
	}
}
