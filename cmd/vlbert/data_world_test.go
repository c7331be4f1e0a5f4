package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vlbert/vlbert/internal/data/synth"
	"github.com/vlbert/vlbert/internal/demo"
)

// TestDataWorld: `vlbert data world --quick` writes the quick demo's world
// with its detection set, keeps it when run again, and refuses to replace a
// directory that is not a world.
func TestDataWorld(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"data", "world", "--quick", "--out", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !synth.IsComplete(dir, demo.QuickPlan().World) {
		t.Fatal("the quick world is not complete")
	}
	for _, f := range []string{"instances_train.json", "instances_val.json"} {
		if _, err := os.Stat(filepath.Join(dir, synth.Layout.Detection, f)); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"data", "world", "--quick", "--out", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "already holds") {
		t.Errorf("second run: exit %d, %q", code, stdout.String())
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"data", "world", "--quick", "--out", other}, &stdout, &stderr); code == 0 {
		t.Error("data world replaced a directory that is not a world")
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Errorf("the other directory's file is gone: %v", err)
	}
}
