package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// Blocks slices the four blocks and min-max rescales each per layer over heads.
func TestBlocksRescalePerLayer(t *testing.T) {
	const layers, heads, L, nt, nr = 2, 2, 5, 2, 2 // positions: t0 t1 r0 r1 END
	probs := make([]float32, layers*heads*L*L)
	for i := range probs {
		probs[i] = float32(i%7) + float32(i/(heads*L*L))*10 // layer 1 is layer 0 shifted by 10
	}
	blocks, shapes := Blocks(probs, layers, heads, L, nt, nr)
	if shapes != [4][2]int{{2, 2}, {2, 2}, {2, 2}, {2, 2}} {
		t.Fatalf("shapes %v", shapes)
	}
	at := func(l, h, r, c int) float32 { return probs[((l*heads+h)*L+r)*L+c] }
	spans := [2]int{0, nt}
	for b := 0; b < 4; b++ {
		for l := 0; l < layers; l++ {
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for h := 0; h < heads; h++ {
				for i := 0; i < 2; i++ {
					for j := 0; j < 2; j++ {
						v := at(l, h, spans[b/2]+i, spans[b%2]+j)
						lo, hi = min(lo, v), max(hi, v)
					}
				}
			}
			for h := 0; h < heads; h++ {
				for i := 0; i < 2; i++ {
					for j := 0; j < 2; j++ {
						want := (at(l, h, spans[b/2]+i, spans[b%2]+j) - lo) / (hi - lo)
						got := blocks[b][((l*heads+h)*2+i)*2+j]
						if math.Abs(float64(got-want)) > 1e-6 {
							t.Fatalf("block %d layer %d head %d [%d,%d]: %g want %g", b, l, h, i, j, got, want)
						}
					}
				}
			}
		}
	}
	// A constant block becomes 0, not NaN.
	flat := make([]float32, layers*heads*L*L)
	blocks, _ = Blocks(flat, layers, heads, L, nt, nr)
	for _, v := range blocks[0] {
		if v != 0 {
			t.Fatal("constant block not 0")
		}
	}
}

func TestAttentionHTMLIsSelfContainedAndEscaped(t *testing.T) {
	const layers, heads = 2, 3
	tokens := []string{"[CLS]", "</script><b>x", "[SEP]", "[IMG]", "1", "2", "[END]"}
	L := len(tokens)
	probs := make([]float32, layers*heads*L*L)
	for i := range probs {
		probs[i] = 1 / float32(L)
	}
	var buf bytes.Buffer
	err := WriteAttentionHTML(&buf, &AttentionPage{Title: "t <i>", Layers: layers, Heads: heads, L: L, Probs: probs, Tokens: tokens,
		NumText: 3, NumRegions: 3, ImageBox: true, ImageW: 20, ImageH: 10, Boxes: []float32{0, 0, 5, 5, 4, 4, 9, 9},
		Image: Heatmap([]float32{0, 0.5, 1, 0.25}, 2, 2, 5)})
	if err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if strings.Contains(s, "</script><b>") || strings.Contains(s, "t <i>") {
		t.Fatal("token or title not escaped")
	}
	if strings.Count(s, "<script") != 1 || strings.Contains(s, "src=") || strings.Contains(s, "<link") {
		t.Fatal("page loads something from outside")
	}
	if !strings.Contains(s, "data:image/png;base64,") || !strings.Contains(s, `"NumText":3`) {
		t.Fatal("image or data missing")
	}
	if err := WriteAttentionHTML(&buf, &AttentionPage{Layers: 1, Heads: 1, L: 2, Tokens: []string{"a"}}); err == nil {
		t.Fatal("token count mismatch accepted")
	}
}

func TestHeatmapColours(t *testing.T) {
	img := Heatmap([]float32{0, 1, -3, 7}, 2, 2, 3)
	if img.Bounds().Dx() != 6 || img.Bounds().Dy() != 6 {
		t.Fatalf("size %v", img.Bounds())
	}
	if img.RGBAAt(0, 0) != Blues(0) || img.RGBAAt(5, 0) != Blues(1) || img.RGBAAt(0, 5) != Blues(0) || img.RGBAAt(5, 5) != Blues(1) {
		t.Fatal("colours or clamping wrong")
	}
	if Blues(0).R != 247 || Blues(1).B != 107 {
		t.Fatal("ramp ends moved; the page's JavaScript uses the same ones")
	}
}
