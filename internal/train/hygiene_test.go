package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Finding 3: temporary files left by a kill -9 inside a checkpoint write are
// removed at the next start, which says so; a second live run on the same
// directory is refused.
func TestStaleTempsRemovedAndDirLocked(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".vl-bert-0001.safetensors.tmp-123456", 100)
	write(".vl-bert-latest.safetensors.tmp-99", 7)
	write("vl-bert-best.safetensors.link", 3)
	write("vl-bert-0000.safetensors", 5)
	write(".hidden-user-file", 1)
	var log bytes.Buffer
	unlock, err := prepareOutputDir(dir, filepath.Join(dir, "vl-bert"), &log)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != ".hidden-user-file "+lockName+" vl-bert-0000.safetensors" {
		t.Errorf("left %q", got)
	}
	if n := strings.Count(log.String(), "removed "); n != 3 || !strings.Contains(log.String(), "(100 bytes)") {
		t.Errorf("log:\n%s", log.String())
	}
	if _, err := prepareOutputDir(dir, filepath.Join(dir, "vl-bert"), &log); err == nil || !strings.Contains(err.Error(), "another vlbert train (pid") {
		t.Fatalf("second run on a locked directory: %v", err)
	}
	unlock()
	unlock2, err := prepareOutputDir(dir, filepath.Join(dir, "vl-bert"), &log)
	if err != nil {
		t.Fatalf("after the first run ended: %v", err)
	}
	unlock2()
}

// Finding 4: a corrupt older checkpoint no longer blocks --resume, and a
// corrupt newest one is skipped, with a warning, for the newest that verifies.
func TestResumeSkipsCorruptCheckpoints(t *testing.T) {
	over := []string{"TRAIN.END_EPOCH=3"}
	twoEpochs := func(dir string) (prefix string) {
		cfg := tinyConfig(t, "vqa", worldDir, dir, over...)
		sampler, err := mustTask(t, cfg, "train").Sampler("train")
		if err != nil {
			t.Fatal(err)
		}
		perEpoch, err := sampler.NumBatches(0)
		if err != nil {
			t.Fatal(err)
		}
		run(t, context.Background(), cfg, Options{StopAfter: 2 * perEpoch})
		return cfg.ModelPrefixPath("", cfgName)
	}
	resume := func(dir string) (*Result, string) {
		var log bytes.Buffer
		cfg := tinyConfig(t, "vqa", worldDir, dir, over...)
		res, err := Run(context.Background(), cfg, Options{CfgPath: cfgName, Resume: true, Log: &log})
		if err != nil {
			t.Fatalf("resume: %v\n%s", err, log.String())
		}
		return res, log.String()
	}

	t.Run("older truncated", func(t *testing.T) {
		dir := t.TempDir()
		prefix := twoEpochs(dir)
		p := epochCheckpoint(prefix, 0)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
		res, log := resume(dir)
		if !strings.Contains(log, "resumed from "+epochCheckpoint(prefix, 1)) || res.State.Epoch != 3 {
			t.Fatalf("want a resume from epoch 1 to the end, got %+v\n%s", res.State, log)
		}
	})
	t.Run("newest flipped", func(t *testing.T) {
		dir := t.TempDir()
		prefix := twoEpochs(dir)
		p := epochCheckpoint(prefix, 1)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-100] ^= 0x10
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		res, log := resume(dir)
		if !strings.Contains(log, "warning: skipping "+p) || !strings.Contains(log, "SHA-256") ||
			!strings.Contains(log, "resumed from "+epochCheckpoint(prefix, 0)) || res.State.Epoch != 3 {
			t.Fatalf("want a warning for epoch 1 and a resume from epoch 0, got %+v\n%s", res.State, log)
		}
	})
}
