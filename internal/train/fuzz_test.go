package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/weights"
)

// FuzzApplyCheckpoint restores a trainer from corrupted checkpoint contents
// (metadata strings, missing or resized tensors): errors, never panics.
// The file encoding itself is fuzzed in package weights.
func FuzzApplyCheckpoint(f *testing.F) {
	cfg := loadGoldenConfig(f, "vqa_small.yaml")
	m := newGoldenModel(f, cfg, "vqa_ckpt_zip.model")
	tr, err := NewTrainer(cfg, &vqaTask{cfg: cfg}, m, 1)
	if err != nil {
		f.Fatal(err)
	}
	tr.State.Pending = true
	good := filepath.Join(f.TempDir(), "good.safetensors")
	if err := tr.SaveCheckpoint(good); err != nil {
		f.Fatal(err)
	}
	tensors, meta, err := weights.ReadSafetensors(good)
	if err != nil {
		f.Fatal(err)
	}
	var names []string
	for k := range tensors {
		names = append(names, k)
	}
	f.Add(meta["trainer"], meta["groups"], meta["optimizer"], uint16(0), uint16(0), false)
	f.Add(`{"epoch":1,"pending":true}`, `[]`, "adamw", uint16(3), uint16(1), true)
	f.Add(`{"best_val":null}`, `[{"LR":1}]`, "sgd", uint16(7), uint16(0), false)
	f.Fuzz(func(t *testing.T, state, groups, kind string, victim, cut uint16, drop bool) {
		md := map[string]string{"format": ckptFormat, "version": ckptVersion, "trainer": state, "groups": groups, "optimizer": kind}
		ts := make(map[string]*weights.Tensor, len(tensors))
		for k, v := range tensors {
			ts[k] = v
		}
		name := names[int(victim)%len(names)]
		if drop {
			delete(ts, name)
		} else if v := ts[name]; cut > 0 && len(v.F32) > 0 {
			c := *v
			c.F32 = v.F32[:len(v.F32)-min(len(v.F32), int(cut))]
			ts[name] = &c
		}
		err := tr.applyCheckpoint(ts, md, "fuzz")
		if err == nil && (drop && !strings.HasPrefix(name, "trainer.")) {
			t.Errorf("a checkpoint without %s loaded", name)
		}
	})
}
