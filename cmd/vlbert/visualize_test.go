package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/npy"
)

func TestVisualizeCommand(t *testing.T) {
	dir, ckpt, feats, png, sc := inferFixture(t)
	out := filepath.Join(dir, "att.html")
	var stdout bytes.Buffer
	o := visualizeOptions{inferFlags: inferFlags{ckpt: ckpt, features: feats, image: png, maxRegions: 100, maxTokens: 64},
		text: "what color is the circle?", out: out}
	if err := runVisualize(context.Background(), o, &stdout); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, want := range []string{"<canvas", "data:image/png;base64,", `id="layer"`, `"[IMG]"`, `"[END]"`, `"[MASK]"`, "text → region"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script src", "<link", "@import", "https://", "http://cdn"} {
		if strings.Contains(s, bad) {
			t.Errorf("page is not self-contained: has %q", bad)
		}
	}
	arr, err := npy.ReadFile(filepath.Join(dir, "att.npy"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(sc.Boxes)
	L := 1 + 6 + 3 + 1 + n + 1 // [CLS] 6 wordpieces [SEP] [MASK] [SEP], [IMG], boxes, [END]
	if len(arr.Shape) != 4 || arr.Shape[0] != 2 || arr.Shape[1] != 2 || arr.Shape[2] != L || arr.Shape[3] != L {
		t.Fatalf("npy shape %v, want [2 2 %d %d]", arr.Shape, L, L)
	}
	// An image whose size differs from the features' is refused.
	o.image = filepath.Join(dir, "other.png")
	os.WriteFile(o.image, mustPNG(t, 10, 10), 0o644)
	if err := runVisualize(context.Background(), o, &stdout); err == nil || !strings.Contains(err.Error(), "10x10") {
		t.Fatalf("mismatched image: %v", err)
	}
}
