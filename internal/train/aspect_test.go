package train

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/data/vqa"
	"github.com/vlbert/vlbert/internal/dist"
)

// TestAspectGroupingTasks: TRAIN.ASPECT_GROUPING gives every task's train
// sampler one group id per sample (the tiny world's images are square:
// group 0), never the val sampler's, and nothing when it is off.
func TestAspectGroupingTasks(t *testing.T) {
	for _, name := range []string{"vqa", "ground", "vcr", "pretrain"} {
		for _, on := range []bool{true, false} {
			set := "TRAIN.ASPECT_GROUPING=" + strconv.FormatBool(on)
			var tk Task
			var err error
			if name == "vcr" {
				tk, err = NewTask(vcrConfig(t, t.TempDir(), set), "train", "val")
			} else {
				tk, err = NewTask(tinyConfig(t, name, worldDir, t.TempDir(), set), "train", "val")
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			train, err := tk.Sampler("train")
			if err != nil {
				t.Fatal(err)
			}
			val, err := tk.Sampler("val")
			if err != nil {
				t.Fatal(err)
			}
			tk.Close()
			if val.Groups != nil {
				t.Errorf("%s: the val sampler is grouped", name)
			}
			if !on {
				if train.Groups != nil {
					t.Errorf("%s: grouped with ASPECT_GROUPING false", name)
				}
				continue
			}
			if len(train.Groups) != train.N || train.N == 0 || slices.ContainsFunc(train.Groups, func(g int) bool { return g != 0 }) {
				t.Errorf("%s: %d groups for %d samples, want all 0 (square images): %v", name, len(train.Groups), train.N, train.Groups)
			}
		}
	}
}

// tallWorld copies the tiny world, making the images with an even id twice
// as tall as wide in their COCO image info (where VQA reads image sizes) and
// feature files.
func tallWorld(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	err := filepath.WalkDir(worldDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(worldDir, path)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if filepath.Dir(rel) == filepath.FromSlash(synth.Layout.Features) {
			id, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".json"))
			if id%2 == 0 {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					return err
				}
				m["image_h"] = 2 * m["image_w"].(float64)
				if b, err = json.Marshal(m); err != nil {
					return err
				}
			}
		}
		if filepath.Dir(rel) == synth.Layout.COCOAnnotations { // where VQA reads the sizes
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return err
			}
			for _, im := range m["images"].([]any) {
				im := im.(map[string]any)
				if int(im["id"].(float64))%2 == 0 {
					im["height"] = 2 * im["width"].(float64)
				}
			}
			if b, err = json.Marshal(m); err != nil {
				return err
			}
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestAspectGroupingRanks: VQA with ASPECT_GROUPING under two ranks: every
// batch holds one aspect group (the image sizes of the COCO image info), the
// ranks' batches partition each epoch, and a two-rank job trains its epoch
// with both ranks in step.
func TestAspectGroupingRanks(t *testing.T) {
	dir := tallWorld(t)
	const world = 2
	sets := []string{"TRAIN.ASPECT_GROUPING=true", "TRAIN.BATCH_IMAGES=4", "TRAIN.END_EPOCH=1"}
	for epoch := range 3 {
		var union, perRank []int
		var entries []vqa.Entry
		for r := range world {
			tk, err := NewTask(tinyConfig(t, "vqa", dir, t.TempDir(), sets...), "train")
			if err != nil {
				t.Fatal(err)
			}
			tk.setShard(r, world)
			s, err := tk.Sampler("train")
			if err != nil {
				t.Fatal(err)
			}
			entries = tk.(*vqaTask).sets["train"].Entries
			tk.Close()
			batches, err := s.Batches(epoch)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range batches {
				for _, i := range b {
					if tall := entries[i].ImageID%2 == 0; s.Groups[i] != map[bool]int{true: 1}[tall] {
						t.Fatalf("question %d (image %d): group %d", i, entries[i].ImageID, s.Groups[i])
					}
					if s.Groups[i] != s.Groups[b[0]] {
						t.Fatalf("epoch %d rank %d: mixed batch %v", epoch, r, b)
					}
				}
				union = append(union, b...)
			}
			perRank = append(perRank, len(batches))
		}
		if perRank[0] != perRank[1] {
			t.Errorf("epoch %d: ranks take %v steps", epoch, perRank)
		}
		// Every question once; with an odd count the padding repeats one
		// (on another rank, so it is not deduplicated).
		slices.Sort(union)
		distinct := slices.Compact(slices.Clone(union))
		if len(distinct) != len(entries) || distinct[len(distinct)-1] != len(entries)-1 || len(union) != (len(entries)+world-1)/world*world {
			t.Fatalf("epoch %d: the ranks' batches hold %d indices, %d distinct, for %d questions", epoch, len(union), len(distinct), len(entries))
		}
	}

	tk, err := NewTask(tinyConfig(t, "vqa", dir, t.TempDir(), sets...), "train")
	if err != nil {
		t.Fatal(err)
	}
	tk.setShard(0, world)
	s, _ := tk.Sampler("train")
	want, err := s.NumBatches(0)
	tk.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	comms := dist.LocalGroup(world)
	res := make([]*Result, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := tinyConfig(t, "vqa", dir, out, sets...)
			res[r], errs[r] = Run(context.Background(), cfg, Options{CfgPath: cfgName, Comm: comms[r]})
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if res[0].State != res[1].State || res[0].State.Global != want {
		t.Errorf("ranks ended at %+v / %+v, want %d batches", res[0].State, res[1].State, want)
	}
}
