package train

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Finding 5: resuming under a config that changes the arithmetic is refused,
// naming each setting; --resume-anyway logs them and continues; harmless
// changes are notes.
func TestResumeChecksConfig(t *testing.T) {
	dir := t.TempDir()
	base := []string{"TRAIN.END_EPOCH=2", "TRAIN.LR_SCHEDULE=triangle"}
	first := run(t, context.Background(), tinyConfig(t, "vqa", worldDir, dir, base...), Options{StopAfter: 1})
	if !first.Interrupted {
		t.Fatal("the first run was not stopped")
	}
	changed := append(append([]string{}, base...), "TRAIN.END_EPOCH=3", "TRAIN.BATCH_IMAGES=4", "TRAIN.LR=1e-3", "LOG_FREQUENT=7")
	var log bytes.Buffer
	_, err := Run(context.Background(), tinyConfig(t, "vqa", worldDir, dir, changed...), Options{CfgPath: cfgName, Resume: true, Log: &log, StopAfter: 2})
	if err == nil {
		t.Fatal("a resume with a new learning rate, batch size and END_EPOCH (triangle schedule) was accepted")
	}
	for _, want := range []string{"TRAIN.LR: 0.00025 -> 0.001", "TRAIN.BATCH_IMAGES: 8 -> 4", "TRAIN.END_EPOCH: 2 -> 3", "--resume-anyway"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "LOG_FREQUENT") {
		t.Errorf("a logging setting was refused:\n%v", err)
	}

	log.Reset()
	res, err := Run(context.Background(), tinyConfig(t, "vqa", worldDir, dir, changed...), Options{CfgPath: cfgName, Resume: true, ResumeAnyway: true, Log: &log, StopAfter: 2})
	if err != nil {
		t.Fatalf("--resume-anyway: %v", err)
	}
	if res.State.Global != 2 {
		t.Errorf("resumed to %d batches, want 2", res.State.Global)
	}
	for _, want := range []string{"warning: --resume-anyway: TRAIN.LR was 0.00025", "warning: --resume-anyway: TRAIN.BATCH_IMAGES was 8", "note: LOG_FREQUENT was 5"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// END_EPOCH matters only to schedules that span the run.
func TestEndEpochArithmeticBySchedule(t *testing.T) {
	cfg := tinyConfig(t, "vqa", worldDir, t.TempDir())
	for sched, want := range map[string]bool{"triangle": true, "step": false, "plateau": false} {
		cfg.Train.LRSchedule = sched
		if got := changesArithmetic("TRAIN.END_EPOCH", cfg); got != want {
			t.Errorf("%s: END_EPOCH changes the arithmetic = %v, want %v", sched, got, want)
		}
	}
	for key, want := range map[string]bool{"RNG_SEED": true, "NETWORK.VLBERT.hidden_size": true, "TRAIN.WD": true, "DATASET.0.SEQ_LEN": true,
		"DATASET.1.DATASET_PATH": false, "VAL.BATCH_IMAGES": false, "TRAIN.RESUME": false, "NUM_WORKERS_PER_GPU": false} {
		if got := changesArithmetic(key, cfg); got != want {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
}
