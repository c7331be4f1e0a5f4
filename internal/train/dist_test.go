package train

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/vlbert/vlbert/internal/dist"
)

// TestDistGoldenStep: two ranks stepping on the same golden batch average
// identical gradients, so each must reproduce the single-process golden
// update (vqa_step2, resumed with its AdamW state) bit for bit.
func TestDistGoldenStep(t *testing.T) {
	single := goldenStep2Trainer(t, dist.Single{})
	if _, err := stepNoDropout(single, goldenVQABatch(t)); err != nil {
		t.Fatal(err)
	}
	comms := dist.LocalGroup(2)
	trs := []*Trainer{goldenStep2Trainer(t, comms[0]), goldenStep2Trainer(t, comms[1])}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for r := range trs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[r] = stepNoDropout(trs[r], goldenVQABatch(t))
		}()
	}
	wg.Wait()
	for r, tr := range trs {
		if errs[r] != nil {
			t.Fatal(errs[r])
		}
		if !slices.EqualFunc(tr.Model.Params.Data, single.Model.Params.Data, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Errorf("rank %d: parameters differ from the single-process step", r)
		}
	}
}

func goldenStep2Trainer(t *testing.T, c dist.Comm) *Trainer {
	t.Helper()
	cfg := loadGoldenConfig(t, "vqa_small.yaml")
	m := newGoldenModel(t, cfg, "vqa_ckpt_zip.model")
	tr, err := newTrainer(cfg, &vqaTask{cfg: cfg}, m, 1, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.loadTorchResume(candidate{path: goldenDir + "vqa_ckpt_zip.model", torch: true}, 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.resetSchedule(); err != nil {
		t.Fatal(err)
	}
	// The resumed AdamW groups carry the checkpoint's lr, as in the original.
	return tr
}

// TestDistRun trains with two in-process ranks: rank 0 alone writes the
// output, both ranks agree on every result, an interrupt seen by one rank
// stops both at the same batch (a collective decision) with a checkpoint,
// and resuming the job gives the straight job's weights bit for bit.
func TestDistRun(t *testing.T) {
	runJob := func(out string, opts func(r int) (context.Context, Options)) []*Result {
		comms := dist.LocalGroup(2)
		res := make([]*Result, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for r := range comms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := tinyConfig(t, "vqa", worldDir, out, "TRAIN.BATCH_IMAGES=4")
				ctx, o := opts(r)
				o.CfgPath, o.Comm = cfgName, comms[r]
				res[r], errs[r] = Run(ctx, cfg, o)
			}()
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
		}
		if res[0].State != res[1].State || res[0].Val["SoftAcc"] != res[1].Val["SoftAcc"] || res[0].Interrupted != res[1].Interrupted {
			t.Fatalf("ranks disagree: %+v / %+v, val %v / %v", res[0].State, res[1].State, res[0].Val, res[1].Val)
		}
		return res
	}
	plain := func(int) (context.Context, Options) { return context.Background(), Options{} }

	straightDir, dir := t.TempDir(), t.TempDir()
	straight := runJob(straightDir, plain)
	// 72 questions over 2 ranks of 4: 9 batches per epoch on each rank.
	if straight[0].State.Global != 18 || straight[0].Interrupted {
		t.Fatalf("straight job ended at %+v", straight[0].State)
	}
	files, _ := filepath.Glob(filepath.Join(straightDir, "synth", "train2014_train", "*"))
	if len(files) == 0 {
		t.Fatal("rank 0 wrote nothing")
	}

	first := runJob(dir, func(r int) (context.Context, Options) {
		if r == 0 {
			return context.Background(), Options{}
		}
		ctx, cancel := context.WithCancel(context.Background())
		return ctx, Options{OnBatch: func(s State) { // only rank 1 is interrupted
			if s.Global == 3 {
				cancel()
			}
		}}
	})
	if !first[0].Interrupted || first[0].State.Global != 3 {
		t.Fatalf("interrupted job: %+v interrupted %v, want a stop at 3", first[0].State, first[0].Interrupted)
	}
	resumed := runJob(dir, func(int) (context.Context, Options) { return context.Background(), Options{Resume: true} })
	sameCheckpoint(t, straight[0].Checkpoint, resumed[0].Checkpoint)
}
