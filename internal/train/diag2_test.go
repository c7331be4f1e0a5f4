package train

import (
	"os"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
)

func TestDiagFeatureSeparability(t *testing.T) {
	if os.Getenv("VLBERT_DIAG") == "" {
		t.Skip()
	}
	w, err := synth.Generate(synth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	type ex struct {
		f          []float32
		color, shp int
	}
	collect := func(sc []synth.Scene, n int) []ex {
		var out []ex
		for _, s := range sc[:min(n, len(sc))] {
			img := synth.Render(s)
			for _, o := range s.Objects {
				out = append(out, ex{synth.RegionFeature(img, o.Box), o.Color, o.Shape})
			}
		}
		return out
	}
	tr, va := collect(w.Train, 400), collect(w.Val, 200)
	for _, which := range []string{"color", "shape"} {
		lab := func(e ex) int {
			if which == "color" {
				return e.color
			}
			return e.shp
		}
		K := 0
		for _, e := range tr {
			K = max(K, lab(e)+1)
		}
		D := len(tr[0].f)
		cent := make([][]float64, K)
		cnt := make([]int, K)
		for k := range cent {
			cent[k] = make([]float64, D)
		}
		for _, e := range tr {
			for i, v := range e.f {
				cent[lab(e)][i] += float64(v)
			}
			cnt[lab(e)]++
		}
		for k := range cent {
			for i := range cent[k] {
				cent[k][i] /= float64(max(cnt[k], 1))
			}
		}
		ok := 0
		for _, e := range va {
			best, bd := 0, 1e300
			for k := range cent {
				d := 0.0
				for i, v := range e.f {
					x := float64(v) - cent[k][i]
					d += x * x
				}
				if d < bd {
					best, bd = k, d
				}
			}
			if best == lab(e) {
				ok++
			}
		}
		t.Logf("%s: nearest-centroid val accuracy %.3f over %d objects, %d classes", which, float64(ok)/float64(len(va)), len(va), K)
	}
}
