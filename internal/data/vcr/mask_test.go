package vcr

import (
	"encoding/json"
	"os"
	"testing"
)

// TestInstanceMaskSkimage compares PolygonInclusive with masks rasterised by
// scikit-image 0.19.3 (testdata/gen_masks.py): the fixture's four objects and 40 random
// boxes and polygons, a third of them with edges through grid points.
func TestInstanceMaskSkimage(t *testing.T) {
	data, err := os.ReadFile("testdata/masks_skimage019.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Size  int
		Cases []struct {
			Box   [4]float64
			Polys [][]Point
			Mask  []float32
		}
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 44 {
		t.Fatalf("%d cases", len(g.Cases))
	}
	got := make([]float32, g.Size*g.Size)
	nonTrivial := 0
	for i, c := range g.Cases {
		if err := InstanceMask(got, c.Polys, c.Box, g.Size, PolygonInclusive); err != nil {
			t.Fatal(err)
		}
		ones := 0
		for k := range got {
			if got[k] != c.Mask[k] {
				t.Fatalf("case %d: mask[%d,%d] = %v, skimage %v", i, k/g.Size, k%g.Size, got[k], c.Mask[k])
			}
			ones += int(got[k])
		}
		if ones > 0 && ones < len(got) {
			nonTrivial++
		}
	}
	if nonTrivial < 30 {
		t.Errorf("only %d non-trivial masks", nonTrivial)
	}
}

func TestInstanceMaskCrossing(t *testing.T) {
	// A right triangle with legs on the grid: (0,0), (10,0), (0,10) in a 14-grid whose
	// box maps pixels 1:1 (box 0..13). The half-open test keeps points with x+y < 10 on
	// the left/top edges, excludes the hypotenuse and the right/bottom vertices.
	mask := make([]float32, 14*14)
	poly := [][]Point{{{0, 0}, {10, 0}, {0, 10}}}
	if err := InstanceMask(mask, poly, [4]float64{0, 0, 13, 13}, 14, PolygonCrossing); err != nil {
		t.Fatal(err)
	}
	inclusive := make([]float32, 14*14)
	_ = InstanceMask(inclusive, poly, [4]float64{0, 0, 13, 13}, 14, PolygonInclusive)
	for r := range 14 {
		for c := range 14 {
			want := float32(0)
			if r+c < 10 && r < 10 {
				want = 1
			}
			if mask[r*14+c] != want {
				t.Errorf("crossing [%d,%d] = %v, want %v", r, c, mask[r*14+c], want)
			}
			wantIncl := float32(0)
			if r+c <= 10 {
				wantIncl = 1
			}
			if inclusive[r*14+c] != wantIncl {
				t.Errorf("inclusive [%d,%d] = %v, want %v", r, c, inclusive[r*14+c], wantIncl)
			}
		}
	}
	// dst is overwritten, empty polygons are skipped, a degenerate box is an error.
	for i := range mask {
		mask[i] = 7
	}
	if err := InstanceMask(mask, [][]Point{{}}, [4]float64{0, 0, 13, 13}, 14, PolygonCrossing); err != nil {
		t.Fatal(err)
	}
	for _, v := range mask {
		if v != 0 {
			t.Fatal("mask not cleared")
		}
	}
	if err := InstanceMask(mask, poly, [4]float64{5, 0, 3, 13}, 14, PolygonCrossing); err == nil {
		t.Error("box with x2 < x1-1 accepted")
	}
}
