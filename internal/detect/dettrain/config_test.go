package dettrain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedConfig: configs/synth/detector.yaml loads, and it is the
// original network's layout with smaller numbers.
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "configs", "synth", "detector.yaml")
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !IsDetectorConfig(path) {
		t.Fatal("not recognised as a detector config")
	}
	nc := c.NetConfig(5, 7)
	if err := nc.Check(); err != nil {
		t.Fatal(err)
	}
	// Each dropped block has 3 convolutions x (weight, BN mean/var, Scale weight/bias).
	if len(nc.Params()) != len(fullParams())-15*((3+4+23+3)-4) {
		t.Errorf("%d canonical tensors: not the same layers as the full network with one block per stage", len(nc.Params()))
	}
}

// TestLoadConfigErrors: unknown keys and impossible values name the file.
func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"MODULE: BottomUpAttentionDetector\nTRAIN:\n  RPN_BATCH: 3\n", "RPN_BATCH"},
		{"MODULE: BottomUpAttentionDetector\nNETWORK:\n  BLOCKS: [1, 1]\n", "BLOCKS"},
		{"MODULE: ResNetVLBERT\n", "MODULE"},
		{"MODULE: BottomUpAttentionDetector\nTRAIN:\n  BBOX_NORMALIZE_STDS: [0.1, 0.1, 0, 0.2]\n", "STDS"},
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: error %v, want one naming %s and %q", c.yaml, err, p, c.want)
		}
	}
}

func fullParams() []string {
	c := DefaultConfig()
	var names []string
	for _, p := range c.NetConfig(5, 7).Params() {
		names = append(names, p.Name)
	}
	return names
}
