package train

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/infer"
	"github.com/vlbert/vlbert/internal/weights"
)

// Finding 8: a training checkpoint carries the answer list, so inference
// needs nothing else; a checkpoint without one makes the loader ask for
// --answers instead of opening a path stored in the checkpoint.
func TestCheckpointSelfContained(t *testing.T) {
	dir := t.TempDir()
	res := run(t, context.Background(), tinyConfig(t, "vqa", worldDir, dir), Options{StopAfter: 1})
	tensors, meta, err := weights.ReadSafetensors(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(worldDir, synth.Layout.Answers))
	if err != nil {
		t.Fatal(err)
	}
	p, err := infer.Load(infer.Options{Checkpoint: res.Checkpoint})
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Fields(string(want)); !slices.Equal(p.Answers, lines) {
		t.Fatalf("stored answers %v, the vocabulary file has %v", p.Answers, lines)
	}

	// A crafted checkpoint: no stored list, the config pointing at a file the
	// loader must not open.
	secret := filepath.Join(dir, "secret.txt")
	os.WriteFile(secret, []byte("a\nb\nc\n"), 0o600)
	delete(meta, metaAnswers)
	meta["config"] = strings.Replace(meta["config"], "ANSWER_VOCAB_FILE:", "ANSWER_VOCAB_FILE: "+secret+" #", 1)
	if !strings.Contains(meta["config"], secret) {
		t.Fatalf("the test could not plant the path in the config:\n%s", meta["config"])
	}
	crafted := filepath.Join(dir, "crafted.safetensors")
	if err := weights.WriteSafetensors(crafted, tensors, meta); err != nil {
		t.Fatal(err)
	}
	_, err = infer.Load(infer.Options{Checkpoint: crafted})
	if err == nil || !strings.Contains(err.Error(), "--answers") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("crafted checkpoint: %v", err)
	}
}
