package weights

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTorchNested(t *testing.T) {
	sd := pyODict{
		{"backbone.stem.conv1.weight", contiguous(f32Storage("0", 1, 2, 3, 4), 2, 2)},
		{"roi_heads.box_predictor.cls_score.bias", contiguous(f32Storage("1", 5, 6), 2)},
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, obj := range map[string]any{
		"detectron2.pth": pyDict{{"model", sd}, {"iteration", 3}}, // detectron2 Checkpointer.save
		"bare.pth":       sd,
	} {
		for _, legacy := range []bool{true, false} {
			var data []byte
			if legacy {
				data = legacyFile(obj)
			} else {
				data = zipFile(t, obj, "archive")
			}
			ck, err := ReadTorchNested(write(name, data), "model", "state_dict")
			if err != nil {
				t.Fatalf("%s legacy=%v: %v", name, legacy, err)
			}
			w := ck.StateDict["backbone.stem.conv1.weight"]
			if len(ck.Keys) != 2 || w == nil || !w.Equal(NewF32([]float32{1, 2, 3, 4}, 2, 2)) {
				t.Errorf("%s legacy=%v: keys %v", name, legacy, ck.Keys)
			}
		}
	}
	p := write("empty.pth", legacyFile(pyDict{{"model", pyDict{}}, {"iteration", 3}}))
	if _, err := ReadTorchNested(p, "model"); err == nil || !strings.Contains(err.Error(), "empty.pth") || !strings.Contains(err.Error(), "no tensors") {
		t.Errorf("no tensors: %v", err)
	}
	p = write("list.pth", legacyFile(pyList{1, 2}))
	if _, err := ReadTorchNested(p, "model"); err == nil || !strings.Contains(err.Error(), "not a dict") {
		t.Errorf("list: %v", err)
	}
	if _, err := ReadTorchNested(dir, "model"); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
}
